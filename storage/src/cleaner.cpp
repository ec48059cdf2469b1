// A cleaning pass's middle step: the offset map over the dirty segments, then each segment that
// loses records rewritten beside the log as `<base>.cleaned`. See cleaner.h for the contract.
#include "sluice/storage/cleaner.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "segment.h"
#include "sluice/protocol/errc.h"

namespace sluice::storage {
namespace {

// Bytes read from a segment file at a time (a larger batch is read whole); written at a time.
constexpr size_t read_chunk_bytes = 1u << 20;
constexpr size_t write_chunk_bytes = 1u << 20;

uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

// A 64-bit hash of `key` under `seed`; two seeds give the map's 128 bits.
uint64_t hash_key(bytes_view key, uint64_t seed) {
    uint64_t h = mix(seed ^ (uint64_t(key.size()) * 0x9e3779b97f4a7c15ull));
    size_t i = 0;
    for (; i + 8 <= key.size(); i += 8) {
        uint64_t v = 0;
        std::memcpy(&v, key.data() + i, 8);
        h = mix(h ^ v) + 0x9e3779b97f4a7c15ull;
    }
    uint64_t tail = 0;
    std::memcpy(&tail, key.data() + i, key.size() - i);
    return mix(h ^ tail ^ (uint64_t(key.size() - i) << 56));
}

constexpr uint64_t seed_1 = 0x5bd1e9955bd1e995ull;
constexpr uint64_t seed_2 = 0x27d4eb2f165667c5ull;

// The batches of one sealed segment, in order, each read whole.
class segment_batches {
  public:
    segment_batches(file& f, uint64_t size, const clean_options& opts)
        : f_(f), size_(size), throttle_(opts.throttle), cancel_(opts.cancel) {}

    // The next batch, parsed (valid until the next call), nullopt at the end. A batch that does
    // not parse is an error: a sealed segment passed every check when it was written.
    result<std::optional<batch_view>> next() {
        if (pos_ >= size_) {
            return std::optional<batch_view>{};
        }
        SLUICE_TRY(ensure(batch_format::header_size));
        SLUICE_TRY(auto h, read_header(bytes_view(buf_).subspan(size_t(pos_ - buf_pos_))));
        SLUICE_TRY(ensure(h.size_bytes()));
        const bytes_view b = bytes_view(buf_).subspan(size_t(pos_ - buf_pos_), h.size_bytes());
        pos_ += h.size_bytes();
        SLUICE_TRY(auto v, batch_view::parse(b, offset_rule::compacted));
        return std::optional<batch_view>{v};
    }
    uint64_t bytes_read() const { return read_; }

  private:
    // Makes buf_ hold [pos_, pos_ + n).
    result<void> ensure(size_t n) {
        if (pos_ + n > size_) {
            return make_error_code(errc::corrupt_message);
        }
        if (pos_ >= buf_pos_ && pos_ + n <= buf_pos_ + buf_.size()) {
            return success();
        }
        if (cancel_ != nullptr && cancel_->load()) {
            return make_error_code(std::errc::operation_canceled);
        }
        const size_t want = std::max(n, size_t(std::min<uint64_t>(read_chunk_bytes, size_ - pos_)));
        buf_.resize(want);
        SLUICE_TRY(read_exact(f_, pos_, buf_));
        buf_pos_ = pos_;
        read_ += want;
        if (throttle_ != nullptr) {
            throttle_->pace(want);
        }
        return success();
    }

    file& f_;
    const uint64_t size_;
    io_throttle* throttle_;
    const std::atomic<bool>* cancel_;
    uint64_t pos_ = 0;
    uint64_t buf_pos_ = 0;
    std::vector<std::byte> buf_;
    uint64_t read_ = 0;
};

// What stays of each record and batch: the rules of cleaner.h.
struct retention_rules {
    const clean_plan& plan;
    const clean_options& opts;
    const offset_map& map;
    offset_t next_dirty;
    // Control batches stay as they are; a producer's last batch keeps its header even when none
    // of its records stays (what a restart rebuilds the producer's sequence from).
    bool keep_whole(const batch_header& h) const { return h.is_control(); }
    bool keep_header(const batch_header& h) const {
        return std::binary_search(opts.keep_headers.begin(), opts.keep_headers.end(),
                                  h.last_offset());
    }

