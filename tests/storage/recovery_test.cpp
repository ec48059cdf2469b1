// Crash recovery: whatever a crash leaves in the tail of the log, reopening keeps exactly the
// valid prefix and the log accepts new appends after it.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "batch_helpers.h"
#include "sluice/storage/errors.h"
#include "sluice/storage/log.h"
#include "temp_dir.h"

using namespace sluice;
using namespace sluice::storage;
using sluice::testing::make_batch;
using sluice::testing::temp_dir;
namespace fs = std::filesystem;

namespace {

constexpr timestamp_ms_t t0{1'700'000'000'000};

log_config small_segments() {
    log_config c;
    c.segment_bytes = 8 * 1024;
    c.index_interval_bytes = 512;
    c.retention_ms = -1;
    return c;
}

std::unique_ptr<partition_log> open_log(const fs::path& dir, log_config c = small_segments()) {
    auto l = partition_log::open({.dir = dir, .config = c});
    REQUIRE(l.has_value());
    return std::move(l).value();
}

std::vector<std::byte> read_all(partition_log& l) {
    std::vector<std::byte> out;
    auto r = l.read(l.start_offset(), 1 << 30);
    REQUIRE(r.has_value());
    return std::move(r.value().bytes);
}

std::vector<std::byte> file_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> out(c.size());
    std::memcpy(out.data(), c.data(), c.size());
    return out;
}

void write_file(const fs::path& p, const std::vector<std::byte>& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

fs::path last_segment(const fs::path& dir) {
    fs::path last;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().extension() == ".log" && (last.empty() || e.path() > last)) {
            last = e.path();
        }
    }
    return last;
}

// Writes `n` batches into a log at `dir` and leaves it without a clean close (as a crash would),
// returning everything appended, back to back, and where the last batch starts in its file.
struct written {
    std::vector<std::byte> all;
    size_t last_batch_size;
    offset_t last_batch_base;
};

written write_batches(const fs::path& dir, int n, bool clean_close) {
    auto l = open_log(dir);
    written w;
    for (int i = 0; i < n; ++i) {
        auto b = make_batch(uint64_t(i), 3, 90, t0 + i);
        auto r = l->append(b);
        REQUIRE(r.has_value());
        w.all.insert(w.all.end(), b.begin(), b.end());
        w.last_batch_size = b.size();
        w.last_batch_base = r.value().base_offset;
    }
    if (clean_close) {
        REQUIRE(l->close().has_value());
    }
    return w;
}

void check_accepts_appends(partition_log& l) {
    offset_t end = l.end_offset();
    auto b = make_batch(4242, 2, 10, t0);
    auto r = l.append(b);
    REQUIRE(r.has_value());
    CHECK(r.value().base_offset == end);
    auto back = l.read(end, 1 << 20);
    REQUIRE(back.has_value());
    CHECK(back.value().bytes == b);
}

}  // namespace

TEST_CASE("a last batch cut at every byte position reopens as the valid prefix") {
    for (bool clean : {false, true}) {
        CAPTURE(clean);
        temp_dir base;
        written w = write_batches(base.path() / "golden", 40, clean);
        size_t prefix_size = w.all.size() - w.last_batch_size;
        fs::path seg_name = last_segment(base.path() / "golden").filename();
        std::vector<std::byte> seg = file_bytes(base.path() / "golden" / seg_name);
        size_t last_start = seg.size() - w.last_batch_size;

        for (size_t cut = last_start; cut < seg.size(); ++cut) {
            CAPTURE(cut);
            fs::path dir = base.path() / ("cut-" + std::to_string(cut));
            fs::copy(base.path() / "golden", dir);
            std::vector<std::byte> tail(seg.begin(), seg.begin() + ptrdiff_t(cut));
            write_file(dir / seg_name, tail);

            if (clean) {
                // A clean close vouched for every byte: a shorter file is damage, not a crash's
                // tail, and the log refuses to open rather than drop acknowledged records.
                auto refused = partition_log::open({.dir = dir, .config = small_segments()});
                REQUIRE_FALSE(refused.has_value());
                CHECK(refused.error() == storage_errc::damaged_below_recovery_point);
                CHECK(file_bytes(dir / seg_name).size() == cut);  // nothing was cut or removed
                fs::remove_all(dir);
                continue;
            }
            auto l = open_log(dir);
            CHECK(l->end_offset() == w.last_batch_base);
            CHECK(l->recovery().bytes_truncated == cut - last_start);
            auto got = read_all(*l);
            REQUIRE(got.size() == prefix_size);
            CHECK(std::equal(got.begin(), got.end(), w.all.begin()));
            check_accepts_appends(*l);
            l.reset();
            fs::remove_all(dir);
        }
    }
}

