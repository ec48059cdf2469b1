// What a partition knows of its idempotent producers (Kafka's ProducerStateManager, as a pure
// value): per producer id the epoch and the last batches it wrote, which is what lets a leader
// recognise a retry and answer it with the offsets it was first given.
//
// The rules (a leader's check, before an append):
//  - a batch without a producer id is not idempotent: always appended, never recorded;
//  - a producer id with a negative epoch or sequence is malformed: invalid_record;
//  - a batch whose epoch and first and last sequence equal one of the producer's last
//    producer_batches_kept batches is a retry: it is not appended and is answered with that
//    batch's offsets, without error;
//  - an epoch below the producer's: invalid_producer_epoch (a zombie);
//  - an epoch above the producer's must start at sequence 0; the same epoch must continue at
//    the last sequence + 1 (after INT32_MAX comes 0): otherwise out_of_order_sequence_number;
//  - a producer this partition has no state for is accepted at any sequence (its state expired
//    or was never here; the client recovers as KIP-360 describes).
//
// Everything the log holds is applied without checks, in log order: a leader's appends, a
// follower's replicated batches and the batches replayed at load alike, so a follower that
// becomes leader deduplicates as its old leader did. The log is the truth; this is a summary of
// it that a snapshot (producer_snapshot.h) plus the batches after the snapshot rebuild exactly.
// Truncation is the same rebuild: from the last snapshot at or below the new end.
//
// Thread: a value, kept on its partition's strand.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <vector>

#include "sluice/protocol/errc.h"
#include "sluice/protocol/record_batch.h"
#include "sluice/protocol/types.h"

namespace sluice::broker {

// How many of a producer's last batches a retry is recognised among: a producer keeps at most
// 5 requests in flight per partition (max.in.flight.requests.per.connection), as Kafka's do.
inline constexpr size_t producer_batches_kept = 5;

// What a batch says of its producer (its header's fields).
struct producer_batch_info {
    producer_id_t id = no_producer_id;
    producer_epoch_t epoch = no_producer_epoch;
    sequence_t first_sequence = no_sequence;
    sequence_t last_sequence = no_sequence;
    timestamp_ms_t max_timestamp = no_timestamp;

    static producer_batch_info of(const batch_header& h);
    bool idempotent() const { return id != no_producer_id; }
};

// One batch a producer wrote, as kept.
struct producer_batch {
    sequence_t first_sequence;
    sequence_t last_sequence;
    offset_t base_offset;
    offset_t last_offset;
    timestamp_ms_t max_timestamp;
    friend bool operator==(const producer_batch&, const producer_batch&) = default;
};

struct producer_entry {
    producer_epoch_t epoch;
    // Oldest first; never empty, at most producer_batches_kept. All of them in `epoch`.
    std::vector<producer_batch> batches;

    sequence_t last_sequence() const { return batches.back().last_sequence; }
    // Kafka's lastTimestamp: the newest batch's largest record timestamp, what expiry counts from.
    timestamp_ms_t last_timestamp() const { return batches.back().max_timestamp; }
    friend bool operator==(const producer_entry&, const producer_entry&) = default;
};

// A leader's check of one batch.
struct producer_verdict {
    errc error = errc::none;
    // Set (with errc::none) for a retry of a batch already written: append nothing and answer
    // with these offsets.
    std::optional<producer_batch> duplicate_of;

    bool append() const { return error == errc::none && !duplicate_of; }
};

// The check of `b` against its producer's entry (nullptr: none). Pure; see the rules above.
producer_verdict check_producer_batch(const producer_entry* e, const producer_batch_info& b);

// The sequence after `last` in a producer's numbering (INT32_MAX is followed by 0).
sequence_t next_sequence(sequence_t last);
// `next` follows `last`.
inline bool in_sequence(sequence_t last, sequence_t next) {
    return next == next_sequence(last);
}

class producer_state {
  public:
    using entries_map = std::map<producer_id_t, producer_entry>;

    producer_state() = default;
    explicit producer_state(entries_map entries) : entries_(std::move(entries)) {}

    const entries_map& entries() const { return entries_; }
    const producer_entry* find(producer_id_t id) const;

    producer_verdict check(const producer_batch_info& b) const {
        return check_producer_batch(find(b.id), b);
    }
    // The log now holds `b` at [base, last]. No check: see the header comment. A batch in
    // another epoch than the producer's starts its entry again; an idempotent batch only.
    void apply(const producer_batch_info& b, offset_t base, offset_t last);
    // Drops the producers whose last timestamp is `expiration` or more before `now` (Kafka's
    // producer.id.expiration.ms). Returns how many.
    size_t remove_expired(timestamp_ms_t now, std::chrono::milliseconds expiration);

    friend bool operator==(const producer_state&, const producer_state&) = default;

  private:
    friend class producer_append;
    entries_map entries_;
};

// The check of the batches of one append, each as if those before it had been written (Kafka's
// ProducerAppendInfo): a request may carry several batches of a producer for one partition.
// Stage each batch that is to be appended at its offsets; commit() puts them into the state once
// the log has written them all (the state does not change before that: both run in one turn of
// the partition's strand). A batch that is refused or is a retry is not staged.
class producer_append {
  public:
    explicit producer_append(producer_state& state) : state_(state) {}

    producer_verdict check(const producer_batch_info& b) const;
    // The producer's entry as this append has it so far (nullptr: none).
    const producer_entry* find(producer_id_t id) const;
    void stage(const producer_batch_info& b, offset_t base, offset_t last);
    void commit() &&;

  private:
    producer_state& state_;
    // The producers this append touched, as they will be once it is written.
    producer_state::entries_map touched_;
};

}  // namespace sluice::broker