    bool keep(const batch_header& h, const record_view& r) const {
        if (!r.key) {
            return false;
        }
        const offset_t at = h.base_offset + int64_t{r.offset_delta};
        const auto latest = map.latest(*r.key);
        if (latest && *latest > at) {
            return false;  // a later record of the key is in the log
        }
        if (r.value) {
            return true;
        }
        // A tombstone goes once it is old enough and nothing older of its key is left: it is the
        // key's latest in the map (every older record is dropped in this pass), or it was
        // cleaned before and no dirty record of its key came since.
        const bool log_append_time = (h.attributes & batch_format::timestamp_type_bit) != 0;
        // As the record format does: base + delta modulo 2^64 (any int64s a client sent).
        const int64_t ts =
            log_append_time
                ? h.max_timestamp.value()
                : int64_t(uint64_t(h.base_timestamp.value()) + uint64_t(r.timestamp_delta));
        const bool expired = ts < opts.now.value() - opts.delete_retention_ms;
        const bool alone = latest ? *latest == at : at < plan.first_dirty;
        return !(expired && alone);
    }
};

// Fills `map` from the dirty batches; returns the first offset it does not cover.
result<offset_t> build_map(const clean_plan& plan, const clean_options& opts, offset_map& map,
                           clean_outcome& out) {
    map.clear();
    for (const auto& ref : plan.segments) {
        if (ref.next <= plan.first_dirty) {
            continue;
        }
        SLUICE_TRY(auto f,
                   plan.fs->open(segment_log_path(plan.dir, ref.base), open_mode::read_only));
        segment_batches batches(*f, ref.size_bytes, opts);
        for (;;) {
            SLUICE_TRY(auto v, batches.next());
            if (!v) {
                break;
            }
            const batch_header& h = v->header();
            if (h.last_offset() < plan.first_dirty || h.is_control()) {
                continue;
            }
            if (!map.room_for(size_t(h.record_count))) {
                out.bytes_read += batches.bytes_read();
                if (map.size() == 0) {
                    return make_error_code(errc::invalid_config);  // not even one batch fits
                }
                return h.base_offset;
            }
            auto it = v->records();
            record_view r;
            while (it.next(r)) {
                if (r.key) {
                    map.put(*r.key, h.base_offset + int64_t{r.offset_delta});
                }
            }
        }
        out.bytes_read += batches.bytes_read();
    }
    return plan.end;
}

// What a segment loses: records, and batches left with no record (a producer's last batch that
// is no longer its last goes once empty).
struct segment_losses {
    uint64_t records = 0;
    uint64_t batches = 0;
    bool any() const { return records > 0 || batches > 0; }
};

// Walks one segment with the rules. Without `write`, only counts what would go; with it, writes
// what stays to `write` and tracks it into `tracked`.
result<segment_losses> filter_segment(const clean_plan& plan, const clean_plan::segment_ref& ref,
                                      const retention_rules& rules, const clean_options& opts,
                                      clean_outcome& out, file* write, segment* tracked) {
    io_throttle* throttle = opts.throttle;
    SLUICE_TRY(auto f, plan.fs->open(segment_log_path(plan.dir, ref.base), open_mode::read_only));
    segment_batches batches(*f, ref.size_bytes, opts);
    segment_losses removed;
    uint64_t written = 0;
    std::vector<std::byte> pending;
    std::vector<bytes_view> kept;
    auto flush = [&]() -> result<void> {
        size_t n = 0;
        SLUICE_TRY(append_all(*write, pending, n));
        if (throttle != nullptr) {
            throttle->pace(pending.size());
        }
        pending.clear();
        return success();
    };
    auto emit = [&](bytes_view batch) -> result<void> {
        SLUICE_TRY(auto h, read_header(batch));
        tracked->track(h, written, plan.index_interval_bytes);
        written += batch.size();
        pending.insert(pending.end(), batch.begin(), batch.end());
        if (pending.size() >= write_chunk_bytes) {
            SLUICE_TRY(flush());
        }
        return success();
    };
    for (;;) {
        SLUICE_TRY(auto v, batches.next());
        if (!v) {
            break;
        }
        const batch_header& h = v->header();
        if (h.base_offset >= rules.next_dirty || rules.keep_whole(h)) {
            if (write != nullptr) {
                SLUICE_TRY(emit(v->bytes()));
            }
            continue;
        }
        kept.clear();
        auto it = v->records();
        record_view r;
        while (it.next(r)) {
            if (rules.keep(h, r)) {
                kept.push_back(r.encoded);
            }
        }
        removed.records += uint64_t(h.record_count) - kept.size();
        const bool stays = !kept.empty() || rules.keep_header(h);
        removed.batches += stays ? 0 : 1;
        if (write == nullptr || !stays) {
            continue;
        }
        if (kept.size() == size_t(h.record_count)) {
            SLUICE_TRY(emit(v->bytes()));
        } else {
            const auto rebuilt = batch_with_records(*v, kept);
            SLUICE_TRY(emit(rebuilt));
        }
    }
    out.bytes_read += batches.bytes_read();
    if (write != nullptr) {
        SLUICE_TRY(flush());
        SLUICE_TRY(write->sync());
    }
    return removed;
}

}  // namespace

offset_map::offset_map(size_t max_bytes) {
    // The table is a power of two of slots kept at most 3/4 full, and never more than
    // max_bytes, even while it grows (the old table is half the new one).
    size_t slots = 2;
    while (slots * 2 * entry_bytes <= max_bytes) {
        slots *= 2;
    }
    max_slots_ = slots * entry_bytes <= max_bytes ? slots : 0;
    max_entries_ = max_slots_ * 3 / 4;
}

void offset_map::clear() {
    slots_ = {};
    size_ = 0;
}

size_t offset_map::find(uint64_t h1, uint64_t h2) const {
    const size_t mask = slots_.size() - 1;
    for (size_t i = size_t(h1) & mask;; i = (i + 1) & mask) {
        const slot& s = slots_[i];
        if (s.offset < 0 || (s.h1 == h1 && s.h2 == h2)) {
            return i;
        }
    }
}

void offset_map::grow() {
    std::vector<slot> old = std::move(slots_);
    slots_.assign(std::min(max_slots_, std::max<size_t>(64, old.size() * 2)), slot{});
    for (const slot& s : old) {
        if (s.offset >= 0) {
            slots_[find(s.h1, s.h2)] = s;
        }
    }
}

bool offset_map::put(bytes_view key, offset_t offset) {
    const uint64_t h1 = hash_key(key, seed_1);
    const uint64_t h2 = hash_key(key, seed_2);
    if (!slots_.empty()) {
        slot& s = slots_[find(h1, h2)];
        if (s.offset >= 0) {
            s.offset = offset.value();
            return true;
        }
    }
    if (size_ >= max_entries_) {
        return false;
    }
    if ((size_ + 1) * 4 > slots_.size() * 3) {
        grow();  // never past max_slots_: max_entries_ is 3/4 of it
    }
    slots_[find(h1, h2)] = slot{h1, h2, offset.value()};
    ++size_;
    return true;
}

std::optional<offset_t> offset_map::latest(bytes_view key) const {
    if (slots_.empty()) {
        return std::nullopt;
    }
    const slot& s = slots_[find(hash_key(key, seed_1), hash_key(key, seed_2))];
    if (s.offset < 0) {
        return std::nullopt;
    }
    return offset_t{s.offset};
}

std::chrono::nanoseconds io_throttle::delay(double rate, uint64_t total,
                                            std::chrono::nanoseconds elapsed) {
    if (rate <= 0) {
        return std::chrono::nanoseconds{0};
    }
    const auto due = std::chrono::nanoseconds(int64_t(double(total) / rate * 1e9));
    return due > elapsed ? due - elapsed : std::chrono::nanoseconds{0};
}

void io_throttle::pace(uint64_t bytes) {
    using namespace std::chrono_literals;
    total_ += bytes;
    for (;;) {
        const auto wait = delay(rate_, total_, std::chrono::steady_clock::now() - start_);
        if (wait.count() <= 0 || (cancel_ != nullptr && cancel_->load())) {
            return;
        }
        std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(wait, 100ms));
    }
}

