#include "fetch_cursor.h"

#include <algorithm>

namespace sluice::detail {
namespace {

std::optional<std::string_view> to_view(const std::optional<bytes_view>& b) {
    if (!b) {
        return std::nullopt;
    }
    return as_string(*b);
}

}  // namespace

fetch_cursor::fetch_cursor(completed_fetch f)
    : f_(std::make_shared<const completed_fetch>(std::move(f))),
      reader_(f_->records, /*allow_partial_tail=*/true, offset_rule::compacted) {}

result<void> fetch_cursor::read(int64_t& position, size_t max, records_builder& out) {
    bool kept = false;
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
            if (!kept) {
                out.keep(f_);
                kept = true;
            }
            consumer_record_ref& c = out.add();
            c.topic = f_->tp.topic;
            c.partition = f_->tp.partition;
            c.offset = offset;
            c.timestamp_ms = log_append_time ? h.max_timestamp.value()
                                             : h.base_timestamp.value() + r.timestamp_delta;
            c.key = to_view(r.key);
            c.value = to_view(r.value);
            if (r.header_count > 0) {
                headers_.clear();
                r.headers(headers_);
                out.set_headers(headers_);
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
