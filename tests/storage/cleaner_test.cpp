// Log compaction (storage/include/sluice/storage/cleaner.h): the latest record of every key
// survives a pass over many segments at its own offset, tombstones go only after
// delete.retention.ms, a producer's last batch stays whole, a crash at any step of installing a
// pass leaves every segment old or cleaned (never a record lost that was the latest of its key),
// readers during a pass see one consistent log, and the offset map and the rate limit keep
// their bounds.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fault_fs.h"
#include "sluice/protocol/errc.h"
#include "sluice/storage/cleaner.h"
#include "sluice/storage/log.h"
#include "temp_dir.h"

using namespace sluice;
using namespace sluice::storage;
using sluice::testing::fault_fs;
using sluice::testing::temp_dir;

namespace {

constexpr timestamp_ms_t t0{1'700'000'000'000};
constexpr int64_t day_ms = 24ll * 3600 * 1000;

// One record as the log holds it.
struct rec {
    int64_t offset;
    std::optional<std::string> key;
    std::optional<std::string> value;
    bool operator==(const rec&) const = default;
};

struct input {
    std::optional<std::string> key;
    std::optional<std::string> value;
};

std::vector<std::byte> batch_of(const std::vector<input>& records, timestamp_ms_t ts,
                                producer_id_t pid = no_producer_id, sequence_t seq = no_sequence) {
    batch_builder b({pid, pid == no_producer_id ? no_producer_epoch : producer_epoch_t{0}, seq, 0});
    for (const input& r : records) {
        b.add({r.key ? std::optional(as_bytes(*r.key)) : std::nullopt,
               r.value ? std::optional(as_bytes(*r.value)) : std::nullopt,
               ts,
               {}});
    }
    return b.finish();
}

result<append_result> add(partition_log& l, std::vector<std::byte> batch) {
    return l.append(batch);
}

// Every record of the log, read the way a consumer reads it (gaps allowed).
std::vector<rec> records_of(partition_log& l) {
    std::vector<rec> out;
    offset_t from = l.start_offset();
    while (from < l.end_offset()) {
        auto r = l.read(from, 64 * 1024);
        REQUIRE(r.has_value());
        if (r.value().bytes.empty()) {
            break;
        }
        batch_reader reader(r.value().bytes, false, offset_rule::compacted);
        for (;;) {
            auto b = reader.next();
            REQUIRE(b.has_value());
            if (!b.value()) {
                break;
            }
            const batch_header& h = b.value()->header();
            auto it = b.value()->records();
            record_view v;
            while (it.next(v)) {
                out.push_back(
                    {h.base_offset.value() + v.offset_delta,
                     v.key ? std::optional(std::string(as_string(*v.key))) : std::nullopt,
                     v.value ? std::optional(std::string(as_string(*v.value))) : std::nullopt});
            }
        }
        from = r.value().next_offset;
    }
    return out;
}

// The headers of the batches one read from `from` returns (gaps allowed).
std::vector<batch_header> headers_from(partition_log& l, offset_t from) {
    auto r = l.read(from, 1 << 20);
    REQUIRE(r.has_value());
    std::vector<batch_header> heads;
    batch_reader reader(r.value().bytes, false, offset_rule::compacted);
    for (;;) {
        auto b = reader.next();
        REQUIRE(b.has_value());
        if (!b.value()) {
            return heads;
        }
        heads.push_back(b.value()->header());
    }
}

// What a pass over records below `end` keeps (cleaner.h), with every tombstone old enough to go
// or none (`expire_tombstones`), from a log nothing was cleaned of before.
std::vector<rec> model_clean(const std::vector<rec>& all, int64_t end, bool expire_tombstones) {
    std::map<std::string, int64_t> latest;
    for (const rec& r : all) {
        if (r.key && r.offset < end) {
            latest[*r.key] = r.offset;
        }
    }
    std::vector<rec> out;
    for (const rec& r : all) {
        if (r.offset >= end) {
            out.push_back(r);
        } else if (r.key && latest[*r.key] == r.offset && (r.value || !expire_tombstones)) {
            out.push_back(r);
        }
    }
    return out;
}

// Removes what lets a reopen trust segments without a scan: index files and the recovery point.
void forget_validation(const std::filesystem::path& dir) {
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        if (e.path().extension() == ".index" || e.path().extension() == ".timeindex") {
            std::filesystem::remove(e.path());
        }
    }
    std::filesystem::remove(dir / "recovery-point.checkpoint");
}

