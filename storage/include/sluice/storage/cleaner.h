// Log compaction (cleanup.policy=compact): a cleaning pass keeps the latest record of every key in
// a partition's sealed segments and drops the rest, without moving any record to another offset.
//
// A pass has three steps (docs/storage-format.md, "Compaction"):
//   1. plan, on the log owner's thread: partition_log::plan_cleaning names the sealed segments
//      below a bound and where the last pass stopped (the first dirty offset);
//   2. clean, on any thread (clean_log below): fsyncs the planned segments (recovery will take
//      gaps below the plan's end for compaction's, so none may lose a tail in a crash), reads the
//      dirty segments into an offset map (key -> its latest offset), then writes each segment
//      that loses records as `<base>.cleaned`, fsynced; it changes no file of the log;
//   3. install, on the owner's thread again: partition_log::install_cleaned renames each cleaned
//      file over its segment (one atomic rename per segment, so a crash leaves every segment
//      either old or cleaned, both whole) and moves the first dirty offset up.
//
// What a pass keeps of a batch: its header (base offset, last offset delta, timestamps, producer
// id, epoch and sequence), so offsets and the producer-state rules stay as they were, and the
// records that are the latest of their key. It drops records without a key, and tombstones (a
// null value) once `delete_retention_ms` has passed since their timestamp and no older record of
// their key is left to reappear. A batch left with no record goes, unless it is one that the
// caller names (each producer's last batch, from which a restart rebuilds its sequence): that one
// stays as a header with no record. Control batches stay whole.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "sluice/protocol/record_batch.h"
#include "sluice/protocol/result.h"
#include "sluice/storage/file_system.h"

namespace sluice::storage {

class segment;

// The latest offset of each key, by a 128-bit hash of the key (two keys whose hashes agree are
// not told apart; at 2^-128 per pair that is never). Bounded: its table of 24-byte slots grows
// up to `max_bytes` (log.cleaner.dedupe.buffer.size), at most 3/4 of them used, and then it
// refuses new keys. Not thread-safe.
class offset_map {
  public:
    static constexpr size_t entry_bytes = 24;  // one slot

    explicit offset_map(size_t max_bytes);

    // Records `offset` as `key`'s latest (offsets come in increasing order). False, recording
    // nothing, when the key is new and the map is full.
    bool put(bytes_view key, offset_t offset);
    std::optional<offset_t> latest(bytes_view key) const;
    // Whether `n` more new keys would fit.
    bool room_for(size_t n) const { return size_ + n <= max_entries_; }
    size_t size() const { return size_; }
    size_t max_entries() const { return max_entries_; }
    void clear();  // and frees the memory

  private:
    struct slot {
        uint64_t h1 = 0;
        uint64_t h2 = 0;
        int64_t offset = -1;  // -1: empty
    };
    size_t find(uint64_t h1, uint64_t h2) const;  // the slot holding it, or the empty one to use
    void grow();

    size_t max_slots_ = 0;
    size_t max_entries_ = 0;
    size_t size_ = 0;
    std::vector<slot> slots_;  // a power of two; kept at most 3/4 full
};

// Paces the cleaner's reads and writes to `bytes_per_second` (log.cleaner.io.max.bytes.per.second;
// 0 or less: no limit). One thread uses it.
class io_throttle {
  public:
    // `cancel` (may be null): once set, a wait under way ends within 100 ms.
    explicit io_throttle(double bytes_per_second, const std::atomic<bool>* cancel = nullptr)
        : rate_(bytes_per_second), cancel_(cancel), start_(std::chrono::steady_clock::now()) {}

    // How long to wait once `total` bytes have moved `elapsed` after the start: pure.
    static std::chrono::nanoseconds delay(double rate, uint64_t total,
                                          std::chrono::nanoseconds elapsed);
    // Counts `bytes` and sleeps until the rate allows them.
    void pace(uint64_t bytes);
    uint64_t total() const { return total_; }

  private:
    double rate_;
    const std::atomic<bool>* cancel_;
    std::chrono::steady_clock::time_point start_;
    uint64_t total_ = 0;
};

// What a pass works on, from partition_log::plan_cleaning.
struct clean_plan {
    std::filesystem::path dir;
    file_system* fs = nullptr;
    struct segment_ref {
        offset_t base;
        offset_t next;  // one past its last offset (the next segment's base)
        uint64_t size_bytes;
        uint64_t key;  // the segment's identity (file_cache key): install checks it is the same
        leader_epoch_t last_epoch;
    };
    std::vector<segment_ref> segments;  // sealed, oldest first, all below `end`
    offset_t first_dirty;               // records below it were cleaned by an earlier pass
    offset_t end;                       // the first offset no pass may clean yet
    uint32_t index_interval_bytes = 4096;
    uint64_t truncations = 0;  // the log's truncations when planned (install checks it)
};

struct clean_options {
    timestamp_ms_t now;
    int64_t delete_retention_ms = 24ll * 3600 * 1000;  // delete.retention.ms
    // Batches whose last offset is one of these keep their header even with no record left
    // (sorted): each producer's last batch.
    std::vector<offset_t> keep_headers;
    io_throttle* throttle = nullptr;  // null: no limit
    // Once set, the pass stops at its next read (std::errc::operation_canceled). May be null.
    const std::atomic<bool>* cancel = nullptr;
};

// A segment's cleaned file, for install_cleaned.
struct cleaned_segment {
    clean_plan::segment_ref old;
    std::filesystem::path path;            // `<base>.cleaned`, fsynced
    std::shared_ptr<segment> replacement;  // its tracking (indexes, end), no file yet
};

struct clean_outcome {
    std::vector<cleaned_segment> cleaned;
    offset_t next_dirty;  // the first offset the map did not cover: the next pass starts there
    uint64_t plan_truncations = 0;  // clean_plan::truncations
    uint64_t bytes_read = 0;
    uint64_t bytes_before = 0;  // of the cleaned segments
    uint64_t bytes_after = 0;
    uint64_t records_removed = 0;
};

// Step 2 of a pass (see the top of this file). `map` is cleared and filled (and freed again
// before it returns); a map too small for one batch's keys fails with errc::invalid_config. On
// any error (I/O, a cancel) the `.cleaned` files the pass wrote are removed where they can be.
result<clean_outcome> clean_log(const clean_plan& plan, const clean_options& opts, offset_map& map);

// The name of a segment's cleaned file, before it is installed.
std::filesystem::path cleaned_path(const std::filesystem::path& dir, offset_t base);
inline constexpr std::string_view cleaned_suffix = ".cleaned";

}  // namespace sluice::storage
