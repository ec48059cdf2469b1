// One partition on this broker: its log, its leader epoch, its high watermark and whoever waits on
// it. It knows nothing of the wire protocol: methods take spans of batch bytes and offsets and
// return plain results with an errc, so that a Kafka-protocol listener can drive it as well.
//
// Threading: the partition is owned by its strand (executor()). Every method below except the
// accessors marked "any thread" must run there; that is what makes appends, reads and the high
// watermark consistent without a lock. Callers hop there with run_on().
//
// Its role comes from the metadata image (partition_role): it leads, at a leader epoch, or
// follows (its leader is another broker, or none while its broker is fenced). A partition that
// does not lead answers appends, consumer reads, offset lookups and acknowledgement waits with
// NOT_LEADER_OR_FOLLOWER; a follower takes replicated batches instead (append_replicated,
// truncate_to, restart_at), and a leader serves its followers' fetches (read with a replica),
// which move its high watermark and its ISR (partition_state). The leader epochs are kept in
// leader-epoch.checkpoint (leader_epochs.h); the epoch never falls.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sluice/core/async.h"
#include "sluice/core/fetch.h"
#include "sluice/core/leader_epochs.h"
#include "sluice/core/partition_state.h"
#include "sluice/core/producer_state_manager.h"
#include "sluice/core/topic_settings.h"
#include "sluice/protocol/errc.h"
#include "sluice/protocol/types.h"
#include "sluice/storage/flusher.h"
#include "sluice/storage/log.h"

namespace sluice::broker {

// A partition's place in the cluster, as the metadata image gives it. The default is a partition
// of one replica that broker 0 leads (the single-broker case, and tests).
struct partition_role {
    node_id_t leader{0};  // -1: none
    leader_epoch_t epoch{0};
    replica_assignment assignment{node_id_t{0}, {node_id_t{0}}, {node_id_t{0}}, 0, 1};
    bool leads() const { return leader >= node_id_t{0} && leader == assignment.self; }
};

class partition : public std::enable_shared_from_this<partition> {
  public:
    struct options {
        std::string topic;
        int32_t id = 0;
        std::filesystem::path dir;
        topic_settings settings;
        storage::flusher* flusher = nullptr;  // shared; used in fsync mode
        storage::file_system* fs = &storage::posix_file_system();
        storage::clock* time = &storage::system_clock();
        storage::file_cache* files = nullptr;
        bool create = false;  // a new partition: start at epoch 0
        // The topic's id (partition_identity.h); empty: not checked. A directory that holds
        // another id is removed and the partition created afresh.
        std::string topic_id;
        // The role at open (the leader epoch is kept if the file's is higher).
        partition_role role;
        // Where producer-state snapshots are written after a segment roll (the blocking pool);
        // none: on the strand.
        executor background;
        // Producers that wrote nothing for this long are forgotten (producer.id.expiration.ms).
        std::chrono::milliseconds producer_id_expiration{std::chrono::hours(24)};
    };

    // Opens the log (recovering it) and reads or writes the leader-epoch checkpoint. Runs
    // before the partition is published, on whichever thread creates it.
    static result<std::shared_ptr<partition>> open(executor strand, options opts);

    // A partition whose log could not be opened (`why`): it stays in the image so that every
    // request for it gets KAFKA_STORAGE_ERROR, and the broker keeps serving the others.
    static std::shared_ptr<partition> offline(executor strand, options opts, std::error_code why);

    // Any thread.
    const executor& strand() const { return strand_; }
    // Why the partition is offline (its log failed to open), or empty.
    const std::string& offline_reason() const { return offline_reason_; }
    const std::string& topic() const { return opts_.topic; }
    int32_t id() const { return opts_.id; }
    leader_epoch_t leader_epoch() const { return leader_epoch_t{epoch_.load()}; }
    bool is_leader() const { return leader_.load(std::memory_order_acquire); }
    // The broker that leads it (-1: none), as the role last set says.
    node_id_t leader_id() const { return node_id_t{leader_id_.load(std::memory_order_acquire)}; }

    using time_point = partition_state::time_point;

    // The metadata image changed this partition's role. A new leader epoch on which this
    // partition leads is recorded in the epoch cache and leader-epoch.checkpoint (fsynced: a
    // leadership change is rare) at the log end before it is used; a lower epoch is ignored with
    // a warning; the same epoch updates the replicas and the ISR. Losing leadership fails
    // acknowledgement waits with NOT_LEADER_OR_FOLLOWER and wakes fetch waiters.
    void set_role(const partition_role& role, time_point now);
    // The topic's configs changed: segment size and age, retention, index interval and the
    // largest batch apply from the next append or retention pass. The flush mode stays the one
    // the partition was opened with (what it acknowledges depends on it) until it is opened
    // again; false if `s` asks for another.
    bool set_settings(const topic_settings& s);