struct fixture {
    temp_dir dir;
    manual_clock clk{t0};
    log_config config;
    file_system* fs = &posix_file_system();

    fixture() {
        config.segment_bytes = 4096;
        config.index_interval_bytes = 256;
        config.retention_ms = -1;
    }
    std::filesystem::path log_dir() const { return dir.path() / "compact-0"; }
    std::unique_ptr<partition_log> open() {
        auto l = partition_log::open({.dir = log_dir(), .config = config, .fs = fs, .time = &clk});
        REQUIRE_MESSAGE(l.has_value(), l.error().message());
        return std::move(l).value();
    }
};

// Appends `batches` batches of 4 records over `keys` keys (values name their offset), and a
// roll, so that all of them are sealed.
void fill(partition_log& l, int batches, int keys, int first_key = 0) {
    for (int i = 0; i < batches; ++i) {
        std::vector<input> rs;
        for (int j = 0; j < 4; ++j) {
            const int64_t at = l.end_offset().value() + j;
            rs.push_back({"key-" + std::to_string(first_key + (i * 4 + j) % keys),
                          "value-at-" + std::to_string(at) + std::string(40, 'x')});
        }
        REQUIRE(add(l, batch_of(rs, t0)).has_value());
    }
    REQUIRE(l.roll().has_value());
    REQUIRE(l.flush().has_value());  // a pass cleans only what is durable
}

clean_outcome pass(partition_log& l, const clean_options& opts, size_t map_bytes = 1 << 20) {
    REQUIRE(l.flush().has_value());  // a pass cleans only what is durable
    auto plan = l.plan_cleaning(l.end_offset());
    REQUIRE(plan.has_value());
    offset_map map(map_bytes);
    auto out = clean_log(*plan, opts, map);
    REQUIRE_MESSAGE(out.has_value(), out.error().message());
    return std::move(out).value();
}

clean_options at(timestamp_ms_t now) {
    clean_options o;
    o.now = now;
    o.delete_retention_ms = day_ms;
    return o;
}

}  // namespace

TEST_CASE("compaction keeps the latest record of every key, over many segments, at its offset") {
    fixture f;
    auto l = f.open();
    fill(*l, 200, 37);
    REQUIRE(l->segment_count() > 10);
    const auto before = records_of(*l);
    const uint64_t size_before = l->size_bytes();
    const int64_t end = l->end_offset().value();

    auto out = pass(*l, at(t0));
    CHECK(out.next_dirty == offset_t{end});
    CHECK(out.records_removed == before.size() - 37);
    auto installed = l->install_cleaned(std::move(out));
    REQUIRE(installed.has_value());
    CHECK(installed.value() > 0);
    const auto after = records_of(*l);
    CHECK(after == model_clean(before, end, false));
    CHECK(after.size() == 37);
    CHECK(l->size_bytes() < size_before / 4);
    CHECK(l->end_offset() == offset_t{end});
    CHECK(l->first_dirty_offset() == offset_t{end});
    CHECK(l->dirty_ratio(l->end_offset()) == doctest::Approx(0.0));

    // A read from a removed offset starts at the next record kept.
    auto mid = l->read(offset_t{1}, 1 << 20);
    REQUIRE(mid.has_value());
    CHECK_FALSE(mid.value().bytes.empty());

    // More writes over half the keys, then a second pass: only what is dirty supersedes.
    fill(*l, 40, 37, 0);
    CHECK(l->dirty_ratio(l->end_offset()) > 0.5);
    const auto before2 = records_of(*l);
    auto out2 = pass(*l, at(t0));
    REQUIRE(l->install_cleaned(std::move(out2)).has_value());
    const auto after2 = records_of(*l);
    CHECK(after2 == model_clean(before2, l->end_offset().value(), false));

    // Appends go on at the end; a reopen reads the same log.
    REQUIRE(add(*l, batch_of({{"key-1", "new"}}, t0)).has_value());
    const auto live = records_of(*l);
    REQUIRE(l->close().has_value());
    l.reset();
    auto again = f.open();
    CHECK(records_of(*again) == live);
    CHECK(again->first_dirty_offset() == offset_t{before2.back().offset + 1});
}

