// A partition's log: an ordered list of segments, the last one active.
//
// Threading: a log is owned by one executor (the partition's) and every call below must come
// from it; it takes no lock. The only other thread that touches its files is the flusher, which
// fsyncs them for on_durable().
//
// Offsets: the log assigns them. append() stamps the next offset into the batch's base_offset;
// append_replicated() keeps the offsets a leader assigned. Offsets only increase. append() makes
// them dense (every batch starts where the previous one ended); compaction leaves gaps (between
// batches, between the records of a batch, at a segment's end), and a follower replicates them.
//
// Errors are values. An I/O error during an append is undone (the file is cut back to where it
// was), so the log stays consistent and readable; if even that fails, or an fsync fails, the log
// turns failed: reads go on, appends get errc::kafka_storage_error until it is reopened, and the
// reopen's recovery scan repairs the tail.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "sluice/protocol/record_batch.h"
#include "sluice/protocol/result.h"
#include "sluice/storage/cleaner.h"
#include "sluice/storage/clock.h"
#include "sluice/storage/file_cache.h"
#include "sluice/storage/file_system.h"
#include "sluice/storage/flusher.h"
#include "sluice/storage/log_config.h"

namespace sluice::storage {

class segment;

struct log_options {
    std::filesystem::path dir;  // this partition's directory, e.g. <log.dirs>/<topic>-<partition>
    log_config config;
    file_system* fs = &posix_file_system();
    clock* time = &system_clock();
    // Required when config.flush is flush_mode::fsync; shared by many logs.
    flusher* sync = nullptr;
    // Open files of sealed segments, shared by many logs; null keeps every segment's file open
    // for as long as the log is.
    file_cache* files = nullptr;
};

// What open() found and did, for logs and tests.
struct recovery_report {
    offset_t recovery_point;      // from the checkpoint (0 if none)
    size_t segments_loaded = 0;   // opened from their index files without a scan
    size_t segments_scanned = 0;  // validated batch by batch
    uint64_t bytes_scanned = 0;
    uint64_t bytes_truncated = 0;  // invalid or incomplete tail cut off
    size_t segments_dropped = 0;   // removed because they followed a cut
};

struct append_result {
    offset_t base_offset;
    offset_t last_offset;
    timestamp_ms_t max_timestamp;
};

struct read_result {
    std::vector<std::byte> bytes;  // whole batches, back to back
    offset_t next_offset;          // one past the last batch returned (= `from` if none)
};

// A byte range of one segment file that holds whole batches. Holding it keeps the file open
// (the file cache may drop its own reference meanwhile), so the range can be read or sent to a
// socket later, on another thread, without the log: a snapshot of what a read would return.
struct file_range {
    std::shared_ptr<file> f;
    uint64_t position = 0;
    uint64_t length = 0;
};

struct slice_result {
    std::vector<file_range> ranges;  // in log order, at most one per segment
    offset_t next_offset;            // one past the last batch (= `from` if none)
    uint64_t bytes = 0;              // the ranges' total length
};

class partition_log {
  public:
    // Opens the log in `opts.dir`, creating it if missing, and recovers it: segments below the
    // recovery checkpoint are trusted and load their indexes (rebuilt if missing or stale); the
    // rest are validated batch by batch and cut at the first invalid or incomplete batch.
    static result<std::unique_ptr<partition_log>> open(log_options opts);

    // Removes a log's directory and everything in it. The log must not be open.
    static result<void> destroy(file_system& fs, const std::filesystem::path& dir);

    ~partition_log();
    partition_log(const partition_log&) = delete;
    partition_log& operator=(const partition_log&) = delete;

    // Checks `batch` with check_batch (exactly one batch, header, CRC; record framing is the
    // produce path's job), stamps the next offset into it and appends it. Errors:
    // corrupt_message, invalid_record (from the check); record_list_too_large if it exceeds
    // segment.bytes; kafka_storage_error if the log failed; log_closed; an I/O error.
    result<append_result> append(std::span<std::byte> batch);

    // As append(), but the batch keeps the base offset its leader gave it, which must be
    // end_offset() or, past a compacted gap, more (errc::offset_out_of_range if less). For
    // followers.
    result<append_result> append_replicated(std::span<const std::byte> batch);

    // As append() and append_replicated(), for a batch its caller has just checked with
    // check_batch or batch_view::parse (which checks as much and more): `checked` is the header
    // that returned (with the leader epoch the batch carries now), and the CRC is not computed
    // again.
    result<append_result> append_checked(std::span<std::byte> batch, batch_header checked);
    result<append_result> append_replicated_checked(std::span<const std::byte> batch,
                                                    const batch_header& checked);

    // Calls `done` once everything appended so far is as durable as the flush mode promises:
    // at once, on this thread, in page-cache mode; after a group fsync, on the flusher thread,
    // in fsync mode. An error means the appends are not known to be durable.
    void on_durable(flusher::completion done);

