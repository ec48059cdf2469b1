// The log's side of a compaction pass: what to clean, installing what was cleaned, and the first
// dirty offset. See cleaner.h and log.h.
#include <algorithm>

#include "segment.h"
#include "sluice/storage/log.h"

namespace sluice::storage {

std::optional<clean_plan> partition_log::plan_cleaning(offset_t upper) const {
    if (closed_ || failed_->load() || segments_.size() < 2) {
        return std::nullopt;
    }
    clean_plan p;
    p.dir = opts_.dir;
    p.fs = opts_.fs;
    p.index_interval_bytes = opts_.config.index_interval_bytes;
    p.truncations = truncations_;
    for (size_t i = 0; i + 1 < segments_.size(); ++i) {
        const segment& s = *segments_[i];
        // A segment ends where the next one starts (a cleaned one's last records may be gone).
        const offset_t next = segments_[i + 1]->base_offset;
        if (next > upper) {
            break;
        }
        p.segments.push_back({s.base_offset, next, s.size_bytes, s.cache_key, s.last_epoch});
    }
    if (p.segments.empty()) {
        return std::nullopt;
    }
    p.end = p.segments.back().next;
    p.first_dirty = std::clamp(cleaner_.first_dirty, start_offset(), p.end);
    return p;
}

result<size_t> partition_log::install_cleaned(clean_outcome&& out) {
    SLUICE_TRY(check_writable());
    file_system& fs = *opts_.fs;
    size_t replaced = 0;
    if (out.plan_truncations != truncations_) {
        for (const cleaned_segment& c : out.cleaned) {
            (void)fs.remove(c.path);  // open() removes it if this fails
        }
        return replaced;
    }
    // Recovery must take the gaps the cleaned segments bring for gaps, not for damage: the
    // bound goes up before the first of them is in place.
    if (!out.cleaned.empty() && out.cleaned.back().old.next > cleaner_.gaps_end) {
        SLUICE_TRY(store_cleaner(out.cleaned.back().old.next, cleaner_.first_dirty));
    }
    for (cleaned_segment& c : out.cleaned) {
        auto it = std::find_if(segments_.begin(), segments_.end(),
                               [&](const auto& s) { return s->base_offset == c.old.base; });
        const bool same = it != segments_.end() && std::next(it) != segments_.end() &&
                          (*it)->cache_key == c.old.key && (*it)->size_bytes == c.old.size_bytes;
        if (!same) {
            (void)fs.remove(c.path);  // open() removes it if this fails
            continue;
        }
        // The one step that changes the log on disk: before it the segment is the old one,
        // after it the cleaned one, both whole (the cleaned file was fsynced).
        SLUICE_TRY(fs.rename(c.path, segment_log_path(opts_.dir, c.old.base)));
        // Each rename durable before the next: a crash keeps a prefix of the pass, so no
        // tombstone is gone while an older record of its key, in an earlier segment, stays.
        SLUICE_TRY(sync_or_fail(*dir_handle_));
        auto seg = std::make_unique<segment>(*c.replacement);
        if (opts_.files != nullptr) {
            opts_.files->forget((*it)->cache_key);
        } else {
            SLUICE_TRY(seg->log_file,
                       fs.open(segment_log_path(opts_.dir, c.old.base), open_mode::read_write));
        }
        // An index that fails to be written leaves the old one, which no longer matches the
        // file's size: open() rebuilds it.
        (void)write_segment_indexes(fs, opts_.dir, *seg);
        *it = std::move(seg);
        ++replaced;
    }
    if (out.next_dirty > cleaner_.first_dirty) {
        SLUICE_TRY(store_cleaner(cleaner_.gaps_end, out.next_dirty));
    }
    return replaced;
}

offset_t partition_log::first_dirty_offset() const {
    return std::max(cleaner_.first_dirty, start_offset());
}

double partition_log::dirty_ratio(offset_t upper) const {
    uint64_t total = 0;
    uint64_t dirty = 0;
    for (size_t i = 0; i + 1 < segments_.size(); ++i) {
        if (segments_[i + 1]->base_offset > upper) {
            break;
        }
        total += segments_[i]->size_bytes;
        if (segments_[i + 1]->base_offset > cleaner_.first_dirty) {
            dirty += segments_[i]->size_bytes;
        }
    }
    return total == 0 ? 0.0 : double(dirty) / double(total);
}

result<void> partition_log::store_cleaner(offset_t gaps_end, offset_t first_dirty) {
    SLUICE_TRY(store_cleaner_state(*opts_.fs, opts_.dir, {gaps_end, first_dirty}));
    cleaner_.gaps_end = gaps_end;
    cleaner_.first_dirty = first_dirty;
    return success();
}

result<void> partition_log::lower_cleaner(offset_t gaps_end, offset_t first_dirty) {
    if (cleaner_.gaps_end <= gaps_end && cleaner_.first_dirty <= first_dirty) {
        return success();
    }
    return store_cleaner(std::min(cleaner_.gaps_end, gaps_end),
                         std::min(cleaner_.first_dirty, first_dirty));
}

}  // namespace sluice::storage