TEST_CASE("compaction: a reopen that scans cleaned segments (no index files) accepts the gaps") {
    fixture f;
    auto l = f.open();
    fill(*l, 60, 5);
    auto out = pass(*l, at(t0));
    REQUIRE(l->install_cleaned(std::move(out)).has_value());
    const auto live = records_of(*l);
    l.reset();  // no close: the recovery point and indexes are what the pass left
    forget_validation(f.log_dir());
    auto again = f.open();
    CHECK(again->recovery().segments_dropped == 0);
    CHECK(again->recovery().bytes_truncated == 0);
    CHECK(records_of(*again) == live);
    REQUIRE(add(*again, batch_of({{"key-1", "v"}}, t0)).has_value());
}

TEST_CASE("compaction: tombstones go only after delete.retention.ms; keyless records go") {
    fixture f;
    auto l = f.open();
    REQUIRE(add(*l, batch_of({{"a", "1"}, {"b", "1"}, {std::nullopt, "no key"}}, t0)).has_value());
    REQUIRE(add(*l, batch_of({{"a", std::nullopt}, {"c", "1"}}, t0 + 10)).has_value());
    REQUIRE(l->roll().has_value());
    REQUIRE(add(*l, batch_of({{"d", "1"}}, t0 + 20)).has_value());

    // Within delete.retention.ms the tombstone stays, the value it deletes goes.
    REQUIRE(l->install_cleaned(pass(*l, at(t0 + day_ms))).has_value());
    CHECK(records_of(*l) ==
          std::vector<rec>{{1, "b", "1"}, {3, "a", std::nullopt}, {4, "c", "1"}, {5, "d", "1"}});
    // Past it, a later pass removes the tombstone (it lies in what was cleaned before).
    REQUIRE(l->install_cleaned(pass(*l, at(t0 + 10 + day_ms + 1))).has_value());
    CHECK(records_of(*l) == std::vector<rec>{{1, "b", "1"}, {4, "c", "1"}, {5, "d", "1"}});
}

TEST_CASE("compaction: a tombstone never goes while an older record of its key could return") {
    fixture f;
    auto l = f.open();
    REQUIRE(add(*l, batch_of({{"a", "1"}}, t0)).has_value());
    REQUIRE(l->roll().has_value());
    REQUIRE(add(*l, batch_of({{"b", "1"}}, t0)).has_value());
    REQUIRE(l->roll().has_value());
    // A first pass with a map too small for more than one batch covers only the first segment.
    auto small = pass(*l, at(t0 + 2 * day_ms), 2 * offset_map::entry_bytes);
    CHECK(small.next_dirty == offset_t{1});
    REQUIRE(l->install_cleaned(std::move(small)).has_value());
    // The tombstone of "a" comes after what the map covered: it stays until a pass covers it.
    REQUIRE(add(*l, batch_of({{"a", std::nullopt}}, t0)).has_value());
    REQUIRE(l->roll().has_value());
    auto partial = pass(*l, at(t0 + 2 * day_ms), 2 * offset_map::entry_bytes);
    CHECK(partial.next_dirty == offset_t{2});
    REQUIRE(l->install_cleaned(std::move(partial)).has_value());
    CHECK(records_of(*l) == std::vector<rec>{{0, "a", "1"}, {1, "b", "1"}, {2, "a", std::nullopt}});
    REQUIRE(l->install_cleaned(pass(*l, at(t0 + 2 * day_ms))).has_value());
    CHECK(records_of(*l) == std::vector<rec>{{1, "b", "1"}});
}

