// Validation walk over a segment file, used by recovery, index rebuilds and truncation.
#include <algorithm>
#include <vector>

#include "segment.h"

namespace sluice::storage {
namespace {

// Bytes read from the file at a time; a batch larger than this is read whole on its own.
constexpr size_t scan_chunk_bytes = 1u << 20;

}  // namespace

result<scan_result> scan_segment(segment& seg, uint64_t position, uint64_t file_size,
                                 uint32_t index_interval_bytes, offset_t gaps_end) {
    std::vector<std::byte> buf;
    uint64_t buf_pos = position;  // file position of buf[0]

    // Makes buf hold [pos, pos + len); false if the file ends first.
    auto ensure = [&](uint64_t pos, size_t len) -> result<bool> {
        if (pos + len > file_size) {
            return false;
        }
        if (pos >= buf_pos && pos + len <= buf_pos + buf.size()) {
            return true;
        }
        size_t want = std::max(len, size_t(std::min<uint64_t>(scan_chunk_bytes, file_size - pos)));
        buf.resize(want);
        SLUICE_TRY(read_exact(*seg.log_file, pos, buf));
        buf_pos = pos;
        return true;
    };

    while (position < file_size) {
        SLUICE_TRY(bool have_header, ensure(position, batch_format::header_size));
        if (!have_header) {
            return scan_result{position, false};
        }
        auto at = [&] { return bytes_view(buf).subspan(size_t(position - buf_pos)); };
        auto h = read_header(at());
        if (!h) {
            return scan_result{position, false};
        }
        SLUICE_TRY(bool have_batch, ensure(position, h.value().size_bytes()));
        if (!have_batch) {
            return scan_result{position, false};
        }
        // The same check as append: what the log accepted, recovery accepts.
        auto checked = check_batch(at().first(h.value().size_bytes()));
        if (!checked) {
            return scan_result{position, false};
        }
        const batch_header& hdr = checked.value();
        bool continuous = follows(seg.next_offset, hdr.base_offset, gaps_end) &&
                          offsets_fit(hdr.base_offset, hdr.last_offset_delta) &&
                          seg.fits_relative(hdr.last_offset());
        bool epoch_ok = seg.last_epoch == no_leader_epoch || hdr.leader_epoch >= seg.last_epoch;
        if (!continuous || !epoch_ok) {
            return scan_result{position, false};
        }
        seg.track(hdr, position, index_interval_bytes);
        position += hdr.size_bytes();
    }
    return scan_result{position, true};
}

}  // namespace sluice::storage