TEST_CASE("a random bit flipped in the tail reopens as the prefix before it") {
    temp_dir base;
    written w = write_batches(base.path() / "golden", 40, false);
    fs::path seg_name = last_segment(base.path() / "golden").filename();
    std::vector<std::byte> seg = file_bytes(base.path() / "golden" / seg_name);
    size_t last_start = seg.size() - w.last_batch_size;
    size_t prefix_size = w.all.size() - w.last_batch_size;

    std::mt19937_64 rng(20261121);
    for (int trial = 0; trial < 300; ++trial) {
        // Any bit of the last batch, except the partition leader epoch field: it is outside the
        // CRC by design, and a flip that raises it is indistinguishable from a newer leader's
        // write (the leader-epoch cache of replication checks epochs).
        size_t at;
        do {
            at = last_start + rng() % w.last_batch_size;
        } while (at - last_start >= batch_format::leader_epoch_pos &&
                 at - last_start < batch_format::leader_epoch_pos + 4);
        int bit = int(rng() % 8);
        CAPTURE(at - last_start);
        CAPTURE(bit);
        fs::path dir = base.path() / ("flip-" + std::to_string(trial));
        fs::copy(base.path() / "golden", dir);
        auto bad = seg;
        bad[at] ^= std::byte(1u << bit);
        write_file(dir / seg_name, bad);

        auto l = open_log(dir);
        CHECK(l->end_offset() == w.last_batch_base);
        auto got = read_all(*l);
        REQUIRE(got.size() == prefix_size);
        CHECK(std::equal(got.begin(), got.end(), w.all.begin()));
        check_accepts_appends(*l);
        l.reset();
        fs::remove_all(dir);
    }
}

TEST_CASE("a flip in the middle of the log drops everything after it") {
    temp_dir base;
    fs::path dir = base.path() / "log";
    written w = write_batches(dir, 60, false);
    // Damage the first batch of the second segment.
    std::vector<fs::path> segs;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().extension() == ".log") {
            segs.push_back(e.path());
        }
    }
    std::sort(segs.begin(), segs.end());
    REQUIRE(segs.size() >= 3);
    auto bytes = file_bytes(segs[1]);
    bytes[100] ^= std::byte{0x10};
    write_file(segs[1], bytes);

    auto l = open_log(dir);
    CHECK(l->segment_count() == 2);
    CHECK(l->recovery().segments_dropped == segs.size() - 2);
    auto got = read_all(*l);
    CHECK(got.size() == fs::file_size(segs[0]));
    CHECK(std::equal(got.begin(), got.end(), w.all.begin()));
    check_accepts_appends(*l);
}

TEST_CASE("missing or stale indexes are rebuilt") {
    temp_dir base;
    fs::path dir = base.path() / "log";
    write_batches(dir, 80, true);
    auto reference = open_log(dir);
    std::vector<std::optional<offset_t>> ts_answers;
    for (int i = 0; i < 80; ++i) {
        ts_answers.push_back(reference->offset_for_timestamp(t0 + i).value());
    }
    auto all = read_all(*reference);
    REQUIRE(reference->close().has_value());
    reference.reset();

    SUBCASE("missing") {
        for (const auto& e : fs::directory_iterator(dir)) {
            if (e.path().extension() != ".log" && e.path().extension() != ".checkpoint") {
                fs::remove(e.path());
            }
        }
    }
    SUBCASE("stale: an index of another segment, a cut index, garbage") {
        std::vector<fs::path> idx;
        for (const auto& e : fs::directory_iterator(dir)) {
            if (e.path().extension() == ".index") {
                idx.push_back(e.path());
            }
        }
        std::sort(idx.begin(), idx.end());
        REQUIRE(idx.size() >= 3);
        fs::copy_file(idx[1], idx[0], fs::copy_options::overwrite_existing);
        fs::resize_file(idx[1], fs::file_size(idx[1]) - 3);
        write_file(idx[2], std::vector<std::byte>(64, std::byte{0x5a}));
    }
    auto l = open_log(dir);
    CHECK(l->recovery().segments_scanned > 0);
    CHECK(l->recovery().bytes_truncated == 0);
    CHECK(read_all(*l) == all);
    for (int i = 0; i < 80; ++i) {
        CHECK(l->offset_for_timestamp(t0 + i).value() == ts_answers[size_t(i)]);
    }
    for (int o = 0; o < 240; o += 11) {
        auto r = l->read(offset_t{o}, 1);
        REQUIRE(r.has_value());
        CHECK(batch_view::parse(r.value().bytes).value().header().base_offset ==
              offset_t{o - o % 3});
    }
}

TEST_CASE("leftover temporary files and orphan indexes are cleaned up") {
    temp_dir base;
    fs::path dir = base.path() / "log";
    written w = write_batches(dir, 10, true);
    write_file(dir / "recovery-point.checkpoint.tmp", std::vector<std::byte>(5));
    write_file(dir / "00000000000000099999.index", std::vector<std::byte>(16));
    auto l = open_log(dir);
    CHECK(!fs::exists(dir / "recovery-point.checkpoint.tmp"));
    CHECK(!fs::exists(dir / "00000000000000099999.index"));
    CHECK(read_all(*l) == w.all);
}