TEST_CASE("compaction keeps every batch's header and a producer's last batch, even empty") {
    fixture f;
    auto l = f.open();
    const producer_id_t pid{7};
    REQUIRE(add(*l, batch_of({{"a", "1"}, {"b", "1"}}, t0, pid, sequence_t{0})).has_value());
    REQUIRE(add(*l, batch_of({{"a", "2"}, {"c", "1"}}, t0, pid, sequence_t{2})).has_value());
    REQUIRE(add(*l, batch_of({{"b", "2"}, {"c", "2"}}, t0, pid, sequence_t{4})).has_value());
    REQUIRE(add(*l, batch_of({{"a", "3"}}, t0)).has_value());
    REQUIRE(add(*l, batch_of({{"e", "1"}}, t0, producer_id_t{8}, sequence_t{0})).has_value());
    REQUIRE(add(*l, batch_of({{"e", std::nullopt}}, t0 + 1)).has_value());
    REQUIRE(l->roll().has_value());
    auto opts = at(t0 + 2 * day_ms);
    // Producer 7's last batch ends at 5, producer 8's at 7: all of 8's records go (superseded
    // by the tombstone, which goes too), its header stays.
    opts.keep_headers = {offset_t{5}, offset_t{7}};
    REQUIRE(l->install_cleaned(pass(*l, opts)).has_value());
    CHECK(records_of(*l) == std::vector<rec>{{4, "b", "2"}, {5, "c", "2"}, {6, "a", "3"}});

    // The first two batches lost every record and went; the third kept its sequences; producer
    // 8's is there with no record, and so is what a restart rebuilds its sequence from.
    auto check_batches = [&](partition_log& log) {
        const auto heads = headers_from(log, log.start_offset());
        REQUIRE(heads.size() == 3);
        CHECK(heads[0].base_offset == offset_t{4});
        CHECK(heads[0].producer_id == pid);
        CHECK(heads[0].base_sequence == sequence_t{4});
        CHECK(heads[2].base_offset == offset_t{7});
        CHECK(heads[2].producer_id == producer_id_t{8});
        CHECK(heads[2].record_count == 0);
    };
    check_batches(*l);
    // A reopen that scans the segment (no index, no recovery point) takes the empty batch.
    l.reset();
    forget_validation(f.log_dir());
    auto again = f.open();
    CHECK(again->recovery().bytes_truncated == 0);
    check_batches(*again);
    // Once producer 8 wrote again, its old header goes: it is no longer its last batch.
    REQUIRE(add(*again, batch_of({{"f", "1"}}, t0, producer_id_t{8}, sequence_t{1})).has_value());
    REQUIRE(again->roll().has_value());
    auto next = at(t0 + 2 * day_ms);
    next.keep_headers = {offset_t{5}, offset_t{9}};  // 8 was the tombstone, gone
    REQUIRE(again->install_cleaned(pass(*again, next)).has_value());
    const auto rest = headers_from(*again, offset_t{6});
    REQUIRE(rest.size() >= 2);
    CHECK(rest[0].base_offset == offset_t{6});
    CHECK(rest[1].base_offset == offset_t{9});  // the empty one at 7 is gone

    // A partly cleaned batch keeps its base offset and last delta.
    fixture g;
    auto m = g.open();
    REQUIRE(add(*m, batch_of({{"a", "1"}, {"b", "1"}, {"c", "1"}}, t0, pid, sequence_t{0}))
                .has_value());
    REQUIRE(add(*m, batch_of({{"a", "2"}, {"c", "2"}}, t0)).has_value());
    REQUIRE(m->roll().has_value());
    REQUIRE(m->install_cleaned(pass(*m, at(t0))).has_value());
    auto s = m->read(m->start_offset(), 1 << 20);
    REQUIRE(s.has_value());
    batch_reader sr(s.value().bytes, false, offset_rule::compacted);
    auto kept = sr.next();
    REQUIRE((kept && kept.value()));
    CHECK(kept.value()->header().base_offset == offset_t{0});
    CHECK(kept.value()->header().last_offset_delta == 2);
    CHECK(kept.value()->header().record_count == 1);
    CHECK(kept.value()->header().base_sequence == sequence_t{0});
    // The strict rule of produced batches refuses it: it is not a batch a producer makes.
    CHECK(batch_view::parse(kept.value()->bytes()).error() ==
          make_error_code(errc::invalid_record));
}

TEST_CASE("compaction: a truncation while a pass runs makes its install a no-op") {
    fixture f;
    auto l = f.open();
    fill(*l, 40, 3);
    const auto before = records_of(*l);
    const offset_t dirty = l->first_dirty_offset();
    auto out = pass(*l, at(t0));
    REQUIRE_FALSE(out.cleaned.empty());
    REQUIRE(l->truncate_to(offset_t{l->end_offset().value() - 4}).has_value());
    auto installed = l->install_cleaned(std::move(out));
    REQUIRE(installed.has_value());
    CHECK(installed.value() == 0);
    CHECK(l->first_dirty_offset() == dirty);
    const auto now = records_of(*l);
    CHECK(std::equal(now.begin(), now.end(), before.begin()));
    for (const auto& e : std::filesystem::directory_iterator(f.log_dir())) {
        CHECK(e.path().extension() != ".cleaned");
    }
}

