// The record accumulator: per-partition queues of batches that send() fills and the sender
// drains.
//
// Thread safety: one mutex guards everything here. User threads call append() (short critical
// section: pick the partition, encode the record into the open batch); the producer's I/O thread
// calls drain(), requeue(), release() and apply_metadata(). Batches that drain() hands out belong
// to the I/O thread until they come back through requeue() or complete through release().
//
// Bounds: buffer.memory caps the encoded bytes of all incomplete records (append waits, then
// fails with buffer_exhausted); batch.size caps a batch unless one record alone is larger;
// max.request.size caps a request.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "sluice/client/internal/cluster.h"
#include "sluice/producer/producer.h"
#include "sluice/protocol/record_batch.h"

namespace sluice::detail {

using steady = std::chrono::steady_clock;

// What a record keeps until it completes: its callback and timestamp. No copy of its bytes:
// those were encoded into the batch.
struct record_thunk {
    producer::callback cb;
    int64_t timestamp_ms;
};

struct producer_batch {
    std::string_view topic;  // the topic_state's name; lives as long as the accumulator
    int32_t partition = 0;
    uint64_t sequence = 0;         // creation order within the partition; retries requeue by it
    uint64_t generation = 0;       // flush generation (see accumulator::begin_flush)
    batch_builder builder;         // while the batch is taking records
    std::vector<std::byte> bytes;  // the finished batch, once the sender took it
    std::vector<record_thunk> thunks;
    steady::time_point created;
    steady::time_point retry_at{};
    int attempts = 0;
    int64_t memory_bytes = 0;
    bool closed = false;  // takes no more records
    // Idempotence: the producer epoch and first sequence stamped into the batch when it was
    // first drained (again after an epoch bump), and whether an attempt is out now.
    bool stamped = false;
    producer_epoch_t epoch{-1};
    sequence_t base_sequence{-1};
    bool in_flight = false;
    // An attempt ended without an answer: that attempt may have written it.
    bool maybe_written = false;
    // Conditional append: the log end offset the batch (one record) expects; -1: none. Its
    // record's callback, when sent with send_conditional (then its thunk's is empty), and the
    // partition's end that a CONFLICT answer gave.
    int64_t expected_end = -1;
    producer::conditional_callback on_conditional;
    int64_t conflict_end = -1;

    explicit producer_batch(batch_builder::options o) : builder(o) {}
    // Finishes the builder once; the bytes are resent unchanged on a retry.
    void finish() {
        if (bytes.empty()) {
            bytes = builder.finish();
        }
    }
};

// How a batch that drain() handed out ended (release).
enum class batch_end {
    written,  // acknowledged: the leader holds it
    refused,  // the leader answered an error that appends nothing (CONFLICT, too large, ...)
    unknown,  // no answer before its time ran out: it may or may not have been written
};

// A request's worth of batches for one broker: at most one batch per partition.
struct drained_request {
    int32_t node = -1;
    size_t bytes = 0;
    std::vector<std::unique_ptr<producer_batch>> batches;
};

struct drain_result {
    std::vector<drained_request> requests;
    std::vector<std::unique_ptr<producer_batch>> expired;  // delivery.timeout.ms passed in queue
    steady::time_point next_run = steady::time_point::max();
    bool need_metadata = false;     // some partition with data has no known leader
    bool need_producer_id = false;  // idempotent batches wait for InitProducerId
    // Batches that can never be sent (producer_id_failed), and why.
    std::vector<std::unique_ptr<producer_batch>> failed;
    std::error_code failure;
    // Batches known written because a later batch of their partition was, found queued when its
    // epoch was bumped: they complete without offsets (never sent again in the new epoch).
    std::vector<std::unique_ptr<producer_batch>> settled;
};

class accumulator {
  public:
    struct options {
        size_t batch_size = 16384;
        std::chrono::milliseconds linger{5};
        int64_t buffer_memory = 32 << 20;
        std::chrono::milliseconds delivery_timeout{120000};
        size_t max_request_size = 1 << 20;
        std::chrono::milliseconds retry_backoff{100};
        // enable.idempotence: batches carry the producer id, a per-partition epoch and
        // sequences (see drain).
        bool idempotent = false;
    };

    // `wake` asks the I/O thread to run the sender; called without the lock held, and only when
    // no run is pending already.
    accumulator(options o, std::function<void()> wake);

    // ---- user threads ----
    // Encodes `r` into the open batch of its partition and takes `cb` (on success only); or,
    // with `conditional` (r.expected_offset set), takes that instead. Waits until `deadline` for
    // the topic's metadata and for buffer memory. Errors: client_errc::closed, record_too_large,
    // buffer_exhausted, unknown_topic (or the metadata error that kept the topic unknown),
    // errc::unknown_topic_or_partition for a partition outside the topic.
    std::error_code append(producer_record& r, producer::callback& cb, steady::time_point deadline,
                           producer::conditional_callback* conditional = nullptr);

    // Closes every open batch and starts a new flush generation; returns the old one.
    uint64_t begin_flush();
    // Waits until every batch of generation <= `generation` completed.
    void wait_flushed(uint64_t generation);
    // No more appends (they fail with closed); open batches close so that they are sent now.
    void begin_close();

