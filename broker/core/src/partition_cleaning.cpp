// A partition's side of compaction: how dirty its log is, a pass's plan, and installing it.
#include <algorithm>

#include "sluice/core/logging.h"
#include "sluice/core/partition.h"

namespace sluice::broker {

std::optional<double> partition::cleaning_due() const {
    if (!log_ || log_->failed() || !opts_.settings.cleanup_compact) {
        return std::nullopt;
    }
    const double ratio = log_->dirty_ratio(state_.high_watermark());
    if (ratio <= 0 || ratio < opts_.settings.min_cleanable_dirty_ratio) {
        return std::nullopt;
    }
    return ratio;
}

std::optional<partition::cleaning_job> partition::plan_cleaning() const {
    if (!log_ || !opts_.settings.cleanup_compact) {
        return std::nullopt;
    }
    auto plan = log_->plan_cleaning(state_.high_watermark());
    if (!plan) {
        return std::nullopt;
    }
    cleaning_job job{std::move(*plan), {}};
    job.options.now = opts_.time->now();
    job.options.delete_retention_ms = opts_.settings.delete_retention_ms;
    // A producer's last batch's header is what a restart rebuilds its sequence from
    // (producer_state.h).
    for (const auto& [id, entry] : producers_->state().entries()) {
        job.options.keep_headers.push_back(entry.batches.back().last_offset);
    }
    std::sort(job.options.keep_headers.begin(), job.options.keep_headers.end());
    return job;
}

bool partition::install_cleaned(storage::clean_outcome out) {
    if (!log_) {
        return false;
    }
    const uint64_t before = out.bytes_before;
    const uint64_t after = out.bytes_after;
    const uint64_t removed = out.records_removed;
    const offset_t dirty = log_->first_dirty_offset();
    auto installed = log_->install_cleaned(std::move(out));
    if (!installed) {
        report("compaction", installed.error());
        return false;
    }
    if (installed.value() > 0) {
        logging::info("{}-{}: compacted {} segment(s) from {} to {} bytes, {} record(s) removed",
                      topic(), id(), installed.value(), before, after, removed);
    }
    return installed.value() > 0 || log_->first_dirty_offset() > dirty;
}

}  // namespace sluice::broker