TEST_CASE("compaction: lookups by time and reads from a gap at the end") {
    fixture f;
    auto l = f.open();
    // a and b twice (the second pair wins), then a tombstone old enough to go: the segment
    // ends in a gap, and the active segment after it is empty.
    REQUIRE(add(*l, batch_of({{"a", "1"}}, t0)).has_value());
    REQUIRE(add(*l, batch_of({{"b", "1"}}, t0 + 1)).has_value());
    REQUIRE(add(*l, batch_of({{"a", "2"}, {"b", "2"}}, t0 + 2)).has_value());
    REQUIRE(add(*l, batch_of({{"x", std::nullopt}}, t0 + 3)).has_value());
    REQUIRE(l->roll().has_value());
    REQUIRE(l->install_cleaned(pass(*l, at(t0 + 2 * day_ms))).has_value());
    CHECK(records_of(*l) == std::vector<rec>{{2, "a", "2"}, {3, "b", "2"}});
    CHECK(l->end_offset() == offset_t{5});
    // The first record at or after t0 is the first one left.
    auto found = l->offset_for_timestamp(t0);
    REQUIRE(found.has_value());
    CHECK(found.value() == offset_t{2});
    // A read from the gap moves on to the end rather than answering the offset it was asked
    // (a reader would ask again for ever).
    auto r = l->read(offset_t{4}, 1 << 20);
    REQUIRE(r.has_value());
    CHECK(r.value().bytes.empty());
    CHECK(r.value().next_offset == offset_t{5});
    auto s = l->slice(offset_t{4}, 1 << 20);
    REQUIRE(s.has_value());
    CHECK(s.value().ranges.empty());
    CHECK(s.value().next_offset == offset_t{5});
    // Below a bound, only up to it.
    auto bounded = l->read(offset_t{4}, 1 << 20, offset_t{5});
    REQUIRE(bounded.has_value());
    CHECK(bounded.value().next_offset == offset_t{5});
}

TEST_CASE("compaction: a crash at every step of a pass leaves each segment old or cleaned") {
    // The pass, fault-free, in a log of its own: what each segment holds before and after.
    auto build = [](partition_log& l) {
        fill(l, 30, 4);
        REQUIRE(add(l, batch_of({{"key-1", std::nullopt}}, t0)).has_value());
        fill(l, 12, 3, 10);
    };
    std::vector<rec> before, after;
    uint64_t steps = 0;
    {
        fixture f;
        fault_fs fs;
        f.fs = &fs;
        auto l = f.open();
        build(*l);
        before = records_of(*l);
        const uint64_t start = fs.changes();
        REQUIRE(l->install_cleaned(pass(*l, at(t0 + 2 * day_ms))).has_value());
        steps = fs.changes() - start;
        after = records_of(*l);
    }
    REQUIRE(steps > 10);
    REQUIRE(after.size() < before.size());
    const std::map<std::string, std::optional<std::string>> latest = [&] {
        std::map<std::string, std::optional<std::string>> m;
        for (const rec& r : before) {
            m[*r.key] = r.value;
        }
        return m;
    }();

    for (uint64_t crash_at = 0; crash_at <= steps; ++crash_at) {
        CAPTURE(crash_at);
        fixture f;
        fault_fs fs;
        f.fs = &fs;
        {
            auto l = f.open();
            build(*l);
            REQUIRE(l->close().has_value());
        }
        {
            auto l = f.open();
            fs.set_crash_after(crash_at);
            auto plan = l->plan_cleaning(l->end_offset());
            REQUIRE(plan.has_value());
            offset_map map(1 << 20);
            auto out = clean_log(*plan, at(t0 + 2 * day_ms), map);
            if (out) {
                (void)l->install_cleaned(std::move(out).value());
            }
        }
        fs.drop_unsynced();
        fs.clear_faults();
        auto l = f.open();
        const auto got = records_of(*l);
        // Every record is one of the old log's, in order; the latest of every key is there
        // (a deleted key's tombstone, or nothing at all once no older record is left).
        CHECK(std::includes(before.begin(), before.end(), got.begin(), got.end(),
                            [](const rec& a, const rec& b) { return a.offset < b.offset; }));
        CHECK(std::includes(got.begin(), got.end(), after.begin(), after.end(),
                            [](const rec& a, const rec& b) { return a.offset < b.offset; }));
        std::map<std::string, std::optional<std::string>> seen;
        for (const rec& r : got) {
            seen[*r.key] = r.value;
        }
        for (const auto& [key, value] : latest) {
            if (value) {
                CHECK(seen[key] == value);
            } else if (seen.count(key) != 0) {
                CHECK_FALSE(seen[key].has_value());
            }
        }
        for (const auto& e : std::filesystem::directory_iterator(f.log_dir())) {
            CHECK(e.path().extension() != ".cleaned");
        }
        // The next pass finishes the job.
        REQUIRE(l->install_cleaned(pass(*l, at(t0 + 2 * day_ms))).has_value());
        CHECK(records_of(*l) == after);
        CHECK(add(*l, batch_of({{"key-0", "v"}}, t0)).has_value());
    }
}