    // ---- I/O thread ----
    // Takes the batches that are ready (full, lingered, flushed, or any while buffer memory
    // is short) for brokers with room: `budget(node)` says how many more requests the node
    // takes now. Also expires queued batches past delivery.timeout.ms.
    drain_result drain(steady::time_point now, const std::function<int(int32_t)>& budget);
    // Puts a batch back for a retry at `retry_at`, in sequence order within its partition.
    void requeue(std::unique_ptr<producer_batch> b);
    // Idempotence. The producer id from InitProducerId: batches are drained only once it is
    // known.
    void set_producer_id(producer_id_t id);
    // The leader answered `b` with OUT_OF_ORDER_SEQUENCE_NUMBER. If `b` carries the sequence the
    // leader should expect (no earlier batch unanswered but ones whose fate is unknown), the
    // leader lacks what came before (its state for this producer was lost, or acknowledged
    // records were, or an unknown batch was not written after all): the partition's epoch is
    // bumped and its sequences start again at 0 (KIP-360), once every batch of it in flight is
    // back. Otherwise an earlier batch is still out, or was refused and `b` gets a lower
    // sequence. Either way `b` is retried.
    void out_of_order(const producer_batch& b);
    // Whether `b` is known written: a later batch of its partition was written in its epoch.
    bool known_written(const producer_batch& b);
    // InitProducerId failed for good: every batch queued now or later fails with `ec` at the
    // next drain (drain_result::failed).
    void producer_id_failed(std::error_code ec);

    // The batches completed (their callbacks ran): frees their memory, counts them done, and
    // (idempotence) settles their sequences as `how` says.
    void release(const std::vector<std::unique_ptr<producer_batch>>& done,
                 batch_end how = batch_end::unknown);
    void release(producer_batch& done, batch_end how);

    // Metadata.
    bool metadata_wanted();
    std::vector<std::string> topics();
    // Takes partition counts and leaders from a metadata answer, or (answer == nullptr) keeps
    // `error` as the reason why topics are still unknown. Wakes send()s waiting for metadata.
    void apply_metadata(const client::metadata_answer* answer, std::error_code error);

    // The time the sender's timer is armed for (used by append() to decide whether to wake).
    void set_armed(steady::time_point t);
    size_t incomplete_batches();
    int64_t buffered_bytes();

  private:
    struct partition_queue {
        std::deque<std::unique_ptr<producer_batch>> batches;  // oldest first; back() may be open
        int32_t leader = -1;
        uint64_t next_sequence = 0;
        // Idempotence (I/O thread). The partition's producer epoch, the sequence its leader
        // expects next (after the last batch known written), and the batches given sequences
        // and not settled, by creation order: each holds as many sequences as it has records,
        // in that order from `expected` on. A refused batch gives its sequences back (later ones
        // are stamped again, lower, before they are resent); an unknown one keeps them until a
        // later batch settles it.
        struct sequence_slot {
            int32_t records = 0;
            bool unknown = false;  // its outcome is unknown (it gave up waiting)
        };
        producer_epoch_t epoch{0};
        sequence_t expected{0};
        std::map<uint64_t, sequence_slot> unanswered;
        int in_flight = 0;
        bool bump = false;
    };
    struct topic_state {
        std::string name;
        int32_t partition_count = -1;            // unknown until the metadata has the topic
        std::error_code error;                   // why it is unknown (last metadata answer)
        int waiters = 0;                         // send()s waiting for its metadata
        std::deque<partition_queue> partitions;  // a deque: growing it moves no queue
        int32_t sticky = -1;
        uint64_t sticky_sequence = UINT64_MAX;  // the batch the sticky partition is filling
    };

    topic_state& topic_locked(const std::string& name);
    // Waits until `t` has a partition count (asking the sender for metadata first).
    std::error_code wait_metadata_locked(std::unique_lock<std::mutex>& lk, topic_state& t,
                                         steady::time_point deadline);
    int32_t sticky_partition_locked(topic_state& t, size_t record_bytes);
    bool fits_locked(const producer_batch* b, size_t record_bytes) const;
    partition_queue& queue_locked(const producer_batch& b);
    // Idempotence: whether the front batch of `q` may be drained now (bumping the epoch first if
    // that is due), and stamping a batch as it is drained.
    bool idempotent_ready_locked(partition_queue& q);
    // The epoch bump out_of_order() asked for, once nothing of `q` is in flight; batches known
    // written go to out.settled.
    void bump_epoch_locked(partition_queue& q, drain_result& out);
    void stamp_locked(partition_queue& q, producer_batch& b);
    // `b` was stamped in the current epoch and a later batch settled it as written.
    static bool settled_locked(const partition_queue& q, const producer_batch& b);
    // Every unsettled batch created before `order`-th is of unknown fate (none is still out).
    static bool only_unknown_before(const partition_queue& q, uint64_t order);
    // The first sequence of the batch created `order`-th, as things stand.
    static sequence_t sequence_for(const partition_queue& q, uint64_t order);
    // A drained batch came back, for a retry (nullopt) or for good.
    void returned_locked(partition_queue& q, producer_batch& b, std::optional<batch_end> how);
    producer_batch* open_batch_locked(partition_queue& q) const;
    // Sets run_pending_; true if the caller must call wake_ (after unlocking).
    bool want_run_locked();
    void close_open_batches_locked();

    const options opts_;
    const std::function<void()> wake_;

    std::mutex mutex_;
    std::condition_variable metadata_cv_;
    std::condition_variable memory_cv_;
    std::condition_variable flush_cv_;
    std::unordered_map<std::string, std::unique_ptr<topic_state>> topics_;
    std::vector<topic_state*> topic_order_;
    topic_state* last_topic_ = nullptr;
    int64_t used_bytes_ = 0;
    int memory_waiters_ = 0;
    bool run_pending_ = false;
    bool metadata_wanted_ = false;
    bool closing_ = false;
    uint64_t generation_ = 0;
    std::map<uint64_t, size_t> incomplete_;  // flush generation -> batches not yet completed
    std::optional<producer_id_t> producer_id_;
    std::error_code producer_id_error_;
    steady::time_point armed_ = steady::time_point::max();
    std::minstd_rand rng_{std::random_device{}()};
};

}  // namespace sluice::detail
