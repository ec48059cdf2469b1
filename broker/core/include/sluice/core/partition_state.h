// The bookkeeping of one partition's high watermark, as a pure state machine: the partition (an
// I/O shell around a partition_log, on its strand) feeds it events and it decides when the high
// watermark moves, which acknowledgements complete and which waiting fetches wake.
//
// On one broker the high watermark is the log end offset, reached:
//   - page-cache mode: as soon as an append returns;
//   - fsync mode: when the group-commit fsync covering the append completes. Consumers then never
//     see a record that a machine crash could take back, and acks=1 and acks=-1 both wait for it.
// With replication the same machine will take follower positions as further inputs.
//
// Threading: not thread-safe; the owner calls it from the partition's strand only. Callbacks run
// inside these calls and must not call back into the same object (they post elsewhere).
// Bounds: at most one durability request is in flight; ack waiters are bounded by the requests
// in flight over all connections, fetch waiters by the fetches in flight (one per connection).
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "sluice/protocol/errc.h"
#include "sluice/protocol/types.h"

namespace sluice::broker {

// Something waiting for new data in a partition (a long-polling fetch). Implementations are
// thread-safe: wake() is called from the partition's strand, the waiter lives elsewhere.
class wakeup {
  public:
    virtual ~wakeup() = default;
    virtual void wake() = 0;
    // True once waking is pointless (already woken, or the fetch finished): it may be dropped.
    virtual bool done() const = 0;
};

class partition_state {
  public:
    // Completion of an acknowledgement wait: errc::none, or why it will never complete.
    using ack_callback = std::function<void(errc)>;

    partition_state(offset_t log_end, bool fsync_mode);

    offset_t high_watermark() const { return hw_; }
    offset_t log_end() const { return end_; }
    bool fsync_mode() const { return fsync_; }

    // An append succeeded and the log now ends at `end`.
    void appended(offset_t end);

    // Fsync mode: the offset to ask durability for now (everything below it), if something is
    // not yet durable and no request is in flight; marks a request in flight.
    std::optional<offset_t> take_durable_request();
    // The request for everything below `end` completed.
    void durable(offset_t end);
    // The request failed: its appends are not known durable. Every ack waiter fails with `e`,
    // and so does every later wait beyond the high watermark: the log has failed (storage
    // refuses appends until it is reopened), so no further durability request is made.
    void durable_failed(errc e);

    // Calls `done(errc::none)` once the high watermark reaches `target` (at once if it has).
    void wait_for_hw(offset_t target, ack_callback done);

    // Registers a fetch waiter, woken (once) when the high watermark next moves.
    void add_waiter(std::shared_ptr<wakeup> w);

    // The partition closes or is deleted: every ack waiter fails with `e`, every fetch waiter
    // wakes (it then finds the partition gone).
    void abort_all(errc e);

    size_t ack_waiters() const { return acks_.size(); }
    size_t fetch_waiters() const { return waiters_.size(); }

  private:
    void advance_hw(offset_t to);
    void fail_acks(errc e);

    offset_t hw_;
    offset_t end_;
    bool fsync_;
    bool durable_in_flight_ = false;
    errc durable_error_ = errc::none;  // set once a durability request failed
    std::deque<std::pair<offset_t, ack_callback>> acks_;
    std::vector<std::shared_ptr<wakeup>> waiters_;
    // add_waiter drops finished waiters when the list reaches this size, then doubles it.
    size_t prune_at_ = waiters_prune_min;
    static constexpr size_t waiters_prune_min = 16;
};

}  // namespace sluice::broker