TEST_CASE("compaction: readers during a pass see the old log, then the cleaned one") {
    fixture f;
    auto l = f.open();
    fill(*l, 80, 6);
    const auto before = records_of(*l);
    auto plan = l->plan_cleaning(l->end_offset());
    REQUIRE(plan.has_value());
    // A slice taken before the install keeps reading the bytes it named.
    auto slice = l->slice(l->start_offset(), 1 << 20);
    REQUIRE(slice.has_value());
    std::vector<std::byte> sliced_before;
    for (const auto& range : slice.value().ranges) {
        std::vector<std::byte> b(range.length);
        REQUIRE(read_exact(*range.f, range.position, b).has_value());
        sliced_before.insert(sliced_before.end(), b.begin(), b.end());
    }

    std::optional<result<clean_outcome>> out;
    std::thread cleaner([&] {
        offset_map map(1 << 20);
        out.emplace(clean_log(*plan, at(t0), map));
    });
    // The owner goes on reading and appending meanwhile; every read is the old log.
    for (int i = 0; i < 20; ++i) {
        auto now = records_of(*l);
        REQUIRE(now.size() >= before.size());
        CHECK(std::equal(before.begin(), before.end(), now.begin()));
        REQUIRE(add(*l, batch_of({{"key-9", "during"}}, t0)).has_value());
    }
    cleaner.join();
    REQUIRE(out.has_value());
    REQUIRE(out->has_value());
    const auto plan_end = plan->end.value();
    const auto live = records_of(*l);
    REQUIRE(l->install_cleaned(std::move(*out).value()).has_value());
    CHECK(records_of(*l) == model_clean(live, plan_end, false));

    std::vector<std::byte> sliced_after;
    for (const auto& range : slice.value().ranges) {
        std::vector<std::byte> b(range.length);
        REQUIRE(read_exact(*range.f, range.position, b).has_value());
        sliced_after.insert(sliced_after.end(), b.begin(), b.end());
    }
    CHECK(sliced_after == sliced_before);
}

TEST_CASE("compaction: a segment retention removed during a pass is not replaced") {
    fixture f;
    auto l = f.open();
    fill(*l, 40, 3);
    auto out = pass(*l, at(t0));
    const size_t planned = out.cleaned.size();
    REQUIRE(planned > 1);
    REQUIRE(l->delete_segments_below(out.cleaned[1].old.base).has_value());
    auto installed = l->install_cleaned(std::move(out));
    REQUIRE(installed.has_value());
    CHECK(installed.value() == planned - 1);
    for (const auto& e : std::filesystem::directory_iterator(f.log_dir())) {
        CHECK(e.path().extension() != ".cleaned");
    }
}

TEST_CASE("compaction: a truncation below the first dirty offset lowers it") {
    fixture f;
    auto l = f.open();
    fill(*l, 40, 3);
    REQUIRE(l->install_cleaned(pass(*l, at(t0))).has_value());
    const offset_t cleaned_to = l->first_dirty_offset();
    REQUIRE(cleaned_to == l->end_offset());
    // The cut lands in a gap: the log ends at the next batch kept, below where it was cleaned.
    REQUIRE(l->truncate_to(offset_t{cleaned_to.value() - 10}).has_value());
    const offset_t end = l->end_offset();
    CHECK(end < cleaned_to);
    CHECK(l->first_dirty_offset() <= end);
    REQUIRE(l->close().has_value());
    l.reset();
    CHECK(f.open()->first_dirty_offset() <= end);
}

