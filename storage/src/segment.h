// One segment of a partition log: `<base offset>.log` holding back-to-back record batches, and
// its sparse offset and time indexes, kept in memory and written to `.index` / `.timeindex` when
// the segment is sealed or the log closes (segment_index_file.cpp).
//
// Owned by its log and used only on the log owner's thread; the file is shared with the flusher.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include "sluice/protocol/record_batch.h"
#include "sluice/storage/file_cache.h"
#include "sluice/storage/file_system.h"

namespace sluice::storage {

// Offsets in an index are relative to the segment's base offset, as in Kafka's index files.
struct offset_index_entry {
    uint32_t relative_offset;
    uint32_t position;
};

// `timestamp` is the largest timestamp of all records up to and including the batch that starts
// at `relative_offset`. So when it is below T, no record before that batch reaches T, and a search
// for the first record at or after T may start at that batch.
struct time_index_entry {
    int64_t timestamp;
    uint32_t relative_offset;
};

class segment {
  public:
    segment(offset_t base, std::shared_ptr<file> f, timestamp_ms_t created_at)
        : base_offset(base), next_offset(base), created(created_at), log_file(std::move(f)) {}

    const offset_t base_offset;
    offset_t next_offset;                         // one past the last record
    timestamp_ms_t max_timestamp = no_timestamp;  // newest record timestamp
    timestamp_ms_t first_batch_timestamp = no_timestamp;
    timestamp_ms_t created;  // wall time this process made it; min() for one found on disk
    leader_epoch_t last_epoch = no_leader_epoch;  // epoch of the last batch
    uint64_t size_bytes = 0;
    // The file's blocks are reserved (file::reserve) up to here; past size_bytes they are freed
    // when the segment is sealed or the log closes (partition_log::release_reserve).
    uint64_t reserved_end = 0;
    bool reserve_failed = false;  // written without a reserve from then on
    // The open file: always for the active segment; for a sealed one only while the log has no
    // file cache, else null and the file lives in the cache under `cache_key` (partition_log::
    // file_of opens it on demand).
    std::shared_ptr<file> log_file;
    const uint64_t cache_key = file_cache::new_key();
    std::vector<offset_index_entry> offset_index;
    std::vector<time_index_entry> time_index;

    bool empty() const { return size_bytes == 0; }

    // Records that the batch with header `h` now sits at `position` (= size_bytes before it).
    void track(const batch_header& h, uint64_t position, uint32_t index_interval_bytes);

    // The position of the indexed batch with the largest base offset <= target (0 if none).
    uint64_t position_floor(offset_t target) const;

    // An offset from which a search for the first record with timestamp >= t may start.
    offset_t time_floor(timestamp_ms_t t) const;

    // Forgets everything: the segment is about to be re-tracked from position 0.
    void reset_tracking();

    // Takes the state that loaded index files describe (see load_segment_indexes).
    void adopt(const struct index_summary& s);

    // Whether a batch with `last_offset` still fits the 32-bit relative offsets of the indexes.
    bool fits_relative(offset_t last_offset) const {
        return last_offset - base_offset <= int64_t{UINT32_MAX};
    }

  private:
    uint64_t bytes_since_index_entry_ = 0;
};

// Whether a batch at `base` with `last_offset_delta` (>= 0, check_batch's rule) ends below the
// largest offset, so that its next offset is representable. Offsets near INT64_MAX come only
// from a damaged or hand-made directory (a segment named 09223372036854775807.log).
inline bool offsets_fit(offset_t base, int32_t last_offset_delta) {
    return last_offset_delta >= 0 && base.value() >= 0 &&
           base.value() < INT64_MAX - int64_t{last_offset_delta};
}

// File names: the base offset as 20 decimal digits, as Kafka names them.
std::filesystem::path segment_log_path(const std::filesystem::path& dir, offset_t base);
std::filesystem::path segment_index_path(const std::filesystem::path& dir, offset_t base);
std::filesystem::path segment_time_index_path(const std::filesystem::path& dir, offset_t base);

// The suffix of a deleted segment's files between their rename and their unlink.
inline constexpr std::string_view deleted_suffix = ".deleted";

// Writes the recovery-point checkpoint of the log in `dir` (log_open.cpp).
result<void> store_recovery_point(file_system& fs, const std::filesystem::path& dir, offset_t at);

// The compaction checkpoint of the log in `dir` (log_open.cpp): where gaps may end (every gap
// compaction made, or a follower replicated, ends at or below it) and the first dirty offset.
struct cleaner_state {
    offset_t gaps_end{0};
    offset_t first_dirty{0};
};
result<void> store_cleaner_state(file_system& fs, const std::filesystem::path& dir,
                                 const cleaner_state& s);

// Removes a segment's log and index files (missing ones are fine).
result<void> remove_segment_files(file_system& fs, const std::filesystem::path& dir, offset_t base);

// Writes both index files of `seg` (temporary file, then rename). They are not fsynced: an index
// is an optimisation, and one that fails its checks on open is rebuilt from the log.
result<void> write_segment_indexes(file_system& fs, const std::filesystem::path& dir,
                                   const segment& seg);

// An index file larger than this is damaged (a 2 GiB segment indexed every batch of minimal size
// stays well below it).
inline constexpr uint64_t segment_index_file_max = 512ull << 20;

// What the index files say about the log file they were written for.
struct index_summary {
    uint64_t log_size;
    offset_t next_offset;
    timestamp_ms_t max_timestamp;
    timestamp_ms_t first_batch_timestamp;
    leader_epoch_t last_epoch;
};

// Loads both index files into `seg` if both pass every check (size, magic, CRC, monotonic
// entries inside `log_size`) and agree; nullopt otherwise, with `seg`'s indexes left empty.
result<std::optional<index_summary>> load_segment_indexes(file_system& fs,
                                                          const std::filesystem::path& dir,
                                                          segment& seg);

// The outcome of walking a segment's file from some position.
struct scan_result {
    uint64_t valid_end;  // position just after the last valid batch
    bool clean;          // true if valid data reached the end of the file
};

// Walks the batches of `seg` from `position` (which must follow the batches already tracked),
// validating each: header, size inside the file, CRC (check_batch, as on append),
// base offset == seg.next_offset (or past it up to `gaps_end`, where compaction left gaps), leader
// epoch not below the previous one. Tracks every valid batch into `seg`. Stops at the first
// invalid or incomplete batch. I/O errors are returned.
result<scan_result> scan_segment(segment& seg, uint64_t position, uint64_t file_size,
                                 uint32_t index_interval_bytes, offset_t gaps_end);

// Whether a batch or segment at `base` may follow offsets that ended at `next`: right after them,
// or past a gap that compaction left (which ends at `gaps_end` at the latest). Anywhere else a
// gap is damage: a lost tail, or a flipped bit in a base offset (outside the CRC).
inline bool follows(offset_t next, offset_t base, offset_t gaps_end) {
    return base == next || (base > next && base <= gaps_end);
}

}  // namespace sluice::storage
