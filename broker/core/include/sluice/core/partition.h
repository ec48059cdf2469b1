// One partition on this broker: its log, its leader epoch, its high watermark and whoever waits on
// it. It knows nothing of the wire protocol: methods take spans of batch bytes and offsets and
// return plain results with an errc, so that a Kafka-protocol listener can drive it as well.
//
// Threading: the partition is owned by its strand (executor()). Every method below except the
// accessors marked "any thread" must run there; that is what makes appends, reads and the high
// watermark consistent without a lock. Callers hop there with run_on().
//
// Leadership comes from the metadata image: the partition leads, at a leader epoch, or does not
// (its leader is another broker, or none while its broker is fenced). A partition that does not
// lead answers appends, consumer reads, offset lookups and acknowledgement waits with
// NOT_LEADER_OR_FOLLOWER. The leader epochs are kept in leader-epoch.checkpoint, each with the
// log end offset at which it began; the epoch never falls.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sluice/core/async.h"
#include "sluice/core/fetch.h"
#include "sluice/core/partition_state.h"
#include "sluice/core/topic_settings.h"
#include "sluice/protocol/errc.h"
#include "sluice/protocol/types.h"
#include "sluice/storage/flusher.h"
#include "sluice/storage/log.h"

namespace sluice::broker {

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
        // Leadership at open: whether it leads, and the leader epoch (kept if the file's is
        // higher).
        bool leader = true;
        leader_epoch_t epoch{0};
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

    // The metadata image changed this partition's leadership. A higher epoch is recorded in
    // leader-epoch.checkpoint (fsynced: a leadership change is rare) before it is used; a lower
    // one is ignored with a warning. Losing leadership fails acknowledgement waits with
    // NOT_LEADER_OR_FOLLOWER and wakes fetch waiters.
    void set_leadership(bool leader, leader_epoch_t epoch);
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
    };
    // Validates every batch in `batches` (see validate_batches) and checks it against every limit
    // (max.message.bytes, segment.bytes), stamps the leader epoch into each and appends them in
    // order; the log assigns offsets in place. All or nothing: nothing is appended if any batch
    // is invalid, and a write that fails midway is cut back to where the append began.
    append_outcome append(std::span<std::byte> batches);

    // Calls `done` (on this strand) once the high watermark reaches `target`, or with the error
    // that means it never will.
    void wait_for_hw(offset_t target, partition_state::ack_callback done);

    struct read_outcome {
        errc error = errc::none;
        // Whole batches below the bound, as ranges of segment files: a snapshot taken on the
        // strand, read or sent (sendfile) later off it.
        std::vector<storage::file_range> ranges;
        size_t bytes = 0;   // the ranges' total length
        offset_t next{-1};  // the offset after the last batch returned
        offset_t high_watermark{-1};
        offset_t log_start{-1};
    };
    // Finds whole batches from `from` up to `max_bytes` (their file ranges: no record is read); if
    // the first batch alone is larger, it comes anyway when it fits `first_batch_max` (pass
    // max_bytes for "never"), so a reader is not stuck behind a large batch. Reads stop at the high
    // watermark, or at the log end when `bound` is log_end (followers). `current_epoch` (-1: not
    // checked) fences stale readers. `waiter`, if given, is woken when the high watermark next
    // moves.
    read_outcome read(offset_t from, size_t max_bytes, size_t first_batch_max, fetch_bound bound,
                      leader_epoch_t current_epoch, const std::shared_ptr<wakeup>& waiter);

    struct offset_outcome {
        errc error = errc::none;
        int64_t offset = -1;
        int64_t timestamp = -1;
        int32_t leader_epoch = -1;
    };
    // ListOffsets: -2 earliest, -1 latest (the high watermark), else the first record at or
    // after the timestamp and below the high watermark (offset -1 if none).
    offset_outcome list_offset(int64_t timestamp);

    struct offsets_view {
        errc error = errc::none;
        offset_t log_start{-1};
        offset_t high_watermark{-1};
        offset_t log_end{-1};
    };
    offsets_view offsets() const;

    // Retention and periodic flushing (from the server's timers). Neither waits on the disk
    // here: retention renames the segments it drops and the flusher's thread unlinks them; the
    // flush's fsyncs and checkpoint run on the flusher's thread.
    void apply_retention();
    void flush();

    // Closes the log (flush and recovery checkpoint, so the next open scans nothing). Waiters
    // are told `reason`; every later call answers it.
    void close(errc reason);
    // Closes the log and removes the partition's directory (topic deletion).
    void remove();

  private:
    partition(executor strand, options opts, std::unique_ptr<storage::partition_log> log,
              leader_epoch_t epoch);
    // Appends {epoch, log end} to the leader-epoch file.
    result<void> record_epoch(leader_epoch_t epoch);
    // NOT_LEADER_OR_FOLLOWER with a message, if this partition does not lead.
    std::optional<std::string> not_leader() const;

    void request_durable();
    // Cuts the log back to `end` after a failed append; a failed cut leaves the log failed.
    void rollback(offset_t end);
    void durable_done(offset_t end, std::error_code ec);
    errc report(std::string_view what, const std::error_code& ec);

    executor strand_;
    options opts_;
    std::unique_ptr<storage::partition_log> log_;  // null once closed
    partition_state state_;
    std::atomic<int32_t> epoch_;  // written on the strand, read anywhere (metadata)
    std::atomic<bool> leader_;    // likewise
    errc closed_reason_ = errc::none;
    std::string offline_reason_;  // set once, before the partition is published
};

}  // namespace sluice::broker