TEST_CASE("a follower's log takes a leader's batch past a compacted gap, never one behind") {
    fixture f;
    auto l = f.open();
    auto b = batch_of({{"a", "1"}}, t0);
    set_base_offset(b, offset_t{5});
    REQUIRE(l->append_replicated(b).has_value());
    CHECK(l->end_offset() == offset_t{6});
    auto behind = batch_of({{"a", "2"}}, t0);
    set_base_offset(behind, offset_t{3});
    CHECK(l->append_replicated(behind).error() == make_error_code(errc::offset_out_of_range));
    l.reset();  // a crash: the reopen scans the segment, gap and all
    std::filesystem::remove(f.log_dir() / "recovery-point.checkpoint");
    auto again = f.open();
    CHECK(again->recovery().segments_scanned == 1);
    CHECK(again->recovery().bytes_truncated == 0);
    CHECK(again->end_offset() == offset_t{6});
}

TEST_CASE("offset_map: latest offsets, growth, and its bound") {
    // 100 slots' worth of bytes: a table of 64 slots (a power of two), 48 of them usable.
    offset_map m(100 * offset_map::entry_bytes);
    CHECK(m.max_entries() == 48);
    for (int i = 0; i < 48; ++i) {
        const std::string k = "key-" + std::to_string(i);
        REQUIRE(m.put(as_bytes(k), offset_t{i}));
    }
    CHECK(m.size() == 48);
    CHECK_FALSE(m.room_for(1));
    CHECK_FALSE(m.put(as_bytes(std::string("another")), offset_t{500}));
    // A known key still moves up when the map is full.
    CHECK(m.put(as_bytes(std::string("key-3")), offset_t{600}));
    CHECK(m.latest(as_bytes(std::string("key-3"))) == offset_t{600});
    CHECK(m.latest(as_bytes(std::string("key-47"))) == offset_t{47});
    CHECK_FALSE(m.latest(as_bytes(std::string("another"))).has_value());
    CHECK(m.latest(as_bytes(std::string(""))) == std::nullopt);
    m.clear();
    CHECK(m.size() == 0);
    CHECK_FALSE(m.latest(as_bytes(std::string("key-3"))).has_value());
}

TEST_CASE("compaction: a map too small for one batch is a config error") {
    fixture f;
    auto l = f.open();
    fill(*l, 3, 4);
    auto plan = l->plan_cleaning(l->end_offset());
    REQUIRE(plan.has_value());
    offset_map map(2 * offset_map::entry_bytes);  // one key; a batch has 4
    auto out = clean_log(*plan, at(t0), map);
    REQUIRE_FALSE(out.has_value());
    CHECK(out.error() == make_error_code(errc::invalid_config));
}

TEST_CASE("compaction: a cancelled pass stops and leaves no cleaned file") {
    fixture f;
    auto l = f.open();
    fill(*l, 40, 3);
    auto plan = l->plan_cleaning(l->end_offset());
    REQUIRE(plan.has_value());
    std::atomic<bool> cancel{true};
    auto opts = at(t0);
    opts.cancel = &cancel;
    offset_map map(1 << 20);
    auto out = clean_log(*plan, opts, map);
    REQUIRE_FALSE(out.has_value());
    CHECK(out.error() == std::errc::operation_canceled);
    for (const auto& e : std::filesystem::directory_iterator(f.log_dir())) {
        CHECK(e.path().extension() != ".cleaned");
    }
    // A throttle whose wait is cancelled returns at once.
    io_throttle slow(1, &cancel);
    slow.pace(1 << 30);
    CHECK(slow.total() == uint64_t{1} << 30);
}

TEST_CASE("io_throttle: the wait that keeps bytes at the rate") {
    using namespace std::chrono;
    CHECK(io_throttle::delay(1000, 500, 0ms) == 500ms);
    CHECK(io_throttle::delay(1000, 500, 200ms) == 300ms);
    CHECK(io_throttle::delay(1000, 500, 800ms) == 0ms);
    CHECK(io_throttle::delay(0, 1 << 30, 0ms) == 0ms);  // no limit
    CHECK(io_throttle::delay(-1, 1 << 30, 0ms) == 0ms);
}
