// Appends, reads, lookups, roll, retention, truncation and flushing of a partition log.
#include "sluice/storage/log.h"

#include <algorithm>

#include "segment.h"
#include "sluice/protocol/errc.h"

namespace sluice::storage {
namespace {

// The segment holding `offset`: the last one whose base offset is <= it.
template <typename Segments>
auto segment_for(Segments& segs, offset_t offset) {
    auto it = std::upper_bound(segs.begin(), segs.end(), offset,
                               [](offset_t o, const auto& s) { return o < s->base_offset; });
    return it == segs.begin() ? it : std::prev(it);
}

// Moves the recovery point on disk up to `at` (which the caller knows durable), unless the log
// was truncated or closed since `generation` or an fsync of it failed. Runs on the flusher's
// thread. The file is written under `io_mutex` only, so the owner's short looks at the state
// under `mutex` never wait for the checkpoint's fsyncs; a truncation and a close take `io_mutex`
// too when they move the generation, so a write under way lands before they go on. A failed
// write leaves the recovery point lower (more to scan at the next open); for the owner's
// decision to lower it before a truncation, a write that may have landed counts as landed.
template <typename State>
void raise_checkpoint(State& state, const std::atomic<bool>& log_failed, file_system& fs,
                      const std::filesystem::path& dir, uint64_t generation, offset_t at) {
    std::lock_guard io(state.io_mutex);
    {
        std::lock_guard lock(state.mutex);
        if (state.failed || log_failed.load() || state.generation != generation ||
            at <= state.checkpointed) {
            return;
        }
    }
    (void)store_recovery_point(fs, dir, at);
    std::lock_guard lock(state.mutex);
    state.checkpointed = std::max(state.checkpointed, at);
}

}  // namespace

offset_t partition_log::start_offset() const {
    return segments_.empty() ? emptied_at_ : segments_.front()->base_offset;
}
offset_t partition_log::end_offset() const {
    return segments_.empty() ? emptied_at_ : segments_.back()->next_offset;
}
size_t partition_log::segment_count() const {
    return segments_.size();
}

uint64_t partition_log::size_bytes() const {
    uint64_t total = 0;
    for (const auto& s : segments_) {
        total += s->size_bytes;
    }
    return total;
}

result<void> partition_log::check_writable() const {
    if (closed_) {
        return make_error_code(errc::log_closed);
    }
    if (failed_->load()) {
        return make_error_code(errc::kafka_storage_error);
    }
    return success();
}

result<std::shared_ptr<file>> partition_log::file_of(const segment& seg) {
    if (seg.log_file) {
        return seg.log_file;
    }
    return opts_.files->get(seg.cache_key, *opts_.fs, segment_log_path(opts_.dir, seg.base_offset));
}

void partition_log::release_file(segment& seg) {
    if (opts_.files != nullptr && seg.log_file) {
        opts_.files->put(seg.cache_key, std::move(seg.log_file));
        seg.log_file.reset();
    }
}

result<void> partition_log::add_segment(offset_t base) {
    SLUICE_TRY(auto f, opts_.fs->open(segment_log_path(opts_.dir, base), open_mode::read_write));
    // A leftover file of that name (after truncating to the start) holds nothing of the log now.
    SLUICE_TRY(f->truncate(0));
    auto seg = std::make_unique<segment>(base, std::move(f), opts_.time->now());
    if (!segments_.empty()) {
        seg->last_epoch = segments_.back()->last_epoch;
    }
    segments_.push_back(std::move(seg));
    dir_unsynced_ = true;
    return success();
}

void partition_log::set_config(const log_config& c) {
    const auto flush = opts_.config.flush;
    opts_.config = c;
    opts_.config.flush = flush;
}

result<void> partition_log::roll() {
    SLUICE_TRY(check_writable());
    if (active().empty()) {
        return success();
    }
    SLUICE_TRY(write_segment_indexes(*opts_.fs, opts_.dir, active()));
    release_reserve(active());
    const offset_t sealed_end = end_offset();
    pending_sealed_.push_back({segment_log_path(opts_.dir, active().base_offset), sealed_end});
    SLUICE_TRY(add_segment(sealed_end));
    release_file(**std::prev(segments_.end(), 2));
    if (opts_.sync == nullptr) {
        pending_sealed_.clear();
        return success();
    }
    uint64_t generation = 0;
    {
        std::lock_guard lock(sealed_->mutex);
        if (sealed_->in_flight) {
            return success();  // the next roll hands these over with its own
        }
        sealed_->in_flight = true;
        generation = sealed_->generation;
    }
    std::vector<std::filesystem::path> paths;
    for (const auto& p : pending_sealed_) {
        paths.push_back(p.path);
    }
    // Once they are durable, the recovery point moves up to the newest one's end, on the
    // flusher's thread: the owner never waits for the checkpoint's fsyncs.
    opts_.sync->submit_paths(
        *opts_.fs, std::move(paths), opts_.dir,
        [state = sealed_, failed = failed_, generation, end = pending_sealed_.back().end,
         fs = opts_.fs, dir = opts_.dir](std::error_code ec) {
            offset_t durable = offset_t::min();
            {
                std::lock_guard lock(state->mutex);
                state->in_flight = false;
                state->failed = state->failed || bool(ec);
                if (!state->failed && state->generation == generation && state->end < end) {
                    state->end = end;
                }
                durable = state->end;
            }
            raise_checkpoint(*state, *failed, *fs, dir, generation, durable);
        });
    pending_sealed_.clear();
    return success();
}

void partition_log::reserve_ahead(segment& seg, uint64_t end) {
    if (!opts_.config.preallocate || seg.reserve_failed || end <= seg.reserved_end) {
        return;
    }
    const uint64_t from = std::max(seg.reserved_end, seg.size_bytes);
    const uint64_t to =
        std::max(end, std::min(end + preallocate_step_bytes, opts_.config.segment_bytes));
    // A failed reserve may still have reserved a part: counted as reserved, so that the release
    // frees it.
    seg.reserved_end = to;
    if (!seg.log_file->reserve(from, to - from)) {
        seg.reserve_failed = true;
    }
}

void partition_log::release_reserve(segment& seg) {
    if (seg.reserved_end <= seg.size_bytes) {
        return;
    }
    // The same size: frees the blocks past it. A hint like the reserve: if it fails, the blocks
    // stay allocated (space, not data) and the roll or close goes on.
    if (seg.log_file->truncate(seg.size_bytes)) {
        seg.reserved_end = seg.size_bytes;
    }
}

result<void> partition_log::maybe_roll(const batch_header& h) {
    SLUICE_TRY(roll_if_due(h));
    if (!active().fits_relative(h.last_offset())) {
        // A follower's batch past a compacted gap wider than a segment's relative offsets: the
        // (empty) active segment gives way to one that starts at the batch.
        const offset_t old_base = active().base_offset;
        segments_.pop_back();
        SLUICE_TRY(remove_segment_files(*opts_.fs, opts_.dir, old_base));
        SLUICE_TRY(add_segment(h.base_offset));
    }
    return success();
}

result<void> partition_log::roll_if_due(const batch_header& h) {
    segment& seg = active();
    if (seg.empty()) {
        return success();
    }
    // Age counts from the first batch's timestamp, as in Kafka, but never from before this
    // process made the segment: records with old timestamps (a replay, a skewed producer clock)
    // would otherwise roll a new segment on every append.
    timestamp_ms_t since = std::max(seg.first_batch_timestamp, seg.created);
    bool full = seg.size_bytes + h.size_bytes() > opts_.config.segment_bytes;
    bool old = opts_.time->now() - since > opts_.config.segment_ms;
    bool wide = !seg.fits_relative(h.last_offset());
    if (full || old || wide) {
        return roll();
    }
    return success();
}

result<append_result> partition_log::write_batch(std::span<const std::byte> batch,
                                                 const batch_header& h) {
    if (h.size_bytes() > opts_.config.segment_bytes) {
        return make_error_code(errc::record_list_too_large);
    }
    if (!offsets_fit(h.base_offset, h.last_offset_delta)) {
        return make_error_code(errc::offset_out_of_range);  // the log's offsets are exhausted
    }
    if (active().last_epoch != no_leader_epoch && h.leader_epoch < active().last_epoch) {
        // Epochs never go down along the log; recovery relies on it.
        return make_error_code(errc::fenced_leader_epoch);
    }
    SLUICE_TRY(maybe_roll(h));
    segment& seg = active();
    uint64_t position = seg.size_bytes;
    reserve_ahead(seg, position + batch.size());
    size_t written = 0;
    auto wrote = append_all(*seg.log_file, batch, written);
    if (!wrote) {
        // Undo a partial write so the file ends on a batch boundary again.
        if (!seg.log_file->truncate(position)) {
            failed_->store(true);
        }
        seg.reserved_end = std::min(seg.reserved_end, position);
        return wrote.error();
    }
    seg.track(h, position, opts_.config.index_interval_bytes);
    if (opts_.config.flush == flush_mode::fsync &&
        (unsynced_.empty() || unsynced_.back() != seg.log_file)) {
        unsynced_.push_back(seg.log_file);
    }
    return append_result{h.base_offset, h.last_offset(), h.max_timestamp};
}

result<append_result> partition_log::append(std::span<std::byte> batch) {
    SLUICE_TRY(check_writable());
    SLUICE_TRY(batch_header h, check_batch(batch));
    return append_checked(batch, h);
}

result<append_result> partition_log::append_replicated(std::span<const std::byte> batch) {
    SLUICE_TRY(check_writable());
    SLUICE_TRY(batch_header h, check_batch(batch));
    return append_replicated_checked(batch, h);
}

result<append_result> partition_log::append_checked(std::span<std::byte> batch,
                                                    batch_header checked) {
    SLUICE_TRY(check_writable());
    if (batch.size() != checked.size_bytes()) {
        return make_error_code(errc::corrupt_message);  // not the header of this batch
    }
    checked.base_offset = end_offset();
    set_base_offset(batch, checked.base_offset);  // outside the CRC
    return write_batch(batch, checked);
}

result<append_result> partition_log::append_replicated_checked(std::span<const std::byte> batch,
                                                               const batch_header& checked) {
    SLUICE_TRY(check_writable());
    if (batch.size() != checked.size_bytes()) {
        return make_error_code(errc::corrupt_message);
    }
    if (checked.base_offset < end_offset()) {
        return make_error_code(errc::offset_out_of_range);
    }
    if (checked.base_offset > end_offset() && checked.base_offset > cleaner_.gaps_end) {
        // A gap the leader's compaction left: recorded first, so that recovery takes it for one.
        SLUICE_TRY(store_cleaner(checked.base_offset, cleaner_.first_dirty));
    }
    return write_batch(batch, checked);
}

void partition_log::on_durable(flusher::completion done) {
    if (opts_.config.flush == flush_mode::page_cache) {
        done({});
        return;
    }
    if (failed_->load()) {
        done(make_error_code(errc::kafka_storage_error));
        return;
    }
    auto files = std::move(unsynced_);
    unsynced_.clear();
    if (dir_unsynced_) {
        files.push_back(dir_handle_);
        dir_unsynced_ = false;
    }
    // Submitted even with no files: the flusher completes requests in order, so this one
    // finishes no earlier than the fsyncs of appends before it.
    // Completions run in submission order on the flusher's thread, but the files of one round
    // are fsynced in parallel: a later request may find its own files synced although an earlier
    // one of this log failed. Its appends follow the failed ones, so it fails too.
    // (Only a failed durability request counts here: the log failing for another reason later
    // does not undo an fsync that covered earlier appends.)
    opts_.sync->submit(std::move(files), [failed = failed_, durable_failed = durable_failed_,
                                          done = std::move(done)](std::error_code ec) {
        if (ec) {
            failed->store(true);
            durable_failed->store(true);
        } else if (durable_failed->load()) {
            ec = make_error_code(errc::kafka_storage_error);
        }
        done(ec);
    });
}

result<partition_log::located> partition_log::locate(const segment& seg, offset_t target) {
    uint64_t pos = seg.position_floor(target);
    std::byte hdr[batch_format::header_size];
    std::shared_ptr<file> f;
    if (pos < seg.size_bytes) {
        SLUICE_TRY(f, file_of(seg));
    }
    while (pos < seg.size_bytes) {
        SLUICE_TRY(read_exact(*f, pos, hdr));
        SLUICE_TRY(auto h, read_header(hdr));
        if (h.last_offset() >= target) {
            return located{pos, h};
        }
        pos += h.size_bytes();
    }
    return located{pos, std::nullopt};
}

result<read_result> partition_log::read(offset_t from, size_t max_bytes, offset_t upper) {
    if (closed_) {
        return make_error_code(errc::log_closed);
    }
    if (segments_.empty()) {
        return make_error_code(errc::kafka_storage_error);  // a failed restart_at
    }
    if (from < start_offset() || from > end_offset()) {
        return make_error_code(errc::offset_out_of_range);
    }
    read_result out{{}, from};
    if (from == end_offset() || from >= upper) {
        return out;
    }
    auto& bytes = out.bytes;
    bool ended = false;  // by a bound, not by running out of segments
    for (auto it = segment_for(segments_, from); it != segments_.end(); ++it) {
        segment& seg = **it;
        // Only the first segment read needs a search; later ones are read from their start.
        located found{0, std::nullopt};
        if (bytes.empty()) {
            SLUICE_TRY(found, locate(seg, from));
        }
        const uint64_t pos = found.position;
        if (pos >= seg.size_bytes) {
            continue;
        }
        size_t budget = max_bytes > bytes.size() ? max_bytes - bytes.size() : 0;
        if (found.header) {
            // The first batch comes whole whatever max_bytes says.
            budget = std::max(budget, found.header->size_bytes());
        }
        size_t want = size_t(std::min<uint64_t>(budget, seg.size_bytes - pos));
        if (want < batch_format::header_size) {
            ended = true;
            break;
        }
        size_t at = bytes.size();
        bytes.resize(at + want);
        SLUICE_TRY(auto f, file_of(seg));
        SLUICE_TRY(read_exact(*f, pos, std::span(bytes).subspan(at)));

        // Keep the whole batches that fit and stay below `upper`.
        size_t keep = at;
        bool stop = false;
        while (keep + batch_format::header_size <= bytes.size()) {
            SLUICE_TRY(auto h, read_header(bytes_view(bytes).subspan(keep)));
            if (h.last_offset() >= upper || keep + h.size_bytes() > bytes.size()) {
                stop = true;
                break;
            }
            out.next_offset = h.next_offset();
            keep += h.size_bytes();
        }
        stop = stop || keep < bytes.size();
        bytes.resize(keep);
        if (stop) {
            ended = true;
            break;
        }
    }
    if (bytes.empty() && !ended) {
        // No batch from `from` on: compaction emptied the rest (a gap up to the end).
        out.next_offset = std::min(end_offset(), upper);
    }
    return out;
}

result<slice_result> partition_log::slice(offset_t from, size_t max_bytes, offset_t upper,
                                          size_t max_ranges) {
    if (closed_) {
        return make_error_code(errc::log_closed);
    }
    if (segments_.empty()) {
        return make_error_code(errc::kafka_storage_error);  // a failed restart_at
    }
    if (from < start_offset() || from > end_offset()) {
        return make_error_code(errc::offset_out_of_range);
    }
    slice_result out{{}, from, 0};
    if (from == end_offset() || from >= upper) {
        return out;
    }
    std::byte hdr[batch_format::header_size];
    bool ended = false;  // by a bound, not by running out of segments
    for (auto it = segment_for(segments_, from); it != segments_.end(); ++it) {
        segment& seg = **it;
        const bool first = out.ranges.empty();
        located found{0, std::nullopt};
        if (first) {
            SLUICE_TRY(found, locate(seg, from));
            if (!found.header) {
                continue;  // `from` is past this segment's batches: the next one holds it
            }
        }
        const uint64_t pos = found.position;
        if (pos >= seg.size_bytes) {
            continue;
        }
        // One lookup serves the header walk and the range (a sealed file comes from the cache).
        SLUICE_TRY(auto f, file_of(seg));
        const uint64_t budget = max_bytes > out.bytes ? max_bytes - out.bytes : 0;
        uint64_t end = pos;
        offset_t next = first ? found.header->base_offset : seg.base_offset;
        if (seg.next_offset <= upper && seg.size_bytes - pos <= budget) {
            end = seg.size_bytes;  // the whole rest of the segment
            next = seg.next_offset;
        } else {
            // Jump to the furthest indexed batch start that fits both bounds, then walk headers.
            const auto& idx = seg.offset_index;
            const uint64_t limit = pos + budget;
            auto by_position = std::upper_bound(
                idx.begin(), idx.end(), limit,
                [](uint64_t l, const offset_index_entry& e) { return l < e.position; });
            auto by_offset = idx.end();
            if (upper < seg.next_offset) {
                const auto rel = uint64_t(upper - seg.base_offset);
                by_offset = std::upper_bound(
                    idx.begin(), idx.end(), rel,
                    [](uint64_t r, const offset_index_entry& e) { return r < e.relative_offset; });
            }
            auto stop = std::min(by_position, by_offset);
            if (stop != idx.begin() && std::prev(stop)->position > pos) {
                end = std::prev(stop)->position;
                next = seg.base_offset + int64_t{std::prev(stop)->relative_offset};
            }
            while (end < seg.size_bytes) {
                SLUICE_TRY(read_exact(*f, end, hdr));
                SLUICE_TRY(auto h, read_header(hdr));
                if (h.last_offset() >= upper || end + h.size_bytes() - pos > budget) {
                    break;
                }
                end += h.size_bytes();
                next = h.next_offset();
            }
            if (end == pos && first && found.header->last_offset() < upper) {
                // The first batch comes whole whatever max_bytes says.
                end = pos + found.header->size_bytes();
                next = found.header->next_offset();
            }
        }
        if (end == pos) {
            ended = true;
            break;
        }
        out.ranges.push_back({std::move(f), pos, end - pos});
        out.bytes += end - pos;
        out.next_offset = next;
        if (end < seg.size_bytes || next >= upper || out.ranges.size() >= max_ranges) {
            ended = true;
            break;
        }
    }
    if (out.ranges.empty() && !ended) {
        // No batch from `from` on: compaction emptied the rest (a gap up to the end).
        out.next_offset = std::min(end_offset(), upper);
    }
    return out;
}

result<std::optional<offset_t>> partition_log::offset_for_timestamp(timestamp_ms_t t) {
    if (closed_) {
        return make_error_code(errc::log_closed);
    }
    if (segments_.empty()) {
        return make_error_code(errc::kafka_storage_error);  // a failed restart_at
    }
    std::vector<std::byte> buf;
    for (const auto& s : segments_) {
        segment& seg = *s;
        if (seg.max_timestamp == no_timestamp || seg.max_timestamp < t) {
            continue;
        }
        SLUICE_TRY(located at, locate(seg, seg.time_floor(t)));
        uint64_t pos = at.position;
        std::byte hdr[batch_format::header_size];
        SLUICE_TRY(auto f, file_of(seg));
        while (pos < seg.size_bytes) {
            SLUICE_TRY(read_exact(*f, pos, hdr));
            SLUICE_TRY(auto h, read_header(hdr));
            if (h.max_timestamp >= t) {
                buf.resize(h.size_bytes());
                SLUICE_TRY(read_exact(*f, pos, buf));
                SLUICE_TRY(auto view, batch_view::parse(buf, offset_rule::compacted));
                auto it = view.records();
                record_view r;
                while (it.next(r)) {
                    if (h.base_timestamp + r.timestamp_delta >= t) {
                        return std::optional<offset_t>(h.base_offset + int64_t{r.offset_delta});
                    }
                }
            }
            pos += h.size_bytes();
        }
    }
    return std::optional<offset_t>{};
}

result<void> partition_log::delete_front_segment() {
    return delete_segment(segments_.begin());
}

result<void> partition_log::delete_segment(std::vector<std::unique_ptr<segment>>::iterator it) {
    if (opts_.files != nullptr) {
        opts_.files->forget((*it)->cache_key);
    }
    const offset_t base = (*it)->base_offset;
    if (opts_.sync == nullptr) {
        SLUICE_TRY(remove_segment_files(*opts_.fs, opts_.dir, base));
    } else {
        // Renamed now (the log file first, as remove_segment_files does), unlinked on the
        // flusher's thread. The new names never clash with a live segment's.
        file_system& fs = *opts_.fs;
        std::vector<std::filesystem::path> doomed;
        for (const auto& path :
             {segment_log_path(opts_.dir, base), segment_index_path(opts_.dir, base),
              segment_time_index_path(opts_.dir, base)}) {
            SLUICE_TRY(bool present, fs.exists(path));
            if (present) {
                auto gone = path;
                gone += deleted_suffix;
                SLUICE_TRY(fs.rename(path, gone));
                doomed.push_back(std::move(gone));
            }
        }
        opts_.sync->submit({}, [&fs, doomed = std::move(doomed)](std::error_code) {
            for (const auto& path : doomed) {
                (void)fs.remove(path);  // a leftover is removed at the next open
            }
        });
    }
    segments_.erase(it);
    dir_unsynced_ = true;
    return success();
}

result<size_t> partition_log::apply_retention() {
    SLUICE_TRY(check_writable());
    size_t deleted = 0;
    const auto& c = opts_.config;
    if (c.retention_bytes >= 0) {
        uint64_t total = size_bytes();
        while (segments_.size() > 1 &&
               total - segments_.front()->size_bytes >= uint64_t(c.retention_bytes)) {
            total -= segments_.front()->size_bytes;
            SLUICE_TRY(delete_front_segment());
            ++deleted;
        }
    }
    if (c.retention_ms >= 0) {
        const timestamp_ms_t now = opts_.time->now();
        // A sealed segment that compaction emptied holds nothing to keep.
        while (segments_.size() > 1 && segments_.front()->empty()) {
            SLUICE_TRY(delete_front_segment());
            ++deleted;
        }
        while (!segments_.front()->empty() && segments_.front()->max_timestamp != no_timestamp &&
               now - segments_.front()->max_timestamp > c.retention_ms) {
            if (segments_.size() == 1) {
                SLUICE_TRY(roll());  // the active segment expired whole: start a fresh one
            }
            SLUICE_TRY(delete_front_segment());
            ++deleted;
        }
    }
    return deleted;
}

result<size_t> partition_log::delete_segments_below(offset_t offset) {
    SLUICE_TRY(check_writable());
    size_t deleted = 0;
    while (segments_.size() > 1 && segments_[1]->base_offset <= offset) {
        SLUICE_TRY(delete_front_segment());
        ++deleted;
    }
    return deleted;
}

result<void> partition_log::restart_at(offset_t offset) {
    SLUICE_TRY(check_writable());
    {
        std::lock_guard io(sealed_->io_mutex);
        std::lock_guard lock(sealed_->mutex);
        ++sealed_->generation;
        sealed_->end = std::min(sealed_->end, std::min(offset, start_offset()));
    }
    return empty_and_start_at(offset);
}

result<void> partition_log::empty_and_start_at(offset_t offset) {
    // Every segment goes, those below `offset` too: no pending fsync may vouch for any of them.
    const offset_t cut = std::min(offset, start_offset());
    ++truncations_;
    emptied_at_ = offset;  // what the log says while it has no segment
    forget_sealed_past(cut);
    auto emptied = [&]() -> result<void> {
        if (checkpointed() > cut) {
            SLUICE_TRY(write_recovery_point(cut));
        }
        SLUICE_TRY(lower_cleaner(cut, cut));
        // Newest first: a crash part way leaves a prefix of the old log, never a gap at its front.
        while (!segments_.empty()) {
            SLUICE_TRY(delete_segment(std::prev(segments_.end())));
        }
        SLUICE_TRY(add_segment(offset));
        return sync_or_fail(*dir_handle_);
    }();
    if (!emptied) {
        // The segments may be half gone: only a reopen, with its scan, knows what is left.
        failed_->store(true);
    }
    return emptied;
}

result<offset_t> partition_log::truncate_to(offset_t offset) {
    SLUICE_TRY(check_writable());
    if (offset >= end_offset()) {
        return end_offset();
    }
    file_system& fs = *opts_.fs;
    {
        // No fsync of a sealed segment that completes from now on may vouch for cut offsets.
        // `io_mutex` first: a checkpoint the flusher is writing, whose generation check passed
        // before this one, lands (and shows in checkpointed()) before the cut decides whether
        // to lower the recovery point. Truncation is rare; waiting for one write is fine.
        std::lock_guard io(sealed_->io_mutex);
        std::lock_guard lock(sealed_->mutex);
        ++sealed_->generation;
        sealed_->end = std::min(sealed_->end, offset);
    }

    if (offset <= start_offset()) {
        SLUICE_TRY(empty_and_start_at(offset));
        return offset;
    }
    auto it = segment_for(segments_, offset);
    segment& seg = **it;
    SLUICE_TRY(located at, locate(seg, offset));
    const uint64_t pos = at.position;
    // The boundary of the batch holding `offset`.
    const offset_t new_end = at.header ? at.header->base_offset : seg.next_offset;
    ++truncations_;
    forget_sealed_past(new_end);
    // Lower the recovery point first, so a crash mid-way never vouches for cut data. Where
    // compaction may have left gaps in this segment, the log's end after the cut (the last
    // batch kept) may lie below new_end: its base is the bound known now.
    const offset_t durable_bound = cleaner_.gaps_end > seg.base_offset ? seg.base_offset : new_end;
    if (checkpointed() > durable_bound) {
        SLUICE_TRY(write_recovery_point(durable_bound));
    }
    // The cut segment's batches are walked again after the cut, and a compacted one may end
    // below new_end: its base is the bound known now (records from the end on must count as
    // dirty when they come again).
    SLUICE_TRY(lower_cleaner(new_end, seg.base_offset));
    if (!seg.log_file) {
        // The cut segment becomes the active one: it keeps its file open from now on.
        SLUICE_TRY(seg.log_file, file_of(seg));
        opts_.files->forget(seg.cache_key);
    }
    while (segments_.back().get() != &seg) {
        if (opts_.files != nullptr) {
            opts_.files->forget(segments_.back()->cache_key);
        }
        SLUICE_TRY(remove_segment_files(fs, opts_.dir, segments_.back()->base_offset));
        segments_.pop_back();
    }
    SLUICE_TRY(fs.remove(segment_index_path(opts_.dir, seg.base_offset)));
    SLUICE_TRY(fs.remove(segment_time_index_path(opts_.dir, seg.base_offset)));
    SLUICE_TRY(seg.log_file->truncate(pos));
    seg.reserved_end = pos;  // the cut freed every block past it
    // The file is cut: bring the in-memory state in line before anything else can fail.
    seg.reset_tracking();
    if (it != segments_.begin()) {
        seg.last_epoch = (*std::prev(it))->last_epoch;
    }
    auto scanned = scan_segment(seg, 0, pos, opts_.config.index_interval_bytes, cleaner_.gaps_end);
    if (!scanned || !scanned.value().clean) {
        failed_->store(true);
        return scanned ? make_error_code(errc::corrupt_message) : scanned.error();
    }
    // Cut data must not come back after a crash, whatever the flush mode: replication relies on
    // it. Truncation is rare, so the owner pays for these fsyncs itself.
    SLUICE_TRY(sync_or_fail(*seg.log_file));
    SLUICE_TRY(sync_or_fail(*dir_handle_));
    dir_unsynced_ = false;
    return end_offset();
}

void partition_log::forget_sealed_past(offset_t end) {
    {
        std::lock_guard lock(sealed_->mutex);
        sealed_->end = std::min(sealed_->end, end);
    }
    // Segments wholly below the cut stay sealed and still need their fsync; the others are
    // being cut or removed.
    std::erase_if(pending_sealed_, [end](const sealed_segment& p) { return p.end > end; });
}

result<void> partition_log::sync_or_fail(file& f) {
    auto synced = f.sync();
    if (!synced) {
        // After a failed fsync the kernel may have dropped the dirty pages; a retry that succeeds
        // proves nothing. Only a reopen, with its recovery scan, makes the log writable again.
        failed_->store(true);
    }
    return synced;
}

result<void> partition_log::flush() {
    SLUICE_TRY(check_writable());
    const offset_t cp = checkpointed();
    for (const auto& s : segments_) {
        if (s->next_offset > cp || s.get() == &active()) {
            SLUICE_TRY(auto f, file_of(*s));
            SLUICE_TRY(sync_or_fail(*f));
        }
    }
    SLUICE_TRY(sync_or_fail(*dir_handle_));
    unsynced_.clear();
    dir_unsynced_ = false;
    return write_recovery_point(end_offset());
}

void partition_log::flush_async(flusher::completion done) {
    if (auto w = check_writable(); !w) {
        done(w.error());
        return;
    }
    if (opts_.sync == nullptr) {
        auto r = flush();
        done(r ? std::error_code() : r.error());
        return;
    }
    // By name, so that the queued request holds no file open (file_cache).
    const offset_t cp = checkpointed();
    std::vector<std::filesystem::path> paths;
    for (const auto& s : segments_) {
        if (s->next_offset > cp || s.get() == &active()) {
            paths.push_back(segment_log_path(opts_.dir, s->base_offset));
        }
    }
    uint64_t generation = 0;
    {
        std::lock_guard lock(sealed_->mutex);
        if (sealed_->flush_in_flight) {
            done({});  // the one under way covers this tick's purpose; no queue builds up
            return;
        }
        sealed_->flush_in_flight = true;
        generation = sealed_->generation;
    }
    // A failed flush leaves the recovery point where it is and is reported; it does not fail
    // the log (page-cache mode promises no durability, and fsync mode's own fsyncs do that).
    opts_.sync->submit_paths(
        *opts_.fs, std::move(paths), opts_.dir,
        [state = sealed_, failed = failed_, generation, end = end_offset(), fs = opts_.fs,
         dir = opts_.dir, done = std::move(done)](std::error_code ec) {
            if (!ec) {
                raise_checkpoint(*state, *failed, *fs, dir, generation, end);
            }
            {
                std::lock_guard lock(state->mutex);
                state->flush_in_flight = false;
            }
            done(ec);
        });
}

result<void> partition_log::close() {
    SLUICE_TRY(check_writable());
    // First, whatever fails below: flusher requests still queued must not write into the
    // directory any more (it may be removed and made again for a new topic of the same name).
    fence_flusher();
    SLUICE_TRY(write_segment_indexes(*opts_.fs, opts_.dir, active()));
    release_reserve(active());
    SLUICE_TRY(flush());  // the final checkpoint, written by this thread
    closed_ = true;
    return success();
}

void partition_log::fence_flusher() {
    // As in truncate_to: a checkpoint write under way finishes first, no later one starts.
    std::lock_guard io(sealed_->io_mutex);
    std::lock_guard lock(sealed_->mutex);
    ++sealed_->generation;
}

}  // namespace sluice::storage
