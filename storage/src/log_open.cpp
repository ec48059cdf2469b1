// Opening a log: find its segments, trust what the recovery checkpoint vouches for, validate the
// rest batch by batch and cut at the first bad byte. See log.h for the contract.
#include <algorithm>
#include <charconv>
#include <set>

#include "segment.h"
#include "sluice/protocol/byte_order.h"
#include "sluice/protocol/errc.h"
#include "sluice/storage/checkpoint.h"
#include "sluice/storage/errors.h"
#include "sluice/storage/log.h"

namespace sluice::storage {
namespace {

constexpr const char* recovery_point_file = "recovery-point.checkpoint";
constexpr const char* cleaner_file = "cleaner.checkpoint";

// "00000000000000001234.log" -> 1234 and ".log"; nullopt for any other name.
std::optional<std::pair<offset_t, std::string>> parse_segment_name(const std::string& name) {
    constexpr size_t digits = 20;
    if (name.size() <= digits || name[digits] != '.') {
        return std::nullopt;
    }
    int64_t base = 0;
    auto [end, ec] = std::from_chars(name.data(), name.data() + digits, base);
    if (ec != std::errc{} || end != name.data() + digits || base < 0) {
        return std::nullopt;
    }
    return std::pair{offset_t{base}, name.substr(digits)};
}

}  // namespace

partition_log::partition_log(log_options opts) : opts_(std::move(opts)) {}

partition_log::~partition_log() {
    fence_flusher();  // a log dropped without close(): late flusher requests write nothing
    if (opts_.files != nullptr) {
        for (const auto& seg : segments_) {
            opts_.files->forget(seg->cache_key);
        }
    }
}

result<std::unique_ptr<partition_log>> partition_log::open(log_options opts) {
    const auto& c = opts.config;
    if (c.segment_bytes < segment_bytes_min || c.segment_bytes > segment_bytes_max ||
        c.segment_ms <= 0 || (c.flush == flush_mode::fsync && opts.sync == nullptr) ||
        opts.fs == nullptr || opts.time == nullptr) {
        return make_error_code(errc::invalid_config);
    }
    std::unique_ptr<partition_log> l(new partition_log(std::move(opts)));
    SLUICE_TRY(l->recover());
    return l;
}

result<void> partition_log::recover() {
    file_system& fs = *opts_.fs;
    const auto& dir = opts_.dir;
    SLUICE_TRY(fs.create_directories(dir));
    SLUICE_TRY(auto names, fs.list(dir));

    std::vector<offset_t> bases;
    std::set<offset_t> indexed;
    for (const auto& name : names) {
        if (name.ends_with(".tmp") || name.ends_with(deleted_suffix) ||
            name.ends_with(cleaned_suffix)) {
            // An interrupted checkpoint or index write, a deleted segment's file that was not
            // yet unlinked, or a cleaned segment's file that was not installed.
            SLUICE_TRY(fs.remove(dir / name));
            continue;
        }
        auto parsed = parse_segment_name(name);
        if (!parsed) {
            continue;
        }
        if (parsed->second == ".log") {
            bases.push_back(parsed->first);
        } else if (parsed->second == ".index" || parsed->second == ".timeindex") {
            indexed.insert(parsed->first);
        }
    }
    std::sort(bases.begin(), bases.end());
    for (offset_t b : indexed) {
        if (!std::binary_search(bases.begin(), bases.end(), b)) {
            SLUICE_TRY(remove_segment_files(fs, dir, b));
        }
    }

    // No checkpoint: nothing is vouched for, so every segment is validated.
    offset_t rp = offset_t::min();
    SLUICE_TRY(auto cp, read_checkpoint(fs, dir / recovery_point_file));
    if (cp && cp->size() == 8) {
        rp = offset_t{load_be<int64_t>(cp->data())};
    }
    recovery_.recovery_point = rp;
    sealed_->checkpointed = rp;
    SLUICE_TRY(auto cleaned, read_checkpoint(fs, dir / cleaner_file));
    if (cleaned && cleaned->size() == 16) {
        cleaner_.gaps_end = offset_t{load_be<int64_t>(cleaned->data())};
        cleaner_.first_dirty = offset_t{load_be<int64_t>(cleaned->data() + 8)};
    }

    SLUICE_TRY(auto dir_file, fs.open(dir, open_mode::directory));
    dir_handle_ = std::move(dir_file);

    SLUICE_TRY(open_segments(std::move(bases), rp));
    if (segments_.empty()) {
        SLUICE_TRY(add_segment(offset_t{0}));
    }
    // A crash may have left blocks reserved past the active segment's end (preallocate), of
    // which nothing here knows: cutting the file at its own size frees them. A hint, as the
    // release at a roll is: if it fails, they stay allocated (space, not data).
    static_cast<void>(active().log_file->truncate(active().size_bytes));
    // Every sealed segment's file goes to the cache, which keeps only so many open.
    for (size_t i = 0; i + 1 < segments_.size(); ++i) {
        release_file(*segments_[i]);
    }
    // A checkpoint past the end (a cut that a crash kept from lowering it) vouches for nothing.
    cleaner_.first_dirty = std::min(cleaner_.first_dirty, end_offset());
    if (end_offset() < rp) {
        // Whole batches that the checkpoint vouched for are missing (a file cut short).
        return make_error_code(storage_errc::damaged_below_recovery_point);
    }
    if (recovery_.segments_scanned > 0 || recovery_.bytes_truncated > 0 ||
        recovery_.segments_dropped > 0) {
        // Make what the scan accepted durable before anyone reads it (in fsync mode nothing may
        // be served that a machine crash could take back), and vouch for it, so the next start
        // does not scan it again (the active segment's indexes too, as close() writes them).
        SLUICE_TRY(write_segment_indexes(fs, dir, active()));
        SLUICE_TRY(flush());
    }
    return success();
}

result<void> partition_log::open_segments(std::vector<offset_t> bases, offset_t rp) {
    file_system& fs = *opts_.fs;
    const auto& dir = opts_.dir;
    const uint32_t interval = opts_.config.index_interval_bytes;

    for (size_t i = 0; i < bases.size(); ++i) {
        const bool last = i + 1 == bases.size();
        if (!segments_.empty()) {
            // The previous segment is sealed: its file goes to the cache, so a log of thousands
            // of segments never holds thousands of files open, not even while it recovers.
            release_file(*segments_.back());
        }
        SLUICE_TRY(auto f, fs.open(segment_log_path(dir, bases[i]), open_mode::read_write));
        SLUICE_TRY(uint64_t size, f->size());
        // A segment from disk has no known creation time; its age counts from its first batch.
        auto seg = std::make_unique<segment>(bases[i], std::move(f), timestamp_ms_t::min());

        // A compacted segment may end before the next one starts (its last records removed).
        bool joins = segments_.empty() ||
                     follows(segments_.back()->next_offset, seg->base_offset, cleaner_.gaps_end);
        if (!joins && !segments_.empty() && segments_.back()->next_offset < rp) {
            // A gap or an overlap inside what the checkpoint vouched for.
            return make_error_code(storage_errc::damaged_below_recovery_point);
        }
        if (!joins) {
            // A gap or an overlap: this segment and all after it cannot be part of the log.
            for (size_t j = i; j < bases.size(); ++j) {
                SLUICE_TRY(remove_segment_files(fs, dir, bases[j]));
                ++recovery_.segments_dropped;
            }
            break;
        }

        // The index files vouch for a prefix of the log file; the checkpoint vouches that the
        // prefix is durable. A sealed segment must match its index exactly.
        uint64_t scan_from = 0;
        SLUICE_TRY(auto sum, load_segment_indexes(fs, dir, *seg));
        if (sum && sum->next_offset <= rp && sum->log_size <= size &&
            (last || sum->log_size == size)) {
            seg->adopt(*sum);
            scan_from = sum->log_size;
        } else {
            seg->reset_tracking();
        }
        if (!segments_.empty() && seg->empty()) {
            seg->last_epoch = segments_.back()->last_epoch;
        }

        if (scan_from == size) {
            ++recovery_.segments_loaded;
            segments_.push_back(std::move(seg));
            continue;
        }
        ++recovery_.segments_scanned;
        SLUICE_TRY(auto scanned, scan_segment(*seg, scan_from, size, interval, cleaner_.gaps_end));
        recovery_.bytes_scanned += scanned.valid_end - scan_from;
        if (scanned.clean) {
            if (!last) {
                SLUICE_TRY(write_segment_indexes(fs, dir, *seg));
            }
            segments_.push_back(std::move(seg));
            continue;
        }
        if (seg->next_offset < rp) {
            // The bad byte lies inside what the checkpoint vouched for: cutting there (and
            // dropping every later segment) would lose acknowledged records without a word.
            return make_error_code(storage_errc::damaged_below_recovery_point);
        }
        // Cut the invalid tail; whatever followed it is gone too.
        recovery_.bytes_truncated += size - scanned.valid_end;
        SLUICE_TRY(seg->log_file->truncate(scanned.valid_end));
        SLUICE_TRY(fs.remove(segment_index_path(dir, seg->base_offset)));
        SLUICE_TRY(fs.remove(segment_time_index_path(dir, seg->base_offset)));
        segments_.push_back(std::move(seg));
        for (size_t j = i + 1; j < bases.size(); ++j) {
            SLUICE_TRY(remove_segment_files(fs, dir, bases[j]));
            ++recovery_.segments_dropped;
        }
        break;
    }
    return success();
}

result<void> store_recovery_point(file_system& fs, const std::filesystem::path& dir, offset_t at) {
    std::byte payload[8];
    store_be<int64_t>(payload, at.value());
    return write_checkpoint(fs, dir / recovery_point_file, payload);
}

result<void> store_cleaner_state(file_system& fs, const std::filesystem::path& dir,
                                 const cleaner_state& s) {
    std::byte payload[16];
    store_be<int64_t>(payload, s.gaps_end.value());
    store_be<int64_t>(payload + 8, s.first_dirty.value());
    return write_checkpoint(fs, dir / cleaner_file, payload);
}

result<void> partition_log::write_recovery_point(offset_t at) {
    std::lock_guard io(sealed_->io_mutex);
    auto r = store_recovery_point(*opts_.fs, opts_.dir, at);
    std::lock_guard lock(sealed_->mutex);
    // A failed write may still have landed: for later lowering decisions, count the higher.
    sealed_->checkpointed = r ? at : std::max(sealed_->checkpointed, at);
    return r;
}

offset_t partition_log::checkpointed() const {
    std::lock_guard lock(sealed_->mutex);
    return sealed_->checkpointed;
}

result<void> partition_log::destroy(file_system& fs, const std::filesystem::path& dir) {
    SLUICE_TRY(bool present, fs.exists(dir));
    if (!present) {
        return success();
    }
    SLUICE_TRY(auto names, fs.list(dir));
    for (const auto& name : names) {
        SLUICE_TRY(fs.remove(dir / name));
    }
    SLUICE_TRY(fs.remove(dir));
    return fs.sync_directory(dir.parent_path());
}

}  // namespace sluice::storage
