#include "segment.h"

#include <algorithm>

#include <fmt/format.h>

namespace sluice::storage {

void segment::track(const batch_header& h, uint64_t position, uint32_t index_interval_bytes) {
    if (first_batch_timestamp == no_timestamp) {
        first_batch_timestamp = h.max_timestamp;
    }
    if (h.max_timestamp > max_timestamp) {
        max_timestamp = h.max_timestamp;
    }
    // Like Kafka: an entry points at the batch that follows at least `interval` bytes since the
    // previous entry. The first batch needs none: position 0 is the implicit floor.
    if (position > 0 && bytes_since_index_entry_ >= index_interval_bytes) {
        auto rel = uint32_t(h.base_offset - base_offset);
        offset_index.push_back({rel, uint32_t(position)});
        if (time_index.empty() || max_timestamp.value() > time_index.back().timestamp) {
            time_index.push_back({max_timestamp.value(), rel});
        }
        bytes_since_index_entry_ = 0;
    }
    bytes_since_index_entry_ += h.size_bytes();
    next_offset = h.next_offset();
    last_epoch = h.leader_epoch;
    size_bytes = position + h.size_bytes();
}

uint64_t segment::position_floor(offset_t target) const {
    if (target <= base_offset) {
        return 0;
    }
    auto rel = uint64_t(target - base_offset);
    auto it = std::upper_bound(
        offset_index.begin(), offset_index.end(), rel,
        [](uint64_t r, const offset_index_entry& e) { return r < e.relative_offset; });
    return it == offset_index.begin() ? 0 : std::prev(it)->position;
}

offset_t segment::time_floor(timestamp_ms_t t) const {
    // Entries are sorted by timestamp; the last one below t bounds everything before it.
    auto it =
        std::lower_bound(time_index.begin(), time_index.end(), t.value(),
                         [](const time_index_entry& e, int64_t ts) { return e.timestamp < ts; });
    return it == time_index.begin() ? base_offset
                                    : base_offset + int64_t{std::prev(it)->relative_offset};
}

void segment::reset_tracking() {
    next_offset = base_offset;
    max_timestamp = no_timestamp;
    first_batch_timestamp = no_timestamp;
    last_epoch = no_leader_epoch;
    size_bytes = 0;
    offset_index.clear();
    time_index.clear();
    bytes_since_index_entry_ = 0;
}

void segment::adopt(const index_summary& s) {
    next_offset = s.next_offset;
    max_timestamp = s.max_timestamp;
    first_batch_timestamp = s.first_batch_timestamp;
    last_epoch = s.last_epoch;
    size_bytes = s.log_size;
    bytes_since_index_entry_ =
        size_bytes - (offset_index.empty() ? 0 : offset_index.back().position);
}

namespace {

std::filesystem::path named(const std::filesystem::path& dir, offset_t base, const char* ext) {
    return dir / fmt::format("{:020d}{}", base.value(), ext);
}

}  // namespace

std::filesystem::path segment_log_path(const std::filesystem::path& dir, offset_t base) {
    return named(dir, base, ".log");
}
std::filesystem::path segment_index_path(const std::filesystem::path& dir, offset_t base) {
    return named(dir, base, ".index");
}
std::filesystem::path segment_time_index_path(const std::filesystem::path& dir, offset_t base) {
    return named(dir, base, ".timeindex");
}

result<void> remove_segment_files(file_system& fs, const std::filesystem::path& dir,
                                  offset_t base) {
    // The log file first: index files without it are orphans that the next open removes.
    SLUICE_TRY(fs.remove(segment_log_path(dir, base)));
    SLUICE_TRY(fs.remove(segment_index_path(dir, base)));
    return fs.remove(segment_time_index_path(dir, base));
}

}  // namespace sluice::storage
