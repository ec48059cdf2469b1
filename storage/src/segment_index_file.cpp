// On-disk form of a segment's indexes (grammar in docs/storage-format.md). All integers
// big-endian.
//
//   .index      entries of {u32 relative_offset, u32 position}        then the trailer
//   .timeindex  entries of {i64 timestamp, u32 relative_offset}       then the trailer
//   trailer     u64 log_size | i64 next_offset | i64 max_timestamp | i64 first_batch_timestamp |
//               i32 last_epoch | u32 entry_count | u32 magic | u32 CRC-32C of all bytes before it
//
// The trailer ties an index to the exact log file size it was written for: a log file of any
// other size makes the index stale, and it is rebuilt.
#include <vector>

#include "segment.h"
#include "sluice/protocol/byte_order.h"
#include "sluice/protocol/crc32c.h"

namespace sluice::storage {
namespace {

constexpr size_t offset_entry_size = 8;
constexpr size_t time_entry_size = 12;
constexpr size_t trailer_size = 48;
constexpr uint32_t offset_index_magic = 0x534c4f49;  // "SLOI"
constexpr uint32_t time_index_magic = 0x534c5449;    // "SLTI"

void put_trailer(std::vector<std::byte>& buf, const segment& seg, uint32_t count, uint32_t magic) {
    size_t at = buf.size();
    buf.resize(at + trailer_size);
    std::byte* p = buf.data() + at;
    store_be<uint64_t>(p, seg.size_bytes);
    store_be<int64_t>(p + 8, seg.next_offset.value());
    store_be<int64_t>(p + 16, seg.max_timestamp.value());
    store_be<int64_t>(p + 24, seg.first_batch_timestamp.value());
    store_be<int32_t>(p + 32, seg.last_epoch.value());
    store_be<uint32_t>(p + 36, count);
    store_be<uint32_t>(p + 40, magic);
    store_be<uint32_t>(p + 44, crc32c::value({buf.data(), buf.size() - 4}));
}

result<void> write_file(file_system& fs, const std::filesystem::path& path,
                        const std::vector<std::byte>& buf) {
    auto tmp = path;
    tmp += ".tmp";
    SLUICE_TRY(fs.remove(tmp));
    {
        SLUICE_TRY(auto f, fs.open(tmp, open_mode::read_write));
        size_t written = 0;
        SLUICE_TRY(append_all(*f, buf, written));
    }
    return fs.rename(tmp, path);
}

// Reads a whole index file and checks its trailer; nullopt if missing or damaged.
result<std::optional<std::vector<std::byte>>> read_checked(file_system& fs,
                                                           const std::filesystem::path& path,
                                                           size_t entry_size, uint32_t magic) {
    using none = std::optional<std::vector<std::byte>>;
    SLUICE_TRY(bool present, fs.exists(path));
    if (!present) {
        return none{};
    }
    SLUICE_TRY(auto f, fs.open(path, open_mode::read_only));
    SLUICE_TRY(uint64_t size, f->size());
    if (size < trailer_size || (size - trailer_size) % entry_size != 0 ||
        size > segment_index_file_max) {
        return none{};
    }
    std::vector<std::byte> buf(size);
    SLUICE_TRY(read_exact(*f, 0, buf));
    const std::byte* t = buf.data() + size - trailer_size;
    if (load_be<uint32_t>(t + 40) != magic ||
        load_be<uint32_t>(t + 44) != crc32c::value({buf.data(), size - 4}) ||
        load_be<uint32_t>(t + 36) != (size - trailer_size) / entry_size) {
        return none{};
    }
    return none{std::move(buf)};
}

index_summary trailer_of(const std::vector<std::byte>& buf) {
    const std::byte* t = buf.data() + buf.size() - trailer_size;
    return {load_be<uint64_t>(t), offset_t{load_be<int64_t>(t + 8)},
            timestamp_ms_t{load_be<int64_t>(t + 16)}, timestamp_ms_t{load_be<int64_t>(t + 24)},
            leader_epoch_t{load_be<int32_t>(t + 32)}};
}

bool same(const index_summary& a, const index_summary& b) {
    return a.log_size == b.log_size && a.next_offset == b.next_offset &&
           a.max_timestamp == b.max_timestamp &&
           a.first_batch_timestamp == b.first_batch_timestamp && a.last_epoch == b.last_epoch;
}

}  // namespace

result<void> write_segment_indexes(file_system& fs, const std::filesystem::path& dir,
                                   const segment& seg) {
    std::vector<std::byte> buf(seg.offset_index.size() * offset_entry_size);
    for (size_t i = 0; i < seg.offset_index.size(); ++i) {
        store_be<uint32_t>(buf.data() + i * offset_entry_size, seg.offset_index[i].relative_offset);
        store_be<uint32_t>(buf.data() + i * offset_entry_size + 4, seg.offset_index[i].position);
    }
    put_trailer(buf, seg, uint32_t(seg.offset_index.size()), offset_index_magic);
    SLUICE_TRY(write_file(fs, segment_index_path(dir, seg.base_offset), buf));

    buf.assign(seg.time_index.size() * time_entry_size, std::byte{0});
    for (size_t i = 0; i < seg.time_index.size(); ++i) {
        store_be<int64_t>(buf.data() + i * time_entry_size, seg.time_index[i].timestamp);
        store_be<uint32_t>(buf.data() + i * time_entry_size + 8, seg.time_index[i].relative_offset);
    }
    put_trailer(buf, seg, uint32_t(seg.time_index.size()), time_index_magic);
    return write_file(fs, segment_time_index_path(dir, seg.base_offset), buf);
}

result<std::optional<index_summary>> load_segment_indexes(file_system& fs,
                                                          const std::filesystem::path& dir,
                                                          segment& seg) {
    using none = std::optional<index_summary>;
    SLUICE_TRY(auto offsets, read_checked(fs, segment_index_path(dir, seg.base_offset),
                                          offset_entry_size, offset_index_magic));
    SLUICE_TRY(auto times, read_checked(fs, segment_time_index_path(dir, seg.base_offset),
                                        time_entry_size, time_index_magic));
    if (!offsets || !times) {
        return none{};
    }
    index_summary sum = trailer_of(*offsets);
    if (!same(sum, trailer_of(*times)) || sum.next_offset < seg.base_offset ||
        !seg.fits_relative(sum.next_offset)) {
        return none{};
    }
    auto rel_end = uint64_t(sum.next_offset - seg.base_offset);

    std::vector<offset_index_entry> oi((offsets->size() - trailer_size) / offset_entry_size);
    for (size_t i = 0; i < oi.size(); ++i) {
        const std::byte* p = offsets->data() + i * offset_entry_size;
        oi[i] = {load_be<uint32_t>(p), load_be<uint32_t>(p + 4)};
        bool ordered = i == 0 || (oi[i].relative_offset > oi[i - 1].relative_offset &&
                                  oi[i].position > oi[i - 1].position);
        if (!ordered || oi[i].relative_offset >= rel_end || oi[i].position >= sum.log_size) {
            return none{};
        }
    }
    std::vector<time_index_entry> ti((times->size() - trailer_size) / time_entry_size);
    for (size_t i = 0; i < ti.size(); ++i) {
        const std::byte* p = times->data() + i * time_entry_size;
        ti[i] = {load_be<int64_t>(p), load_be<uint32_t>(p + 8)};
        bool ordered = i == 0 || (ti[i].timestamp > ti[i - 1].timestamp &&
                                  ti[i].relative_offset > ti[i - 1].relative_offset);
        if (!ordered || ti[i].relative_offset >= rel_end ||
            ti[i].timestamp > sum.max_timestamp.value()) {
            return none{};
        }
    }
    seg.offset_index = std::move(oi);
    seg.time_index = std::move(ti);
    return none{sum};
}

}  // namespace sluice::storage
