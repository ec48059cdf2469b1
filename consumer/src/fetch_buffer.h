// Fetched data waiting for poll(): the hand-over between the consumer's I/O thread (which
// pushes) and the thread that calls poll() (which pops).
//
// Bound: bytes_max (fetch.max.bytes) of record data. The fetcher does not fetch while the buffer
// holds that much; the poll side tells it (through `on_room`) when it has room again.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>

#include "sluice/consumer/consumer.h"
#include "sluice/protocol/record_batch.h"

namespace sluice::detail {

// One partition's part of a fetch answer, or an error for that partition.
struct completed_fetch {
    topic_partition tp;
    uint64_t generation = 0;              // the partition's seek generation the fetch was made for
    std::error_code error;                // set: deliver this error, no records
    std::shared_ptr<std::byte[]> buffer;  // keeps the answer's frame (and `records`) alive
    bytes_view records;                   // whole batches, back to back
    // The leader's log no longer holds what was fetched from this offset on (KIP-320: a
    // divergence after an unclean election): positions beyond it move back to it. -1: none.
    int64_t truncated_to = -1;
};

class fetch_buffer {
  public:
    fetch_buffer(size_t bytes_max, std::function<void()> on_room)
        : bytes_max_(bytes_max), on_room_(std::move(on_room)) {}

    // ---- I/O thread ----
    void push(completed_fetch f);
    // True if full; then the fetcher waits for `on_room`.
    bool full_mark_waiting();

    // ---- poll thread ----
    // The oldest fetch, waiting until `deadline` for one.
    std::optional<completed_fetch> pop(std::chrono::steady_clock::time_point deadline);
    // `bytes` of popped fetches are consumed; calls on_room once the buffer drops below its
    // bound while the fetcher waits.
    void release(size_t bytes);
    // Drops everything (close, reassignment); wakes a waiting pop.
    void clear();
    // Any thread: a waiting pop (or the next one) returns at once, empty-handed (the group has
    // news for poll()).
    void wake();

  private:
    const size_t bytes_max_;
    const std::function<void()> on_room_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<completed_fetch> fetches_;
    size_t bytes_ = 0;  // records bytes pushed and not yet released
    bool fetcher_waiting_ = false;
    bool woken_ = false;
};

}  // namespace sluice::detail