    // Whole batches starting with the one that holds `from`, up to `max_bytes` in total (but
    // always at least one batch, however large, so a reader makes progress), stopping before any
    // batch that reaches `upper` (exclusive; the high watermark). Nothing if from == end_offset()
    // or from >= upper. errc::offset_out_of_range if from < start_offset() or > end_offset().
    result<read_result> read(offset_t from, size_t max_bytes, offset_t upper = offset_t::max());

    // The same batches as read() would return, as file ranges instead of bytes: the log reads only
    // batch headers (to find the first batch, and from the last index entry that fits to the end
    // of each range), never the records, so the caller can send them with sendfile. A truncation
    // after the call may cut bytes under a range; a reader that then finds the file short must
    // treat the read as failed. At most `max_ranges` segments are taken (each range holds its file
    // open until dropped).
    result<slice_result> slice(offset_t from, size_t max_bytes, offset_t upper = offset_t::max(),
                               size_t max_ranges = SIZE_MAX);

    // The first offset whose record timestamp is >= t, in log order; nullopt if none is.
    result<std::optional<offset_t>> offset_for_timestamp(timestamp_ms_t t);

    offset_t start_offset() const;
    // One past the last record (Kafka's log end offset).
    offset_t end_offset() const;
    uint64_t size_bytes() const;
    size_t segment_count() const;
    const recovery_report& recovery() const { return recovery_; }
    bool failed() const { return failed_->load(); }

    // Seals the active segment (writes its indexes) and starts a new one at end_offset().
    // A no-op on an empty active segment. With a flusher, sealed segments are fsynced on the
    // flusher's thread (by name, one request per log at a time, so no file stays open for it),
    // and a later roll moves the recovery point up to the newest one known durable, so a crash
    // rescans only the segments sealed since.
    result<void> roll();
    // New settings, from the next append or retention pass on; the flush mode stays the one
    // the log was opened with (c.flush is ignored).
    void set_config(const log_config& c);

    // Deletes whole segments from the front while the log exceeds retention.bytes, or while the
    // newest record of the oldest segment is older than retention.ms. The active segment goes
    // only by age, after a roll. Returns how many segments were deleted. With a flusher, their
    // files are renamed to `*.deleted` here and unlinked on the flusher's thread (freeing a
    // large file can take long); open() removes any that a crash left behind.
    result<size_t> apply_retention();
    // Deletes whole segments from the front that hold only offsets below `offset`, never the
    // active segment (what a Raft snapshot replaced, for the metadata log). Returns how many
    // were deleted.
    result<size_t> delete_segments_below(offset_t offset);

    // Compaction (cleaner.h). The sealed segments below `upper` (the high watermark: never what
    // a truncation may cut) for a cleaning pass, and where the last pass stopped; nullopt if no
    // sealed segment lies below it. (The pass fsyncs them before anything else: no crash may
    // cut a segment whose gaps recovery would then take for compaction's.)
    std::optional<clean_plan> plan_cleaning(offset_t upper) const;
    // Puts a pass's cleaned segments in place of theirs, each with one rename, and moves the first
    // dirty offset up to out.next_dirty (a checkpoint file, so the next start knows it). A
    // segment that is no longer there as planned (retention) keeps its place and its cleaned file
    // is removed; after a truncation since the plan nothing is installed (the map may name
    // records that are gone). Returns how many segments were replaced.
    result<size_t> install_cleaned(clean_outcome&& out);
    // Records from here on were not cleaned yet (the log start, before any pass).
    offset_t first_dirty_offset() const;
    // Of the bytes of sealed segments below `upper`, the share not cleaned yet (0 with none):
    // the pass goes to the log whose share is largest, once it reaches min.cleanable.dirty.ratio.
    double dirty_ratio(offset_t upper) const;

    // Removes every batch that holds an offset >= `offset`: the log ends at the boundary of the
    // batch holding `offset` (a batch is never split). If `offset` <= start_offset() the log is
    // emptied and starts again at `offset`. Returns the new end offset.
    result<offset_t> truncate_to(offset_t offset);

    // Removes every batch and starts the log again, empty, at `offset`, which may lie past the
    // end (a follower that installs its leader's snapshot; Kafka's truncateFullyAndStartAt).
    result<void> restart_at(offset_t offset);

    // fsyncs every segment and the directory, then records end_offset() as the recovery point.
    result<void> flush();

    // As flush(), but the fsyncs and the checkpoint run on the flusher's thread, and `done` is
    // called there (without a flusher: at once, on this thread). For the periodic flush, so
    // that the log's owner never waits on the disk. A truncation or close meanwhile keeps the
    // checkpoint where it is.
    void flush_async(flusher::completion done);

    // Writes the active segment's indexes and flushes: the next open() scans nothing. Later
    // calls get errc::log_closed.
    result<void> close();

  private:
    explicit partition_log(log_options opts);

