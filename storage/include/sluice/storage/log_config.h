// Settings of one partition log. Names follow Kafka's topic configs (segment.bytes, segment.ms,
// segment.index.bytes's sibling index.interval.bytes, retention.bytes, retention.ms) so the broker
// maps them one to one.
#pragma once

#include <cstdint>

namespace sluice::storage {

enum class flush_mode {
    // Acknowledge once the batch is in the page cache (Kafka's default). Survives a process
    // crash, not a machine crash.
    page_cache,
    // Acknowledge after fsync. Many appends share one fsync (group commit) on the flusher's
    // thread; the appending thread never waits for it.
    fsync,
};

struct log_config {
    // Roll to a new segment before one would grow past this (segment.bytes).
    uint64_t segment_bytes = 1ull << 30;
    // Roll when the active segment is older than this (segment.ms): age counts from its first
    // batch's timestamp, but not from before this process created it.
    int64_t segment_ms = 7ll * 24 * 3600 * 1000;
    // Bytes between entries of the sparse offset and time indexes (index.interval.bytes).
    uint32_t index_interval_bytes = 4096;
    // Delete the oldest segments while the log is larger than this; -1: no limit (retention.bytes).
    int64_t retention_bytes = -1;
    // Delete segments whose newest record is older than this; -1: no limit (retention.ms).
    int64_t retention_ms = 7ll * 24 * 3600 * 1000;
    flush_mode flush = flush_mode::page_cache;
    // Reserve the active segment's disk blocks a few MiB ahead of its writes (preallocate):
    // writing into blocks already allocated costs the file system about half the CPU of
    // allocating them on each write (ext4's delayed allocation, per 4 KiB block). The reserve
    // past a segment's end is freed when it is sealed and when the log closes.
    bool preallocate = true;
};

// How far ahead of its writes the active segment's blocks are reserved (at most segment.bytes):
// one fallocate per this many bytes written, and at most this much disk held past a partition's
// end.
inline constexpr uint64_t preallocate_step_bytes = 4ull << 20;

// Bounds that configs may not cross.
inline constexpr uint64_t segment_bytes_min = 4096;
// Offset-index positions are 32-bit, as in Kafka; a segment never exceeds this.
inline constexpr uint64_t segment_bytes_max = (1ull << 31) - 1;

}  // namespace sluice::storage