std::filesystem::path cleaned_path(const std::filesystem::path& dir, offset_t base) {
    auto p = segment_log_path(dir, base);
    p += cleaned_suffix;
    return p;
}

namespace {

result<void> clean_segments(const clean_plan& plan, const clean_options& opts, offset_map& map,
                            clean_outcome& out) {
    // Every planned segment durable first: install lets recovery take gaps up to the plan's end
    // for compaction's, which it may only do where no crash can cut a segment's tail.
    for (const auto& ref : plan.segments) {
        if (opts.cancel != nullptr && opts.cancel->load()) {
            return make_error_code(std::errc::operation_canceled);
        }
        SLUICE_TRY(auto f,
                   plan.fs->open(segment_log_path(plan.dir, ref.base), open_mode::read_only));
        SLUICE_TRY(f->sync());
    }
    SLUICE_TRY(out.next_dirty, build_map(plan, opts, map, out));
    const retention_rules rules{plan, opts, map, out.next_dirty};
    for (const auto& ref : plan.segments) {
        if (ref.base >= out.next_dirty) {
            break;
        }
        // A look first: a segment that loses nothing is not written again.
        SLUICE_TRY(segment_losses removed,
                   filter_segment(plan, ref, rules, opts, out, nullptr, nullptr));
        if (!removed.any()) {
            continue;
        }
        const auto path = cleaned_path(plan.dir, ref.base);
        auto replacement = std::make_shared<segment>(ref.base, nullptr, timestamp_ms_t::min());
        auto written = [&]() -> result<void> {
            SLUICE_TRY(auto f, plan.fs->open(path, open_mode::read_write));
            SLUICE_TRY(f->truncate(0));
            SLUICE_TRY(filter_segment(plan, ref, rules, opts, out, f.get(), replacement.get()));
            return success();
        }();
        if (!written) {
            (void)plan.fs->remove(path);
            return written.error();
        }
        // The segment keeps its place: it ends where the next one starts, whatever went.
        replacement->next_offset = ref.next;
        if (replacement->empty()) {
            replacement->last_epoch = ref.last_epoch;
        }
        out.records_removed += removed.records;
        out.bytes_before += ref.size_bytes;
        out.bytes_after += replacement->size_bytes;
        out.cleaned.push_back({ref, path, std::move(replacement)});
    }
    return success();
}

}  // namespace

result<clean_outcome> clean_log(const clean_plan& plan, const clean_options& opts,
                                offset_map& map) {
    clean_outcome out;
    out.plan_truncations = plan.truncations;
    auto done = clean_segments(plan, opts, map, out);
    map.clear();
    if (!done) {
        for (const cleaned_segment& c : out.cleaned) {
            (void)plan.fs->remove(c.path);  // open() removes what this cannot
        }
        return done.error();
    }
    return out;
}

}  // namespace sluice::storage