    result<void> recover();
    result<void> open_segments(std::vector<offset_t> bases, offset_t recovery_point);
    result<void> add_segment(offset_t base);
    result<void> delete_front_segment();
    result<void> delete_segment(std::vector<std::unique_ptr<segment>>::iterator it);
    // Writes the recovery-point checkpoint (this thread; it may lower it).
    result<void> write_recovery_point(offset_t at);
    // The recovery point on disk.
    offset_t checkpointed() const;
    // Starts a new generation: flusher requests queued before it write no checkpoint.
    void fence_flusher();
    // Rolls before `h` when the active segment is full, old, or cannot index `h`; then makes sure
    // the active segment can (a follower's batch past a wide compacted gap).
    result<void> maybe_roll(const batch_header& h);
    result<void> roll_if_due(const batch_header& h);
    result<append_result> write_batch(std::span<const std::byte> batch, const batch_header& h);
    // preallocate: reserves the active segment's blocks past `end`, a step ahead. Failing to
    // (no space, not supported) only stops the reserving for this segment.
    void reserve_ahead(segment& seg, uint64_t end);
    // Frees what `seg` holds reserved past its end (before it is sealed, and at close).
    void release_reserve(segment& seg);
    result<void> check_writable() const;
    // fsyncs `f`; a failure turns the log failed.
    result<void> sync_or_fail(file& f);
    // The first batch of `seg` whose last offset is >= target: its position and the header that
    // was read to find it (nullopt when the segment ends first), so callers need not read it again.
    struct located {
        uint64_t position;
        std::optional<batch_header> header;
    };
    result<located> locate(const segment& seg, offset_t target);
    // The segment's open file: its own, or the file cache's (opened on demand).
    result<std::shared_ptr<file>> file_of(const segment& seg);
    // After a truncation to `end`: no fsync may vouch past it, and pending sealed segments that
    // reach past it are dropped (those wholly below it keep waiting for their fsync).
    void forget_sealed_past(offset_t end);
    // restart_at's and truncate_to's work once the generation moved: every segment deleted, one
    // empty segment at `offset`.
    result<void> empty_and_start_at(offset_t offset);
    // Hands a sealed segment's file to the file cache, if there is one.
    void release_file(segment& seg);
    segment& active() { return *segments_.back(); }

    log_options opts_;
    // Ordered by base offset; never empty once open.
    std::vector<std::unique_ptr<segment>> segments_;  // empty only after a failed restart_at
    offset_t emptied_at_{0};                          // start and end while segments_ is empty
    // Files written since the last on_durable() (fsync mode): the flusher syncs them next.
    std::vector<std::shared_ptr<file>> unsynced_;
    std::shared_ptr<file> dir_handle_;
    bool dir_unsynced_ = false;
    recovery_report recovery_;
    bool closed_ = false;
    // Set by the flusher thread when an fsync fails; read by the owner.
    std::shared_ptr<std::atomic<bool>> failed_ = std::make_shared<std::atomic<bool>>(false);
    // Set by the flusher thread when an on_durable() request fails: later ones of this log fail
    // too (see on_durable).
    std::shared_ptr<std::atomic<bool>> durable_failed_ = std::make_shared<std::atomic<bool>>(false);

    // What the flusher thread knows to be durable, and the recovery-point checkpoint, which
    // both threads write under `mutex`: the flusher thread raises it after a sealed segment's
    // fsync or a periodic flush; the owner writes it at close and lowers it before a truncation.
    // A truncation or close starts a new generation, so that an fsync that completes after it
    // cannot vouch for cut offsets or write into a removed directory.
    struct sealed_durability {
        std::mutex mutex;     // the fields below; held briefly
        std::mutex io_mutex;  // held while the checkpoint file is written (taken first)
        uint64_t generation = 0;
        offset_t end = offset_t::min();           // end of the newest sealed segment known fsynced
        offset_t checkpointed = offset_t::min();  // the recovery point on disk
        bool in_flight = false;  // one request per log at a time; later rolls wait in pending_
        bool failed = false;     // a sealed segment's fsync failed: never vouch past it
        bool flush_in_flight = false;  // flush_async: one at a time per log
    };
    std::shared_ptr<sealed_durability> sealed_ = std::make_shared<sealed_durability>();
    // Sealed segments not yet handed to the flusher (owner thread only), oldest first.
    struct sealed_segment {
        std::filesystem::path path;
        offset_t end;  // one past its last record
    };
    std::vector<sealed_segment> pending_sealed_;
    // Truncations so far (truncate_to, restart_at): a pass planned before one installs nothing.
    uint64_t truncations_ = 0;
    // Compaction, as the checkpoint file `cleaner.checkpoint` says: gaps in offsets end at or
    // below gaps_end (compaction's, and those a follower replicated); records below first_dirty
    // were cleaned. Either only moves up by a pass or a replicated gap, and down by a truncation.
    struct {
        offset_t gaps_end{0};
        offset_t first_dirty{0};
    } cleaner_;
    // Writes the checkpoint with these values (the owner's thread; fsynced).
    result<void> store_cleaner(offset_t gaps_end, offset_t first_dirty);
    // After a truncation: gaps end at `gaps_end` at most and nothing from `first_dirty` on
    // counts as cleaned (a reappended record must not).
    result<void> lower_cleaner(offset_t gaps_end, offset_t first_dirty);
};

}  // namespace sluice::storage
