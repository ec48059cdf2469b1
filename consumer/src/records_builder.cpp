#include "records_builder.h"

namespace sluice::detail {

void records_builder::keep(std::shared_ptr<const void> owner) {
    if (out_.keep_.empty() || out_.keep_.back() != owner) {
        out_.keep_.push_back(std::move(owner));
    }
}

void records_builder::set_headers(std::span<const header_view> headers) {
    const size_t first = out_.headers_.size();
    for (const header_view& h : headers) {
        header_ref& r = out_.headers_.emplace_back();
        r.key = as_string(h.key);
        if (h.value) {
            r.value = as_string(*h.value);
        }
    }
    pending_.push_back({out_.records_.size() - 1, first, headers.size()});
}

consumer_records records_builder::finish() && {
    for (const pending_headers& p : pending_) {
        out_.records_[p.record].headers =
            std::span<const header_ref>(out_.headers_.data() + p.first, p.count);
    }
    pending_.clear();
    return std::move(out_);
}

}  // namespace sluice::detail
