#include "sluice/cli/log_dump.h"

#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sluice/protocol/record_batch.h"

namespace sluice::cli {
namespace {

// Printable bytes as they are; others (and backslash) as \xNN, so that a record is one line.
std::string printable(std::optional<bytes_view> b) {
    if (!b) {
        return "null";
    }
    std::string out;
    out.reserve(b->size());
    for (std::byte x : *b) {
        const auto c = static_cast<unsigned char>(x);
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out.push_back(char(c));
        } else {
            out += fmt::format("\\x{:02x}", c);
        }
    }
    return out;
}

constexpr std::string_view codec_names[] = {"none", "gzip", "snappy", "lz4", "zstd"};

std::string batch_line(const batch_header& h, int64_t position, bool valid) {
    const uint16_t codec = h.compression();
    return fmt::format(
        "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} producerId: {} "
        "producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} isControl: {} position: "
        "{} {}: {} size: {} magic: {} compresscodec: {} crc: {} isvalid: {}",
        h.base_offset, h.last_offset(), h.record_count, h.base_sequence, h.last_sequence(),
        h.producer_id, h.producer_epoch, h.leader_epoch,
        (h.attributes & batch_format::transactional_bit) != 0, h.is_control(), position,
        (h.attributes & batch_format::timestamp_type_bit) != 0 ? "LogAppendTime" : "CreateTime",
        h.max_timestamp, h.size_bytes(), h.magic,
        codec < std::size(codec_names) ? codec_names[codec] : std::string_view("unknown"), h.crc,
        valid);
}

}  // namespace

dump_summary dump_log(std::istream& in, bool records,
                      const std::function<void(const std::string&)>& line) {
    dump_summary s;
    std::vector<std::byte> buf(batch_format::header_size);
    std::vector<header_view> headers;
    for (;;) {
        in.read(reinterpret_cast<char*>(buf.data()), std::streamsize(batch_format::header_size));
        const auto got = size_t(in.gcount());
        if (got == 0) {
            return s;
        }
        if (got < batch_format::header_size) {
            s.stopped = fmt::format(
                "{} bytes at position {} are less than a batch header (a "
                "write cut short)",
                got, s.position);
            s.position += int64_t(got);
            return s;
        }
        auto h = read_header(bytes_view(buf.data(), batch_format::header_size));
        if (!h) {
            s.stopped =
                fmt::format("position {}: not a batch header: {}", s.position, h.error().message());
            return s;
        }
        const size_t size = h.value().size_bytes();
        buf.resize(size);
        in.read(reinterpret_cast<char*>(buf.data() + batch_format::header_size),
                std::streamsize(size - batch_format::header_size));
        const auto body = size_t(in.gcount());
        if (body < size - batch_format::header_size) {
            s.stopped = fmt::format("position {}: a batch of {} bytes, of which only {} are there",
                                    s.position, size, body + batch_format::header_size);
            s.position += int64_t(body + batch_format::header_size);
            return s;
        }
        const bytes_view bytes(buf.data(), size);
        auto checked = check_batch(bytes);
        auto view = checked ? batch_view::parse(bytes, offset_rule::compacted)
                            : result<batch_view>(checked.error());
        // A batch of a codec this build cannot read is still a valid batch.
        const bool valid =
            checked &&
            (view || view.error() == make_error_code(errc::unsupported_compression_type));
        line(batch_line(h.value(), s.position, valid));
        ++s.batches;
        s.invalid += valid ? 0 : 1;
        s.records += h.value().record_count;
        if (records) {
            if (!view) {
                const std::error_code why = checked ? view.error() : checked.error();
                line(fmt::format("| records not shown: {}", why.message()));
            } else {
                record_iterator it = view.value().records();
                const batch_header& bh = view.value().header();
                for (record_view r; it.next(r);) {
                    headers.clear();
                    r.headers(headers);
                    std::vector<std::string> keys;
                    for (const auto& hv : headers) {
                        keys.push_back(printable(hv.key));
                    }
                    line(fmt::format(
                        "| offset: {} {}: {} keySize: {} valueSize: {} headerKeys: "
                        "[{}] key: {} payload: {}",
                        bh.base_offset + r.offset_delta,
                        (bh.attributes & batch_format::timestamp_type_bit) != 0 ? "LogAppendTime"
                                                                                : "CreateTime",
                        (bh.attributes & batch_format::timestamp_type_bit) != 0
                            ? bh.max_timestamp.value()
                            : bh.base_timestamp.value() + r.timestamp_delta,
                        r.key ? int64_t(r.key->size()) : -1,
                        r.value ? int64_t(r.value->size()) : -1, fmt::join(keys, ","),
                        printable(r.key), printable(r.value)));
                }
            }
        }
        s.position += int64_t(size);
        buf.resize(batch_format::header_size);
    }
}

}  // namespace sluice::cli
