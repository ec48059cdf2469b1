#include "sluice/core/batch_validation.h"

#include <fmt/format.h>

#include "sluice/protocol/batch_format.h"
#include "sluice/protocol/byte_order.h"

namespace sluice::broker {
namespace {

bool all_keyed(const batch_view& v) {
    auto it = v.records();
    record_view r;
    while (it.next(r)) {
        if (!r.key) {
            return false;
        }
    }
    return true;
}

}  // namespace

batch_check validate_batches(bytes_view records, size_t max_batch_bytes, check_depth depth,
                             bool keys_required) {
    namespace bf = batch_format;
    batch_check out;
    if (records.empty()) {
        out.error = errc::invalid_record;
        out.message = "no record batch";
        return out;
    }
    size_t pos = 0;
    while (pos < records.size()) {
        bytes_view rest = records.subspan(pos);
        auto fail = [&](errc e, std::string_view why) {
            out.error = e;
            out.message =
                fmt::format("record batch {} at byte {}: {}", out.headers.size(), pos, why);
            out.headers.clear();
            return out;
        };
        if (rest.size() < bf::length_field_end) {
            return fail(errc::corrupt_message, "truncated batch header");
        }
        // The size comes first so that an oversized batch is refused without reading it.
        int64_t length = load_be<int32_t>(rest.data() + bf::batch_length_pos);
        int64_t size = int64_t(bf::length_field_end) + length;
        if (length >= 0 && uint64_t(size) > max_batch_bytes) {
            return fail(errc::message_too_large,
                        fmt::format("{} bytes is larger than the limit of {} bytes "
                                    "(max.message.bytes)",
                                    size, max_batch_bytes));
        }
        auto header = read_header(rest);
        if (!header) {
            return fail(errc::corrupt_message, "invalid batch header");
        }
        if (header.value().size_bytes() > rest.size()) {
            return fail(errc::corrupt_message, "batch extends past the end of the records");
        }
        const bytes_view one = rest.first(header.value().size_bytes());
        bool keyless = false;
        auto check = [&]() -> result<batch_header> {
            if (depth == check_depth::crc) {
                return check_batch(one);
            }
            auto view = batch_view::parse(one);
            if (!view) {
                return view.error();
            }
            if (keys_required && !all_keyed(view.value())) {
                keyless = true;
                return make_error_code(errc::invalid_record);
            }
            return view.value().header();
        };
        const auto checked = check();
        if (!checked) {
            auto e = checked.error().category() == sluice_category()
                         ? static_cast<errc>(checked.error().value())
                         : errc::corrupt_message;
            if (keyless) {
                return fail(e,
                            "a record without a key: a compacted topic (cleanup.policy=compact) "
                            "takes only records with a key");
            }
            return fail(
                e, e == errc::corrupt_message ? "CRC or record framing is wrong" : errc_name(e));
        }
        out.headers.push_back(checked.value());
        pos += header.value().size_bytes();
    }
    return out;
}

}  // namespace sluice::broker