    struct append_outcome {
        errc error = errc::none;
        std::string message;
        offset_t base_offset{-1};
        offset_t last_offset{-1};
        offset_t log_start{-1};
        // After the append (or, with CONFLICT, as it is).
        offset_t log_end{-1};
        // The append was a producer's retry of batches already written: nothing was appended
        // and the offsets are the first write's.
        bool duplicate = false;
    };
    // Validates every batch in `batches` (see validate_batches) and checks it against every limit
    // (max.message.bytes, segment.bytes) and against its producer's state (producer_state.h),
    // stamps the leader epoch into each and appends them in order; the log assigns offsets in
    // place. All or nothing: nothing is appended if any batch is refused, and a write that fails
    // midway is cut back to where the append began. A batch that retries one of its producer's
    // last 5 answers the whole append with that batch's offsets (Kafka's rule). With `acks_all`,
    // nothing is appended while the ISR is smaller than min.insync.replicas
    // (NOT_ENOUGH_REPLICAS). Conditional append: with `expected_end` (not -1), nothing is
    // appended unless the log end offset is that one (CONFLICT with the log end); checked after
    // the retry check, so that a conditional append retried after it succeeded is answered as
    // a retry, and in the same turn of the strand as the write.
    append_outcome append(std::span<std::byte> batches, bool acks_all,
                          offset_t expected_end = offset_t{-1});

    // Calls `done` (on this strand) once the batches below `target` are acknowledged: at this
    // replica's own position (acks=1), or at the high watermark (acks=all, which answers
    // NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below min.insync.replicas meanwhile);
    // or with the error that means they never will be.
    void wait_for_ack(offset_t target, bool acks_all, partition_state::ack_callback done);

    struct replicated_outcome {
        errc error = errc::none;
        std::string message;
        offset_t log_end{-1};  // after the batches that were appended
    };
    // A follower appends batches its leader sent, keeping their offsets and leader epochs: each
    // is checked (framing, CRC), must start at the log end, and may not carry an epoch below the
    // latest one this log holds; a batch of a new epoch adds it to the epoch cache (written
    // before the batch). Stops at the first bad batch; what came before it stays appended.
    replicated_outcome append_replicated(std::span<const std::byte> batches);
    // A follower's log diverged from its leader's: everything at or after `offset` goes (a batch
    // is never split), and the epochs that began there. Returns the new log end.
    result<offset_t> truncate_to(offset_t offset);
    // A follower's log diverged at `leader` (a fetch answer's epoch and end offset): it cuts its
    // log where that epoch ends on both sides (Kafka's rule: its own end of the epoch if it does
    // not have that epoch, its high watermark if it knows no epoch at all) and fetches again,
    // which may find an earlier divergence. Returns the new log end.
    result<offset_t> truncate_diverged(const epoch_end& leader);
    // A follower whose leader's log starts past this one's end (or that holds nothing the leader
    // has) empties its log and starts again at `offset`.
    result<void> restart_at(offset_t offset);
    // A follower learns its leader's high watermark from a fetch answer.
    void leader_high_watermark(offset_t hw);
    // The epoch of the last batch this log holds (-1: none), which a follower's fetch names.
    leader_epoch_t last_epoch() const;
    // Where this log's `epoch` ends (leader_epoch_cache::end_offset_for).
    epoch_end end_offset_for(leader_epoch_t epoch) const;

    // Leaders: the ISR change due now, if any (partition_state::propose_isr); and the end of one.
    std::optional<isr_proposal> propose_isr(time_point now, std::chrono::milliseconds lag_max);
    void isr_proposal_failed(const isr_proposal& p);
    // Leaders: the ISR, and each follower's position, for describing the partition.
    std::vector<node_id_t> isr() const;
    std::vector<follower_position> followers() const;
    // Leaders: each replica's log end offset as this leader knows it, in `replicas` order (-1:
    // unknown); its own is its log end.
    std::vector<offset_t> replica_log_ends(const std::vector<node_id_t>& replicas) const;

    struct read_outcome {
        errc error = errc::none;
        // A follower's log diverged (see fetch_result): no ranges then.
        std::optional<epoch_end> diverging;
        // Whole batches below the bound, as ranges of segment files: a snapshot taken on the
        // strand, read or sent (sendfile) later off it.
        std::vector<storage::file_range> ranges;
        size_t bytes = 0;   // the ranges' total length
        offset_t next{-1};  // the offset after the last batch returned
        offset_t high_watermark{-1};
        offset_t log_start{-1};
    };
    // Who reads: a consumer, or a follower (its broker id), with the epoch of the last batch it
    // holds or was handed (-1: unknown), at a time.
    struct reader {
        node_id_t replica{-1};
        leader_epoch_t last_fetched_epoch{-1};
        time_point now{};
        // False for a long poll's later reads, past what this same answer already holds: only
        // the request's own fetch offset is checked against the epochs and counted as the
        // follower's position.
        bool at_fetch_offset = true;
    };
    // Finds whole batches from `from` up to `max_bytes` (their file ranges: no record is read); if
    // the first batch alone is larger, it comes anyway when it fits `first_batch_max` (pass
    // max_bytes for "never"), so a reader is not stuck behind a large batch. Only a leader
    // answers. A reader's last epoch is checked against this log's epochs first (a divergence is
    // answered instead of records). A consumer reads up to the high watermark; a follower up to
    // the log end, and its fetch offset counts as its position. `current_epoch` (-1: not checked)
    // fences stale readers. `waiter`, if given, is woken when the high watermark (consumers) or the
    // log end (followers) next moves.
    read_outcome read(offset_t from, size_t max_bytes, size_t first_batch_max, const reader& who,
                      leader_epoch_t current_epoch, const std::shared_ptr<wakeup>& waiter);

