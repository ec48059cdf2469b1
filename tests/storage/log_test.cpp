// The partition log: appends and reads across segments, lookups, roll, retention, truncation
// and clean reopen.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "batch_helpers.h"
#include "sluice/protocol/errc.h"
#include "sluice/storage/log.h"
#include "temp_dir.h"

using namespace sluice;
using namespace sluice::storage;
using sluice::testing::make_batch;
using sluice::testing::split_batches;
using sluice::testing::temp_dir;

namespace {

constexpr timestamp_ms_t t0{1'700'000'000'000};

struct fixture {
    temp_dir dir;
    manual_clock clk{t0};
    log_config config;

    fixture() {
        config.segment_bytes = 16 * 1024;
        config.index_interval_bytes = 1024;
        config.retention_ms = -1;
    }

    std::unique_ptr<partition_log> open() {
        auto l =
            partition_log::open({.dir = dir.path() / "topic-0", .config = config, .time = &clk});
        REQUIRE(l.has_value());
        return std::move(l).value();
    }
};

// Appends `n` batches of 5 records (ts = t0 + 10*i .. +4) and returns their bytes as stored.
std::vector<std::vector<std::byte>> fill(partition_log& l, int n, size_t value_bytes = 200) {
    std::vector<std::vector<std::byte>> stored;
    for (int i = 0; i < n; ++i) {
        auto b = make_batch(uint64_t(i), 5, value_bytes, t0 + int64_t{10} * i);
        auto r = l.append(b);
        REQUIRE(r.has_value());
        CHECK(r.value().base_offset == offset_t{5 * i});
        CHECK(r.value().last_offset == offset_t{5 * i + 4});
        stored.push_back(std::move(b));
    }
    return stored;
}

std::vector<std::byte> read_all(partition_log& l, offset_t from = offset_t{0}) {
    std::vector<std::byte> all;
    while (from < l.end_offset()) {
        auto r = l.read(from, 3000);
        REQUIRE(r.has_value());
        REQUIRE(!r.value().bytes.empty());
        all.insert(all.end(), r.value().bytes.begin(), r.value().bytes.end());
        from = r.value().next_offset;
    }
    return all;
}

std::vector<std::byte> concat(const std::vector<std::vector<std::byte>>& parts) {
    std::vector<std::byte> out;
    for (const auto& p : parts) {
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

}  // namespace

TEST_CASE("a new log is empty and starts at offset 0") {
    fixture f;
    auto l = f.open();
    CHECK(l->start_offset() == offset_t{0});
    CHECK(l->end_offset() == offset_t{0});
    auto r = l->read(offset_t{0}, 1000);
    REQUIRE(r.has_value());
    CHECK(r.value().bytes.empty());
    CHECK(l->read(offset_t{1}, 1000).error() == errc::offset_out_of_range);
}

TEST_CASE("appends across many segments read back byte for byte") {
    fixture f;
    auto l = f.open();
    auto stored = fill(*l, 200);
    CHECK(l->end_offset() == offset_t{1000});
    CHECK(l->segment_count() > 10);
    CHECK(read_all(*l) == concat(stored));

    SUBCASE("reading from inside a batch returns that whole batch first") {
        auto r = l->read(offset_t{503}, 1);
        REQUIRE(r.has_value());
        auto batches = split_batches(r.value().bytes);
        REQUIRE(batches.size() == 1);
        CHECK(batches[0].header().base_offset == offset_t{500});
        CHECK(r.value().next_offset == offset_t{505});
    }
    SUBCASE("max_bytes bounds a read but one batch always comes") {
        size_t one = stored[0].size();
        auto r = l->read(offset_t{0}, one * 3 + 10);
        REQUIRE(r.has_value());
        CHECK(split_batches(r.value().bytes).size() == 3);
        auto small = l->read(offset_t{0}, 10);
        REQUIRE(small.has_value());
        CHECK(split_batches(small.value().bytes).size() == 1);
    }
    SUBCASE("the upper offset stops before a batch that reaches it") {
        auto r = l->read(offset_t{0}, 1 << 20, offset_t{12});
        REQUIRE(r.has_value());
        auto batches = split_batches(r.value().bytes);
        REQUIRE(batches.size() == 2);  // [0,4] and [5,9]; [10,14] reaches 12
        CHECK(r.value().next_offset == offset_t{10});
        auto none = l->read(offset_t{10}, 1 << 20, offset_t{12});
        REQUIRE(none.has_value());
        CHECK(none.value().bytes.empty());
    }
    SUBCASE("a read crosses segment boundaries") {
        auto r = l->read(offset_t{0}, 1 << 20);
        REQUIRE(r.has_value());
        CHECK(r.value().bytes == concat(stored));
    }
    SUBCASE("reads from every offset start at the batch holding it") {
        for (int o = 0; o < 1000; o += 7) {
            auto r = l->read(offset_t{o}, 1);
            REQUIRE(r.has_value());
            auto b = split_batches(r.value().bytes);
            REQUIRE(b.size() == 1);
            CHECK(b[0].header().base_offset == offset_t{o - o % 5});
        }
    }
}

TEST_CASE("an append stamps the offset, keeps the CRC valid and rejects bad batches") {
    fixture f;
    auto l = f.open();
    fill(*l, 3);
    auto b = make_batch(99, 3, 50, t0);
    auto r = l->append(b);
    REQUIRE(r.has_value());
    CHECK(r.value().base_offset == offset_t{15});
    CHECK(batch_view::parse(b).has_value());
    CHECK(batch_view::parse(b).value().header().base_offset == offset_t{15});

    auto bad = make_batch(100, 3, 50, t0);
    bad[bad.size() - 1] ^= std::byte{1};
    CHECK(l->append(bad).error() == errc::corrupt_message);
    auto cut = make_batch(101, 3, 50, t0);
    cut.pop_back();
    CHECK(!l->append(cut).has_value());
    CHECK(l->end_offset() == offset_t{18});

    auto huge = make_batch(102, 2, 20000, t0);  // larger than segment.bytes
    CHECK(l->append(huge).error() == errc::record_list_too_large);
}

TEST_CASE("replicated appends keep the leader's offsets") {
    fixture f;
    auto l = f.open();
    auto b = make_batch(1, 4, 10, t0);
    set_base_offset(b, offset_t{0});
    REQUIRE(l->append_replicated(b).has_value());
    auto wrong = make_batch(2, 4, 10, t0);
    set_base_offset(wrong, offset_t{2});
    CHECK(l->append_replicated(wrong).error() == errc::offset_out_of_range);
    set_base_offset(wrong, offset_t{4});
    CHECK(l->append_replicated(wrong).has_value());
    CHECK(l->end_offset() == offset_t{8});
    // Past a gap (a compacted leader's): taken, and the gap is one after a reopen.
    auto past = make_batch(3, 4, 10, t0);
    set_base_offset(past, offset_t{20});
    REQUIRE(l->append_replicated(past).has_value());
    CHECK(l->end_offset() == offset_t{24});
    REQUIRE(l->close().has_value());
    l.reset();
    CHECK(f.open()->end_offset() == offset_t{24});
}

TEST_CASE("leader epochs never go down along the log") {
    fixture f;
    auto l = f.open();
    auto b = make_batch(1, 1, 10, t0);
    set_leader_epoch(b, leader_epoch_t{3});
    REQUIRE(l->append(b).has_value());
    auto older = make_batch(2, 1, 10, t0);
    set_leader_epoch(older, leader_epoch_t{2});
    CHECK(l->append(older).error() == errc::fenced_leader_epoch);
    auto same = make_batch(3, 1, 10, t0);
    set_leader_epoch(same, leader_epoch_t{3});
    CHECK(l->append(same).has_value());
}

TEST_CASE("offset lookups by timestamp, at and between index entries") {
    fixture f;
    auto l = f.open();
    fill(*l, 200);  // batch i holds ts t0+10i .. t0+10i+4 at offsets 5i .. 5i+4
    for (int i = 0; i < 200; i += 3) {
        for (int d : {0, 2, 4}) {
            auto exact = l->offset_for_timestamp(t0 + int64_t{10 * i + d});
            REQUIRE(exact.has_value());
            REQUIRE(exact.value().has_value());
            CHECK(*exact.value() == offset_t{5 * i + d});
        }
        // Between batches: the next batch's first record.
        auto gap = l->offset_for_timestamp(t0 + int64_t{10 * i + 7});
        REQUIRE(gap.has_value());
        if (i + 1 < 200) {
            CHECK(*gap.value() == offset_t{5 * (i + 1)});
        }
    }
    auto before = l->offset_for_timestamp(t0 - 1000);
    CHECK(*before.value() == offset_t{0});
    auto after = l->offset_for_timestamp(t0 + 1'000'000);
    REQUIRE(after.has_value());
    CHECK(!after.value().has_value());
}

TEST_CASE("segments roll by size and by age") {
    fixture f;
    f.config.segment_bytes = 1u << 20;
    f.config.segment_ms = 60'000;
    auto l = f.open();
    fill(*l, 3);
    CHECK(l->segment_count() == 1);
    // Age counts from the first batch's newest timestamp (t0 + 4).
    f.clk.set(t0 + 60'004);
    auto same = make_batch(6, 1, 10, t0 + 60'004);
    REQUIRE(l->append(same).has_value());
    CHECK(l->segment_count() == 1);
    f.clk.set(t0 + 60'005);
    auto b = make_batch(7, 1, 10, t0 + 60'005);
    REQUIRE(l->append(b).has_value());
    CHECK(l->segment_count() == 2);

    fixture g;
    g.config.segment_bytes = 8 * 1024;
    auto m = g.open();
    auto stored = fill(*m, 40, 300);  // about 1.6 KiB a batch
    // Replay the roll rule: a batch goes to a new segment when it would overflow the current one.
    size_t expected_segments = 1, in_segment = 0, total = 0;
    for (const auto& batch : stored) {
        if (in_segment > 0 && in_segment + batch.size() > g.config.segment_bytes) {
            ++expected_segments;
            in_segment = 0;
        }
        in_segment += batch.size();
        total += batch.size();
    }
    CHECK(expected_segments > 5);
    CHECK(m->segment_count() == expected_segments);
    CHECK(m->size_bytes() == total);
}

TEST_CASE("segments below an offset go whole; the one holding it and the active one stay") {
    fixture f;
    auto l = f.open();
    auto stored = fill(*l, 200);
    const size_t segs = l->segment_count();
    REQUIRE(segs > 3);
    const offset_t end = l->end_offset();
    const offset_t middle{end.value() / 2};
    auto deleted = l->delete_segments_below(middle);
    REQUIRE(deleted.has_value());
    CHECK(deleted.value() > 0);
    CHECK(l->segment_count() == segs - deleted.value());
    CHECK(l->start_offset() <= middle);  // the segment holding it is kept
    CHECK(l->start_offset() > offset_t{0});
    auto rest = read_all(*l, middle);
    auto expected = concat(stored);
    CHECK(std::equal(rest.begin(), rest.end(), expected.end() - rest.size()));
    // Past the end: every sealed segment goes, the active one stays.
    REQUIRE(l->delete_segments_below(end + 1000).has_value());
    CHECK(l->segment_count() == 1);
    CHECK(l->end_offset() == end);
}

TEST_CASE("retention deletes whole segments by size and by age") {
    fixture f;
    auto l = f.open();
    auto stored = fill(*l, 200);
    size_t segs = l->segment_count();
    uint64_t total = l->size_bytes();

    SUBCASE("by size") {
        f.config.retention_bytes = int64_t(total / 2);
        l.reset();
        auto m = f.open();
        auto deleted = m->apply_retention();
        REQUIRE(deleted.has_value());
        CHECK(deleted.value() > 0);
        CHECK(m->size_bytes() <= total / 2 + f.config.segment_bytes);
        CHECK(m->size_bytes() >= total / 2 - f.config.segment_bytes);
        CHECK(m->segment_count() == segs - deleted.value());
        CHECK(m->start_offset() > offset_t{0});
        CHECK(m->read(offset_t{0}, 100).error() == errc::offset_out_of_range);
        // What remains reads back as before.
        auto rest = read_all(*m, m->start_offset());
        auto expected = concat(stored);
        CHECK(std::equal(rest.begin(), rest.end(), expected.end() - rest.size()));
    }
    SUBCASE("by age, including the active segment") {
        f.config.retention_ms = 1000;
        l.reset();
        auto m = f.open();
        // Records span t0 .. t0+1994: at t0+2000 those older than t0+1000 go.
        f.clk.set(t0 + 2000);
        REQUIRE(m->apply_retention().has_value());
        CHECK(m->start_offset() > offset_t{0});
        CHECK(m->end_offset() == offset_t{1000});
        f.clk.set(t0 + 1'000'000);
        REQUIRE(m->apply_retention().has_value());
        CHECK(m->start_offset() == offset_t{1000});
        CHECK(m->end_offset() == offset_t{1000});
        CHECK(m->segment_count() == 1);
        auto b = make_batch(5, 1, 10, t0 + 1'000'000);
        auto r = m->append(b);
        REQUIRE(r.has_value());
        CHECK(r.value().base_offset == offset_t{1000});
    }
}

TEST_CASE("truncation cuts at batch boundaries and survives reopen") {
    fixture f;
    auto l = f.open();
    auto stored = fill(*l, 200);

    SUBCASE("inside a segment, mid-batch") {
        auto r = l->truncate_to(offset_t{503});
        REQUIRE(r.has_value());
        CHECK(r.value() == offset_t{500});
        CHECK(l->end_offset() == offset_t{500});
        std::vector<std::vector<std::byte>> prefix(stored.begin(), stored.begin() + 100);
        CHECK(read_all(*l) == concat(prefix));
        auto b = make_batch(1000, 2, 10, t0);
        CHECK(l->append(b).value().base_offset == offset_t{500});
        l.reset();
        auto m = f.open();
        CHECK(m->end_offset() == offset_t{502});
        prefix.push_back(b);
        CHECK(read_all(*m) == concat(prefix));
    }
    SUBCASE("at a segment boundary and after a clean close") {
        REQUIRE(l->close().has_value());
        l.reset();
        auto m = f.open();
        auto r = m->truncate_to(offset_t{5});
        REQUIRE(r.has_value());
        CHECK(m->end_offset() == offset_t{5});
        CHECK(m->segment_count() == 1);
        m.reset();
        auto n = f.open();
        CHECK(n->end_offset() == offset_t{5});
        CHECK(read_all(*n) == stored[0]);
    }
    SUBCASE("to the start empties the log and restarts at that offset") {
        REQUIRE(l->truncate_to(offset_t{0}).has_value());
        CHECK(l->start_offset() == offset_t{0});
        CHECK(l->end_offset() == offset_t{0});
        CHECK(l->segment_count() == 1);
    }
    SUBCASE("lookups after truncation see only what is left") {
        REQUIRE(l->truncate_to(offset_t{250}).has_value());
        auto ts = l->offset_for_timestamp(t0 + 600);
        REQUIRE(ts.has_value());
        CHECK(!ts.value().has_value());
        CHECK(*l->offset_for_timestamp(t0 + 490).value() == offset_t{245});
    }
}

TEST_CASE("restart_at empties the log and starts it at any offset, past the end too") {
    fixture f;
    auto l = f.open();
    fill(*l, 200);  // offsets 0..999 over several segments
    REQUIRE(l->segment_count() > 1);
    REQUIRE(l->restart_at(offset_t{1500}).has_value());
    CHECK(l->start_offset() == offset_t{1500});
    CHECK(l->end_offset() == offset_t{1500});
    CHECK(l->segment_count() == 1);
    CHECK(read_all(*l, offset_t{1500}).empty());
    auto b = make_batch(1000, 2, 10, t0);
    CHECK(l->append(b).value().base_offset == offset_t{1500});
    REQUIRE(l->flush().has_value());
    l.reset();
    auto m = f.open();
    CHECK(m->start_offset() == offset_t{1500});
    CHECK(m->end_offset() == offset_t{1502});
    CHECK(read_all(*m, offset_t{1500}) == b);
    // And back below the old start.
    REQUIRE(m->restart_at(offset_t{7}).has_value());
    CHECK(m->start_offset() == offset_t{7});
    CHECK(m->end_offset() == offset_t{7});
}

TEST_CASE("reopen after a clean close needs no scan and reads the same") {
    fixture f;
    auto l = f.open();
    auto stored = fill(*l, 150);
    auto before_ts = l->offset_for_timestamp(t0 + 777).value();
    size_t segs = l->segment_count();
    REQUIRE(l->close().has_value());
    CHECK(l->append(stored[0]).error() == errc::log_closed);
    l.reset();

    auto m = f.open();
    CHECK(m->recovery().segments_scanned == 0);
    CHECK(m->recovery().segments_loaded == segs);
    CHECK(m->recovery().bytes_truncated == 0);
    CHECK(m->end_offset() == offset_t{750});
    CHECK(read_all(*m) == concat(stored));
    CHECK(m->offset_for_timestamp(t0 + 777).value() == before_ts);
    auto b = make_batch(500, 5, 200, t0 + 1500);
    CHECK(m->append(b).value().base_offset == offset_t{750});
}

namespace {

struct file_blocks {
    uint64_t size = 0;
    uint64_t allocated = 0;  // bytes of disk the file holds
};

file_blocks blocks_of(const std::filesystem::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return {uint64_t(st.st_size), uint64_t(st.st_blocks) * 512};
}

// Whether the file system under `dir` can reserve blocks past a file's end.
bool can_reserve(const std::filesystem::path& dir) {
    const auto probe = dir / "probe";
    const int fd = ::open(probe.c_str(), O_CREAT | O_RDWR, 0644);
    REQUIRE(fd >= 0);
    const bool ok = ::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 1 << 20) == 0;
    ::close(fd);
    std::filesystem::remove(probe);
    return ok;
}

}  // namespace

TEST_CASE("preallocate reserves the active segment's blocks ahead and frees them when sealed") {
    fixture f;
    f.config.segment_bytes = 1u << 20;  // smaller than a reserve step: reserved to the whole size
    if (!can_reserve(f.dir.path())) {
        MESSAGE("this file system cannot reserve blocks (fallocate): nothing to check");
        return;
    }
    const auto seg0 = f.dir.path() / "topic-0" / "00000000000000000000.log";
    {
        auto l = f.open();
        fill(*l, 1, 1000);
        const auto active = blocks_of(seg0);
        CHECK(active.size < 8 * 1024);
        CHECK(active.allocated >= f.config.segment_bytes);
        // Written until the first segment is sealed: it keeps only the blocks its data needs.
        for (uint64_t i = 1; l->segment_count() < 2; ++i) {
            auto b = make_batch(i, 5, 20000, t0 + int64_t(i));
            REQUIRE(l->append(b).has_value());
        }
        const auto sealed = blocks_of(seg0);
        CHECK(sealed.size > 512 * 1024);
        CHECK(sealed.allocated < sealed.size + 64 * 1024);
        REQUIRE(l->close().has_value());
    }
    // A clean close frees the active segment's reserve too.
    for (const auto& e : std::filesystem::directory_iterator(f.dir.path() / "topic-0")) {
        if (e.path().extension() == ".log") {
            const auto b = blocks_of(e.path());
            CHECK(b.allocated < b.size + 64 * 1024);
        }
    }

    fixture g;  // off: the file system allocates as data arrives
    g.config.segment_bytes = 1u << 20;
    g.config.preallocate = false;
    auto m = g.open();
    fill(*m, 1, 1000);
    CHECK(blocks_of(g.dir.path() / "topic-0" / "00000000000000000000.log").allocated < 64 * 1024);
}

TEST_CASE("a reserve left by a crash or cut by a truncation holds no blocks past the end") {
    fixture f;
    f.config.segment_bytes = 1u << 20;
    if (!can_reserve(f.dir.path())) {
        MESSAGE("this file system cannot reserve blocks (fallocate): nothing to check");
        return;
    }
    const auto seg0 = f.dir.path() / "topic-0" / "00000000000000000000.log";
    {
        auto l = f.open();
        fill(*l, 1, 1000);
        CHECK(blocks_of(seg0).allocated >= f.config.segment_bytes);
        // Dropped without close(), as a crash leaves it: the reserve is still there.
    }
    CHECK(blocks_of(seg0).allocated >= f.config.segment_bytes);
    {
        auto l = f.open();  // frees it
        const auto reopened = blocks_of(seg0);
        CHECK(reopened.allocated < reopened.size + 64 * 1024);
        // Written again, the reserve comes back; a truncation cuts it with the data.
        auto b = make_batch(1, 5, 2000, t0 + 1);
        REQUIRE(l->append(b).has_value());
        CHECK(blocks_of(seg0).allocated >= f.config.segment_bytes);
        REQUIRE(l->truncate_to(offset_t{5}).has_value());
        const auto cut = blocks_of(seg0);
        CHECK(cut.allocated < cut.size + 64 * 1024);
        // The reserve follows the next write again.
        REQUIRE(l->append(b).has_value());
        CHECK(blocks_of(seg0).allocated >= f.config.segment_bytes);
        REQUIRE(l->close().has_value());
    }
    const auto closed = blocks_of(seg0);
    CHECK(closed.allocated < closed.size + 64 * 1024);
}

TEST_CASE("destroy removes the log's directory") {
    fixture f;
    auto l = f.open();
    fill(*l, 20);
    REQUIRE(l->close().has_value());
    l.reset();
    REQUIRE(partition_log::destroy(posix_file_system(), f.dir.path() / "topic-0").has_value());
    CHECK(!std::filesystem::exists(f.dir.path() / "topic-0"));
}

TEST_CASE("bad configs are refused") {
    fixture f;
    f.config.segment_bytes = 10;
    CHECK(partition_log::open({.dir = f.dir.path() / "x", .config = f.config}).error() ==
          errc::invalid_config);
    f.config.segment_bytes = 1 << 20;
    f.config.flush = flush_mode::fsync;  // needs a flusher
    CHECK(partition_log::open({.dir = f.dir.path() / "x", .config = f.config}).error() ==
          errc::invalid_config);
}

TEST_CASE("slice names exactly the batches that read returns, without reading the records") {
    fixture f;
    file_cache cache(4);
    auto l = partition_log::open(
        {.dir = f.dir.path() / "topic-0", .config = f.config, .time = &f.clk, .files = &cache});
    REQUIRE(l.has_value());
    auto& log = *l.value();
    // Batches of varied sizes, so that ranges end between index entries and inside segments.
    uint64_t rng = 12345;
    auto next = [&rng] {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        return rng >> 33;
    };
    int64_t records = 0;
    for (int i = 0; i < 300; ++i) {
        const int count = 1 + int(next() % 7);
        auto b = make_batch(uint64_t(i), count, 20 + next() % 600, t0 + int64_t{i});
        REQUIRE(log.append(b).has_value());
        records += count;
    }
    REQUIRE(log.segment_count() > 5);
    const offset_t end = log.end_offset();
    CHECK(end == offset_t{records});
    for (int trial = 0; trial < 2000; ++trial) {
        const offset_t from{int64_t(next() % uint64_t(records + 1))};
        const size_t max_bytes = next() % 3 == 0 ? next() % 200 : next() % 40000;
        const offset_t upper =
            next() % 2 == 0 ? offset_t::max() : offset_t{int64_t(next() % uint64_t(records + 1))};
        auto want = log.read(from, max_bytes, upper);
        auto got = log.slice(from, max_bytes, upper);
        REQUIRE(want.has_value());
        REQUIRE(got.has_value());
        CHECK(got.value().next_offset == want.value().next_offset);
        CHECK(got.value().bytes == want.value().bytes.size());
        std::vector<std::byte> bytes;
        for (const auto& r : got.value().ranges) {
            CHECK(r.length > 0);
            std::vector<std::byte> part(r.length);
            REQUIRE(read_exact(*r.f, r.position, part).has_value());
            bytes.insert(bytes.end(), part.begin(), part.end());
        }
        REQUIRE(bytes == want.value().bytes);
    }
    CHECK(log.slice(offset_t{records + 1}, 100).error() == errc::offset_out_of_range);
    auto none = log.slice(end, 100);
    REQUIRE(none.has_value());
    CHECK(none.value().ranges.empty());
    CHECK(none.value().next_offset == end);
}
