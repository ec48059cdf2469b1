#include "fetch_cursor.h"

#include <algorithm>

namespace sluice::detail {
namespace {

std::optional<std::string> to_string(const std::optional<bytes_view>& b) {
    if (!b) {
        return std::nullopt;
    }
    return std::string(as_string(*b));
}

}  // namespace

fetch_cursor::fetch_cursor(completed_fetch f)
    : f_(std::move(f)), reader_(f_.records, /*allow_partial_tail=*/true) {}

result<void> fetch_cursor::read(int64_t& position, size_t max, std::vector<consumer_record>& out) {
    while (!done_ && out.size() < max) {
        if (!batch_) {
            auto next = reader_.next();
            if (!next) {
                done_ = true;
                return next.error();
            }
            if (!next.value()) {
                done_ = true;
                break;
            }
            batch_ = *next.value();
            records_ = batch_->records();
        }
        const batch_header& h = batch_->header();
        const bool log_append_time = (h.attributes & batch_format::timestamp_type_bit) != 0;
        record_view r;
        bool more = false;
        while (out.size() < max && (more = records_.next(r))) {
            const int64_t offset = h.base_offset.value() + r.offset_delta;
            if (offset < position || h.is_control()) {
                continue;
            }
            consumer_record& c = out.emplace_back();
            c.topic = f_.tp.topic;
            c.partition = f_.tp.partition;
            c.offset = offset;
            c.timestamp_ms = log_append_time ? h.max_timestamp.value()
                                             : h.base_timestamp.value() + r.timestamp_delta;
            c.key = to_string(r.key);
            c.value = to_string(r.value);
            if (r.header_count > 0) {
                headers_.clear();
                r.headers(headers_);
                c.headers.reserve(headers_.size());
                for (const header_view& hv : headers_) {
                    c.headers.push_back(
                        header{std::string(as_string(hv.key)), to_string(hv.value)});
                }
            }
            position = offset + 1;
        }
        if (!more) {
            // The batch is finished (the loop ended on next() == false, not on `max`).
            position = std::max(position, h.next_offset().value());
            batch_.reset();
        }
    }
    return success();
}

}  // namespace sluice::detail