    struct offset_outcome {
        errc error = errc::none;
        int64_t offset = -1;
        int64_t timestamp = -1;
        int32_t leader_epoch = -1;
    };
    // ListOffsets: -2 earliest, -1 latest (the high watermark), else the first record at or
    // after the timestamp and below the high watermark (offset -1 if none). A new leader whose
    // high watermark has not yet reached the start of its epoch answers OFFSET_NOT_AVAILABLE
    // (Kafka's KIP-207): its high watermark may still be below the old leader's.
    offset_outcome list_offset(int64_t timestamp);

    struct offsets_view {
        errc error = errc::none;
        offset_t log_start{-1};
        offset_t high_watermark{-1};
        offset_t log_end{-1};
        // What is durable as the flush mode counts it (the log end in page-cache mode).
        offset_t local_end{-1};
    };
    offsets_view offsets() const;
    // Calls `done` (on this strand) once everything below `target` is durable as the flush mode
    // promises (at once in page-cache mode), whatever the role: a follower fetches again only
    // then, so that its fetch offset is durable.
    void when_durable(offset_t target, partition_state::ack_callback done);

    // Retention and periodic flushing (from the server's timers). Neither waits on the disk
    // here: retention renames the segments it drops and the flusher's thread unlinks them; the
    // flush's fsyncs and checkpoint run on the flusher's thread. Retention also forgets the
    // producers that expired (producer.id.expiration.ms).
    void apply_retention();
    // Compaction (storage/include/sluice/storage/cleaner.h), for the broker's cleaner thread;
    // each call on this strand. The share of the sealed bytes below the high watermark that no
    // pass cleaned yet, once it is above 0 and at least min.cleanable.dirty.ratio; nullopt
    // otherwise, and if the topic does not compact or the partition is closed.
    std::optional<double> cleaning_due() const;
    struct cleaning_job {
        storage::clean_plan plan;
        storage::clean_options options;
    };
    // A pass over the sealed segments below the high watermark (never what a truncation may
    // cut), keeping each producer's last batch's header; nullopt if the topic does not compact
    // or nothing is sealed there.
    std::optional<cleaning_job> plan_cleaning() const;
    // Puts a pass's cleaned segments in place (partition_log::install_cleaned). True if the pass
    // got anywhere (a segment replaced, or the first dirty offset moved up); false if not, or if
    // the log refused them (logged; the log may have turned failed).
    bool install_cleaned(storage::clean_outcome out);

    // What this partition knows of its idempotent producers (tests, describing).
    const producer_state& producers() const;
    void flush();

    // Closes the log (flush and recovery checkpoint, so the next open scans nothing). Waiters
    // are told `reason`; every later call answers it. False if the log or the high watermark
    // could not be written (logged): the next open recovers.
    bool close(errc reason);
    // Closes the log and removes the partition's directory (topic deletion).
    void remove();

  private:
    partition(executor strand, options opts, std::unique_ptr<storage::partition_log> log,
              leader_epoch_cache epochs, offset_t high_watermark,
              std::optional<producer_state_manager> producers);
    // Writes the epoch cache to leader-epoch.checkpoint.
    result<void> save_epochs();
    // NOT_LEADER_OR_FOLLOWER with a message, if this partition does not lead.
    std::optional<std::string> not_leader() const;

    void request_durable();
    // Cuts the log back to `end` after a failed append; a failed cut leaves the log failed.
    void rollback(offset_t end);
    // After batches were appended: a snapshot of the producers if the log rolled a segment
    // since `segments` were counted.
    void snapshot_if_rolled(size_t segments);
    // The producer check of one append's batches (`headers`, the first at `start`), staged into
    // `staged`; an error or a duplicate ends the append with `out` filled in.
    bool check_producers(std::span<const batch_header> headers, offset_t start,
                         producer_append& staged, append_outcome& out);
    void durable_done(offset_t end, std::error_code ec);
    errc report(std::string_view what, const std::error_code& ec);

    executor strand_;
    options opts_;
    std::unique_ptr<storage::partition_log> log_;  // null once closed
    partition_state state_;
    leader_epoch_cache epochs_;
    std::optional<producer_state_manager> producers_;  // none while offline
    offset_t epoch_start_{0};     // the log end when this broker began leading at epoch_
    std::atomic<int32_t> epoch_;  // written on the strand, read anywhere (metadata)
    std::atomic<bool> leader_;    // likewise
    std::atomic<int32_t> leader_id_;
    errc closed_reason_ = errc::none;
    std::string offline_reason_;  // set once, before the partition is published
};

}  // namespace sluice::broker
