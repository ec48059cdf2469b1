#include "sluice/controller/snapshot_file.h"

#include "sluice/protocol/byte_order.h"
#include "sluice/protocol/crc32c.h"

namespace sluice::controller {
namespace {

constexpr std::string_view magic = "SLSN";
constexpr uint32_t version = 2;
constexpr size_t footer_bytes = 4 + 8 + 8 + 8 + 4 + 4 + 4;
// More voters than any quorum has: the count is damaged.
constexpr uint64_t voters_max = 1024;
// The CRC is checked reading this much at a time.
constexpr size_t read_buffer_bytes = 1 << 20;

}  // namespace

result<std::optional<snapshot_file_info>> inspect_snapshot_file(storage::file& f,
                                                                std::string& why) {
    SLUICE_TRY(uint64_t size, f.size());
    if (size < footer_bytes || size > uint64_t(INT64_MAX)) {
        why = "too short for a snapshot";
        return std::optional<snapshot_file_info>{};
    }
    std::byte footer[footer_bytes];
    SLUICE_TRY(size_t got, f.read_at(size - footer_bytes, footer));
    if (got != footer_bytes ||
        std::string_view(reinterpret_cast<const char*>(footer + 32), 4) != magic) {
        std::byte head[8];
        SLUICE_TRY(size_t read, f.read_at(0, head));
        // Version 1 put the magic and version first and the data last.
        const bool first_format =
            read == 8 && std::string_view(reinterpret_cast<const char*>(head), 4) == magic &&
            load_be<uint32_t>(head + 4) == 1;
        why = first_format ? "written in the first snapshot format (version 1), which this "
                             "version does not read"
                           : "bad magic";
        return std::optional<snapshot_file_info>{};
    }
    // Every byte before the CRC, through one buffer.
    uint32_t crc = 0;
    std::vector<std::byte> buffer(read_buffer_bytes);
    for (uint64_t at = 0; at < size - 4;) {
        const size_t want = size_t(std::min<uint64_t>(buffer.size(), size - 4 - at));
        SLUICE_TRY(size_t n, f.read_at(at, std::span(buffer).first(want)));
        if (n == 0) {
            why = "shorter than its size";
            return std::optional<snapshot_file_info>{};
        }
        crc = crc32c::extend(crc, std::span(buffer).first(n));
        at += n;
    }
    if (load_be<uint32_t>(footer + 36) != crc) {
        why = "bad CRC";
        return std::optional<snapshot_file_info>{};
    }
    if (load_be<uint32_t>(footer + 28) != version) {
        why = "unknown version";
        return std::optional<snapshot_file_info>{};
    }
    snapshot_file_info info;
    const uint64_t voters = load_be<uint32_t>(footer);
    info.snap.id.end_offset = offset_t(load_be<int64_t>(footer + 4));
    info.snap.id.term = term_t(load_be<int64_t>(footer + 12));
    const uint64_t data = load_be<uint64_t>(footer + 20);
    if (voters > voters_max || voters > (size - footer_bytes) / 4 ||
        data != size - footer_bytes - 4 * voters) {
        why = "its lengths do not match the file";
        return std::optional<snapshot_file_info>{};
    }
    if (info.snap.id.end_offset < offset_t(0) || info.snap.id.term < term_t(0)) {
        why = "negative offset or term";
        return std::optional<snapshot_file_info>{};
    }
    std::vector<std::byte> ids(size_t(4 * voters));
    SLUICE_TRY(size_t read, f.read_at(data, ids));
    if (read != ids.size()) {
        why = "shorter than its size";
        return std::optional<snapshot_file_info>{};
    }
    for (size_t at = 0; at < ids.size(); at += 4) {
        info.snap.voters.push_back(node_id_t(load_be<int32_t>(ids.data() + at)));
    }
    info.snap.size_bytes = int64_t(size);
    info.data_bytes = int64_t(data);
    return std::optional<snapshot_file_info>(std::move(info));
}

result<std::unique_ptr<snapshot_writer>> snapshot_writer::create(
    storage::file_system& fs, const std::filesystem::path& path) {
    SLUICE_TRY(fs.remove(path));
    SLUICE_TRY(auto f, fs.open(path, storage::open_mode::read_write));
    return std::unique_ptr<snapshot_writer>(new snapshot_writer(std::move(f)));
}

result<void> snapshot_writer::write(std::span<const std::byte> bytes) {
    size_t written = 0;  // a short file fails its checks: no need to cut it here
    SLUICE_TRY(storage::append_all(*f_, bytes, written));
    crc_ = crc32c::extend(crc_, bytes);
    return success();
}

result<void> snapshot_writer::append(std::span<const std::byte> bytes) {
    SLUICE_TRY(write(bytes));
    data_bytes_ += int64_t(bytes.size());
    return success();
}

result<int64_t> snapshot_writer::finish(const raft::snapshot_id& id,
                                        const std::vector<node_id_t>& voters) {
    std::vector<std::byte> tail;
    for (node_id_t v : voters) {
        put_be<int32_t>(tail, v.value());
    }
    put_be<uint32_t>(tail, uint32_t(voters.size()));
    put_be<int64_t>(tail, id.end_offset.value());
    put_be<int64_t>(tail, id.term.value());
    put_be<uint64_t>(tail, uint64_t(data_bytes_));
    put_be<uint32_t>(tail, version);
    for (char c : magic) {
        tail.push_back(std::byte(c));
    }
    SLUICE_TRY(write(tail));
    std::vector<std::byte> crc;
    put_be<uint32_t>(crc, crc_);
    size_t written = 0;
    SLUICE_TRY(storage::append_all(*f_, crc, written));
    SLUICE_TRY(f_->sync());
    return data_bytes_ + int64_t(tail.size() + crc.size());
}

}  // namespace sluice::controller
