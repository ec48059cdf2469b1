// Fuzz target: a segment's two index files (storage/src/segment_index_file.cpp; grammar in
// docs/storage-format.md), loaded with load_segment_indexes from an in-memory file system.
//
// Input: a bundle (bundle.h) of three files: the segment's base offset (8 bytes, big-endian;
// its sign bit is dropped, as segment names hold no negative offsets), the .index file and the
// .timeindex file. When the load accepts them, checks:
//   - every offset entry is found again by position_floor, and time_floor of every time entry's
//     timestamp lands at or before its offset;
//   - write_segment_indexes of the loaded state gives back exactly the input files (the format
//     has one encoding per state).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "bundle.h"
#include "memory_fs.h"
#include "require.h"
#include "segment.h"
#include "sluice/protocol/byte_order.h"

namespace {

using namespace sluice;
using storage::segment;

using fuzz::require;

bool same(const std::vector<std::byte>& a, fuzz::bytes_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto files = fuzz::split_bundle({reinterpret_cast<const std::byte*>(data), size}, 3);
    std::byte base_bytes[8]{};
    std::copy_n(files[0].begin(), std::min<size_t>(8, files[0].size()), base_bytes);
    const offset_t base{load_be<int64_t>(base_bytes) & INT64_MAX};

    const std::filesystem::path dir = "/log/topic-0";
    fuzz::memory_fs fs;
    fs.put(storage::segment_index_path(dir, base), files[1]);
    fs.put(storage::segment_time_index_path(dir, base), files[2]);
    auto log_file = fs.open(storage::segment_log_path(dir, base), storage::open_mode::read_write);
    require(log_file.has_value());
    segment seg(base, std::move(log_file).value(), timestamp_ms_t::min());

    auto loaded = storage::load_segment_indexes(fs, dir, seg);
    require(loaded.has_value());  // the memory file system has no I/O errors
    if (!loaded.value()) {
        require(seg.offset_index.empty() && seg.time_index.empty());
        return 0;
    }
    const storage::index_summary& sum = *loaded.value();
    seg.adopt(sum);

    for (const auto& e : seg.offset_index) {
        require(seg.position_floor(base + int64_t{e.relative_offset}) == e.position);
    }
    for (const auto& e : seg.time_index) {
        require(seg.time_floor(timestamp_ms_t{e.timestamp}) <= base + int64_t{e.relative_offset});
    }
    require(seg.position_floor(sum.next_offset) < std::max<uint64_t>(sum.log_size, 1));

    const std::filesystem::path copy = "/log/copy-0";
    require(fs.create_directories(copy).has_value());
    require(storage::write_segment_indexes(fs, copy, seg).has_value());
    require(same(fs.get(storage::segment_index_path(copy, base)), files[1]));
    require(same(fs.get(storage::segment_time_index_path(copy, base)), files[2]));
    return 0;
}
