// The partition log under disk faults: a full disk mid-batch, short writes, failing fsyncs and
// truncates, and machine crashes that lose whatever was not fsynced (tests/support/fault_fs.h).
//
// What must hold throughout: an append that reported success is readable byte for byte at the
// offset it was given; an append that failed leaves no trace in the log or its files; in fsync
// mode, every append acknowledged by on_durable() survives a crash; after any of these, reopening
// yields a clean log that takes appends at its end offset.
#include <doctest/doctest.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include "batch_helpers.h"
#include "fault_fs.h"
#include "sluice/protocol/errc.h"
#include "sluice/storage/checkpoint.h"
#include "sluice/storage/errors.h"
#include "sluice/storage/flusher.h"
#include "sluice/storage/log.h"
#include "temp_dir.h"

using namespace sluice;
using namespace sluice::storage;
using sluice::testing::fault_fs;
using sluice::testing::make_batch;
using sluice::testing::split_batches;
using sluice::testing::temp_dir;

namespace {

constexpr timestamp_ms_t t0{1'700'000'000'000};

// A batch as the log stored it: the bytes with the base offset it stamped, and its offsets.
struct stored_batch {
    offset_t base;
    offset_t next;
    std::vector<std::byte> bytes;
};

struct fixture {
    temp_dir dir;
    fault_fs fs;
    manual_clock clk{t0};
    log_config config;
    flusher* sync = nullptr;  // set by fsync-mode tests; must outlive every log opened here
    uint64_t next_seed = 1;

    fixture() {
        config.segment_bytes = 64 * 1024;
        config.index_interval_bytes = 512;
        config.retention_ms = -1;
    }

    std::filesystem::path log_dir() const { return dir.path() / "topic-0"; }

    result<std::unique_ptr<partition_log>> try_open() {
        return partition_log::open(
            {.dir = log_dir(), .config = config, .fs = &fs, .time = &clk, .sync = sync});
    }

    std::unique_ptr<partition_log> open() {
        auto l = try_open();
        REQUIRE_MESSAGE(l.has_value(), (l ? "" : l.error().message()));
        return std::move(l).value();
    }

    // A batch of 1-5 records of 50-349 byte values, different for every call.
    std::vector<std::byte> next_batch() {
        uint64_t s = next_seed++;
        return make_batch(s, 1 + int(s % 5), 50 + size_t(s * 37 % 300), t0 + int64_t(s));
    }

    // Appends the next batch and expects it to land at the end offset.
    stored_batch append(partition_log& l) {
        auto b = next_batch();
        offset_t end = l.end_offset();
        auto r = l.append(b);
        REQUIRE(r.has_value());
        REQUIRE(r.value().base_offset == end);
        return {end, r.value().last_offset + 1, std::move(b)};
    }

    std::vector<stored_batch> append_n(partition_log& l, int n) {
        std::vector<stored_batch> out;
        for (int i = 0; i < n; ++i) {
            out.push_back(append(l));
        }
        return out;
    }

    // The file of the active segment: the highest base offset sorts last.
    std::filesystem::path active_segment_file() const {
        std::filesystem::path last;
        for (const auto& e : std::filesystem::directory_iterator(log_dir())) {
            if (e.path().extension() == ".log" && (last.empty() || e.path() > last)) {
                last = e.path();
            }
        }
        REQUIRE(!last.empty());
        return last;
    }
};

// Waits until every request submitted to `group` so far has completed (they complete in order).
void drain(flusher& group) {
    std::promise<void> done;
    group.submit({}, [&done](std::error_code) { done.set_value(); });
    done.get_future().wait();
}

std::error_code flush_in_background(partition_log& l) {
    std::promise<std::error_code> done;
    l.flush_async([&done](std::error_code ec) { done.set_value(ec); });
    return done.get_future().get();
}

// Appends `b` to `a`.
void extend(std::vector<stored_batch>& a, std::vector<stored_batch> b) {
    a.insert(a.end(), std::make_move_iterator(b.begin()), std::make_move_iterator(b.end()));
}

std::vector<std::byte> read_all(partition_log& l) {
    std::vector<std::byte> all;
    offset_t from = l.start_offset();
    while (from < l.end_offset()) {
        INFO("reading at offset " << from.value() << " of " << l.end_offset().value());
        auto r = l.read(from, 3000);
        REQUIRE(r.has_value());
        REQUIRE(!r.value().bytes.empty());
        all.insert(all.end(), r.value().bytes.begin(), r.value().bytes.end());
        from = r.value().next_offset;
    }
    return all;
}

// The log holds exactly `want`, each batch readable at its own offset and all of them in order.
void check_holds(partition_log& l, const std::vector<stored_batch>& want) {
    CHECK(l.start_offset() == offset_t{0});
    REQUIRE(l.end_offset() == (want.empty() ? offset_t{0} : want.back().next));
    std::vector<std::byte> all;
    for (const auto& b : want) {
        auto r = l.read(b.base, 1);  // one byte asked: exactly the batch at that offset
        REQUIRE(r.has_value());
        CHECK(r.value().bytes == b.bytes);
        CHECK(r.value().next_offset == b.next);
        all.insert(all.end(), b.bytes.begin(), b.bytes.end());
    }
    CHECK(read_all(l) == all);
}

// The log holds a prefix of `appended` of at least `min_batches` batches; returns its length.
size_t check_prefix(partition_log& l, const std::vector<stored_batch>& appended,
                    size_t min_batches) {
    auto bytes = read_all(l);
    auto got = split_batches(bytes);
    REQUIRE(got.size() >= min_batches);
    REQUIRE(got.size() <= appended.size());
    for (size_t i = 0; i < got.size(); ++i) {
        auto b = got[i].bytes();
        CHECK(std::vector<std::byte>(b.begin(), b.end()) == appended[i].bytes);
    }
    CHECK(l.end_offset() == (got.empty() ? offset_t{0} : appended[got.size() - 1].next));
    return got.size();
}

// The error of `r`; none if it holds a value.
template <typename T>
std::error_code error_of(const result<T>& r) {
    return r.has_value() ? std::error_code{} : r.error();
}

// Calls on_durable and waits for its completion.
std::error_code wait_durable(partition_log& l) {
    // Shared, so that the flusher thread never touches a promise this thread has destroyed.
    auto done = std::make_shared<std::promise<std::error_code>>();
    auto outcome = done->get_future();
    l.on_durable([done](std::error_code ec) { done->set_value(ec); });
    return outcome.get();
}

}  // namespace

TEST_CASE("fault_fs: a crash keeps synced data, follows renames and forgets removed files") {
    temp_dir dir;
    fault_fs fs;
    const std::byte data[10]{};
    auto write = [&](const char* name, size_t n, bool then_sync) {
        auto f = fs.open(dir.path() / name, open_mode::read_write);
        REQUIRE(f.has_value());
        size_t written = 0;
        REQUIRE(append_all(*f.value(), std::span(data, n), written).has_value());
        if (then_sync) {
            REQUIRE(f.value()->sync().has_value());
        }
    };
    write("a", 6, true);
    write("a", 4, false);  // 6 durable bytes, 4 not
    write("b", 10, false);
    write("c", 10, false);
    REQUIRE(fs.remove(dir.path() / "c").has_value());
    REQUIRE(write_checkpoint(fs, dir.path() / "cp", std::span(data, 8)).has_value());
    CHECK(fs.syncs() >= 2);
    CHECK(fs.writes() == 5);

    fs.drop_unsynced();
    CHECK(std::filesystem::file_size(dir.path() / "a") == 6);
    CHECK(std::filesystem::file_size(dir.path() / "b") == 0);
    CHECK(!std::filesystem::exists(dir.path() / "c"));
    auto cp = read_checkpoint(fs, dir.path() / "cp");
    REQUIRE(cp.has_value());
    CHECK(cp.value().has_value());

    // Knobs: a short write, then a full disk.
    fs.set_short_writes(3);
    fs.set_space_left(5);
    auto f = fs.open(dir.path() / "d", open_mode::read_write);
    REQUIRE(f.has_value());
    CHECK(f.value()->append(data).value() == 3);
    CHECK(f.value()->append(data).value() == 2);
    auto full = f.value()->append(data);
    REQUIRE(!full.has_value());
    CHECK(full.error() == std::errc::no_space_on_device);
}

TEST_CASE("a full disk mid-batch fails the append and leaves no trace") {
    fixture f;
    auto l = f.open();
    auto acked = f.append_n(*l, 10);
    const auto file = f.active_segment_file();
    const auto size_before = std::filesystem::file_size(file);
    const auto end_before = l->end_offset();

    auto b = f.next_batch();
    f.fs.set_space_left(b.size() / 2);
    auto r = l->append(b);
    REQUIRE(!r.has_value());
    CHECK(r.error() == std::errc::no_space_on_device);
    CHECK(!l->failed());
    CHECK(l->end_offset() == end_before);
    CHECK(std::filesystem::file_size(file) == size_before);
    check_holds(*l, acked);

    f.fs.clear_faults();
    extend(acked, f.append_n(*l, 5));
    check_holds(*l, acked);

    REQUIRE(l->close().has_value());
    l = f.open();
    CHECK(l->recovery().bytes_truncated == 0);
    CHECK(l->recovery().segments_scanned == 0);
    check_holds(*l, acked);
}

// The disk fills at many points relative to batches, index writes and rolls.
TEST_CASE("a full disk at any point, also during a roll, keeps the log consistent") {
    for (uint64_t space = 0; space < 6000; space += 11) {
        CAPTURE(space);
        fixture f;
        f.config.segment_bytes = 4096;
        auto l = f.open();
        auto acked = f.append_n(*l, 8);

        f.fs.set_space_left(space);
        f.fs.set_short_writes(space % 2 == 1 ? 50 : 0);
        result<append_result> r = append_result{};
        for (int i = 0; i < 50 && r.has_value(); ++i) {
            auto b = f.next_batch();
            offset_t end = l->end_offset();
            r = l->append(b);
            if (r.has_value()) {
                acked.push_back({end, r.value().last_offset + 1, std::move(b)});
            }
        }
        REQUIRE(!r.has_value());
        CHECK(r.error() == std::errc::no_space_on_device);
        CHECK(!l->failed());
        check_holds(*l, acked);

        f.fs.clear_faults();
        extend(acked, f.append_n(*l, 3));
        REQUIRE(l->close().has_value());
        l = f.open();
        CHECK(l->recovery().bytes_truncated == 0);
        CHECK(l->recovery().segments_dropped == 0);
        check_holds(*l, acked);
    }
}

TEST_CASE("short writes are looped over") {
    for (size_t k : {1, 7, 100}) {
        for (bool close_first : {true, false}) {
            CAPTURE(k);
            CAPTURE(close_first);
            fixture f;
            f.config.segment_bytes = 4096;  // rolls, so index files are written short too
            f.fs.set_short_writes(k);
            auto l = f.open();
            auto acked = f.append_n(*l, 20);
            CHECK(l->segment_count() > 1);
            CHECK(f.fs.writes() > 20);
            check_holds(*l, acked);

            if (close_first) {
                REQUIRE(l->close().has_value());
            }
            l.reset();
            l = f.open();
            CHECK(l->recovery().bytes_truncated == 0);
            if (close_first) {
                CHECK(l->recovery().segments_scanned == 0);
            }
            check_holds(*l, acked);
        }
    }
}

TEST_CASE("a failing fsync fails the log; what was durable before survives") {
    fixture f;
    f.config.flush = flush_mode::fsync;
    auto fl = std::make_unique<flusher>();
    f.sync = fl.get();
    auto l = f.open();
    auto durable = f.append_n(*l, 5);
    REQUIRE(!wait_durable(*l));

    f.fs.set_fail_sync(true);
    auto all = durable;
    extend(all, f.append_n(*l, 3));  // appends do not sync, so they still succeed
    auto ec = wait_durable(*l);
    CHECK(ec == std::errc::io_error);
    CHECK(l->failed());

    auto b = f.next_batch();
    auto r = l->append(b);
    REQUIRE(!r.has_value());
    CHECK(r.error() == errc::kafka_storage_error);
    CHECK(wait_durable(*l) == errc::kafka_storage_error);
    check_holds(*l, all);  // reads go on, also of data not known to be durable

    // Clearing the fault does not revive the log; only a reopen does.
    f.fs.clear_faults();
    CHECK(l->append(b).error() == errc::kafka_storage_error);
    // And a crash loses what the failed fsync did not make durable. The flusher goes too: it
    // may hold the log's files until its round ends.
    l.reset();
    fl.reset();
    f.fs.drop_unsynced();
    fl = std::make_unique<flusher>();
    f.sync = fl.get();
    l = f.open();
    CHECK(!l->failed());
    check_holds(*l, durable);
    extend(durable, f.append_n(*l, 2));
    CHECK(!wait_durable(*l));
    check_holds(*l, durable);
}

TEST_CASE("a failing truncate while undoing a failed write fails the log") {
    fixture f;
    auto l = f.open();
    auto acked = f.append_n(*l, 6);
    const auto end_before = l->end_offset();

    f.fs.set_space_left(100);
    f.fs.set_fail_truncate(true);
    auto b = f.next_batch();
    auto r = l->append(b);
    REQUIRE(!r.has_value());
    CHECK(r.error() == std::errc::no_space_on_device);
    CHECK(l->failed());
    CHECK(l->end_offset() == end_before);

    f.fs.clear_faults();
    auto again = l->append(b);
    REQUIRE(!again.has_value());
    CHECK(again.error() == errc::kafka_storage_error);
    check_holds(*l, acked);
    CHECK(l->close().error() == errc::kafka_storage_error);

    l.reset();
    l = f.open();
    CHECK(l->recovery().bytes_truncated == 100);  // the partial batch left behind
    check_holds(*l, acked);
    extend(acked, f.append_n(*l, 2));
    check_holds(*l, acked);
}

TEST_CASE("a reserve that cannot be freed does not stop the close") {
    // preallocate (the default) frees the active segment's reserve with a truncate to its own
    // size at a roll and at close: a hint, whose failure leaves only blocks allocated. (A roll
    // also truncates its new file, so failing truncates fail it for that reason.)
    fixture f;
    auto l = f.open();
    auto want = f.append_n(*l, 400);
    CHECK(l->segment_count() > 3);
    f.fs.set_fail_truncate(true);
    REQUIRE(l->close().has_value());
    l.reset();
    f.fs.set_fail_truncate(false);
    auto m = f.open();
    check_holds(*m, want);
    CHECK(m->recovery().segments_scanned == 0);  // the close checkpointed everything
}

TEST_CASE("a failing fsync in flush() or close() fails the log") {
    // log.h: "if ... an fsync fails, the log turns failed". A flush retried after a failed fsync
    // could succeed without the lost pages and write a recovery point that vouches for them.
    fixture f;
    auto l = f.open();
    auto acked = f.append_n(*l, 5);
    f.fs.set_fail_sync(true);
    SUBCASE("flush") {
        CHECK(error_of(l->flush()) == std::errc::io_error);
    }
    SUBCASE("close") {
        CHECK(error_of(l->close()) == std::errc::io_error);
    }
    f.fs.clear_faults();
    CHECK(l->failed());
    check_holds(*l, acked);
    CHECK(error_of(l->flush()) == errc::kafka_storage_error);
    auto b = f.next_batch();
    CHECK(error_of(l->append(b)) == errc::kafka_storage_error);
}

TEST_CASE("a failing truncate_to leaves the log failed or consistent") {
    fixture f;
    f.config.segment_bytes = 4096;
    auto l = f.open();
    auto acked = f.append_n(*l, 20);
    REQUIRE(l->segment_count() > 2);
    const offset_t cut = acked[13].base;

    SUBCASE("the file's fsync fails") {
        f.fs.set_fail_sync(true);
    }
    SUBCASE("the directory's fsync fails") {
        f.fs.set_fail_sync(false, true);
    }
    SUBCASE("the truncate fails") {
        f.fs.set_fail_truncate(true);
    }
    auto r = l->truncate_to(cut);
    REQUIRE(!r.has_value());
    CHECK(r.error() == std::errc::io_error);
    f.fs.clear_faults();
    if (!l->failed()) {
        // Still taking appends, so it must still be a log: some prefix of what it held, readable,
        // with new appends landing where reads find them.
        acked.resize(check_prefix(*l, acked, 13));
        extend(acked, f.append_n(*l, 3));
        check_holds(*l, acked);
    } else {
        CHECK(l->append(acked[0].bytes).error() == errc::kafka_storage_error);
    }
    l.reset();
    l = f.open();
    acked.resize(check_prefix(*l, acked, 13));
    extend(acked, f.append_n(*l, 2));
    check_holds(*l, acked);
}

namespace {

// Completions of on_durable() in the crash test; they run on the flusher thread.
struct ack_log {
    std::mutex mutex;
    std::condition_variable changed;
    size_t completed = 0;
    size_t acked = 0;  // the first `acked` batches are known durable

    void complete(size_t batches, bool ok) {
        std::lock_guard lock(mutex);
        ++completed;
        if (ok) {
            acked = std::max(acked, batches);
        }
        changed.notify_all();
    }

    void wait_completed(size_t n) {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return completed >= n; });
    }
};

// Boots an fsync-mode log three times; in each boot it appends batches with an on_durable() after
// each, sometimes waiting for the acknowledgements, and then crashes. Every reopen must find the
// batches appended so far up to at least the last acknowledged one, and nothing else.
void crash_in_fsync_mode(uint64_t seed, bool torn_tails) {
    CAPTURE(seed);
    CAPTURE(torn_tails);
    std::mt19937_64 rng(seed);
    fixture f;
    f.next_seed = seed * 1000;
    f.config.flush = flush_mode::fsync;
    f.config.segment_bytes = 4096;
    f.config.index_interval_bytes = 256;

    std::vector<stored_batch> appended;
    size_t acked = 0;  // the first `acked` batches of `appended` were acknowledged durable
    for (int boot = 0; boot < 3; ++boot) {
        CAPTURE(boot);
        // A slow disk, so that group commit batches appends and a crash finds some in flight.
        f.fs.set_sync_delay(std::chrono::microseconds(200 + rng() % 1000));
        if (rng() % 2 == 1) {
            f.fs.set_short_writes(1 + rng() % 200);  // so that syncs see half-written batches
        }
        const size_t n = 30 + rng() % 100;
        ack_log acks;
        acks.acked = acked;
        {
            flusher fl;
            f.sync = &fl;
            auto l = f.open();
            appended.resize(check_prefix(*l, appended, acked));  // what the last crash left
            for (size_t i = 0; i < n; ++i) {
                appended.push_back(f.append(*l));
                l->on_durable([&acks, count = appended.size()](std::error_code ec) {
                    acks.complete(count, !ec);
                });
                if (rng() % 16 == 0) {
                    acks.wait_completed(i + 1);
                }
            }
            // The crash: from here on nothing becomes durable. The log goes without a close,
            // and the flusher's last rounds fail.
            f.fs.set_fail_sync(true, true);
            l.reset();
        }
        CHECK(acks.completed == n);  // every completion ran, exactly once
        acked = acks.acked;

        f.fs.clear_faults();
        if (torn_tails) {
            f.fs.drop_unsynced_keep_random(seed * 10 + uint64_t(boot));
        } else {
            f.fs.drop_unsynced();
        }
    }
    flusher fl;
    f.sync = &fl;
    auto l = f.open();
    appended.resize(check_prefix(*l, appended, acked));
    CHECK(l->segment_count() > 2);
    extend(appended, f.append_n(*l, 3));
    CHECK(!wait_durable(*l));
    check_holds(*l, appended);
}

}  // namespace

TEST_CASE("a crash in fsync mode keeps every acknowledged batch") {
    for (uint64_t seed = 1; seed <= 8; ++seed) {
        crash_in_fsync_mode(seed, false);
    }
}

TEST_CASE("a crash in fsync mode with torn tails keeps every acknowledged batch") {
    for (uint64_t seed = 1; seed <= 8; ++seed) {
        crash_in_fsync_mode(seed, true);
    }
}

TEST_CASE("a crash in page-cache mode keeps what flush() made durable") {
    fixture f;
    f.config.segment_bytes = 4096;
    auto l = f.open();
    auto flushed = f.append_n(*l, 25);
    REQUIRE(l->flush().has_value());
    auto all = flushed;
    extend(all, f.append_n(*l, 15));  // rolls on, never synced
    l.reset();

    SUBCASE("unsynced data is lost whole") {
        f.fs.drop_unsynced();
        l = f.open();
        CHECK(l->recovery().recovery_point == flushed.back().next);
        check_holds(*l, flushed);
        all = flushed;
    }
    SUBCASE("unsynced data is lost from a random point on") {
        f.fs.drop_unsynced_keep_random(7);
        l = f.open();
        all.resize(check_prefix(*l, all, flushed.size()));
    }
    // `all` now holds what survived; the log goes on from there.
    extend(all, f.append_n(*l, 2));
    check_holds(*l, all);
}

TEST_CASE("fsync mode: what recovery accepts is made durable before it is served") {
    // Batches were written but never fsynced, then the process died. The restart's recovery
    // scan finds them valid; a power loss after that must not take back what consumers may
    // since have read.
    fixture f;
    flusher group;
    f.sync = &group;
    f.config.flush = flush_mode::fsync;
    offset_t end;
    {
        auto l = f.open();
        f.append_n(*l, 30);  // no on_durable(): nothing is fsynced
        end = l->end_offset();
    }  // the process dies: no close
    drain(group);
    {
        auto l = f.open();
        CHECK(l->recovery().segments_scanned > 0);
        CHECK(l->end_offset() == end);
    }
    f.fs.drop_unsynced();  // the machine loses power
    auto l = f.open();
    CHECK(l->end_offset() == end);
}

TEST_CASE("recovery checkpoints what it scanned: the next start scans nothing") {
    fixture f;
    {
        auto l = f.open();
        f.append_n(*l, 40);
    }  // a crash: no close
    {
        auto l = f.open();
        CHECK(l->recovery().segments_scanned > 0);
    }  // another crash, with nothing appended in between
    auto l = f.open();
    CHECK(l->recovery().segments_scanned == 0);
}

TEST_CASE("a roll moves the recovery point: a crash rescans only the newest segments") {
    fixture f;
    flusher group;
    f.sync = &group;
    f.config.segment_bytes = 8 * 1024;
    auto roll_once = [&f](partition_log& l) {
        const size_t before = l.segment_count();
        while (l.segment_count() == before) {
            f.append(l);
        }
    };
    size_t segments = 0;
    {
        auto l = f.open();
        while (l->segment_count() < 12) {
            f.append(*l);
        }
        // Rolls made while an fsync was under way left their segments pending: one more roll
        // hands them over, and once their fsync completes the recovery point moves to their end.
        drain(group);
        roll_once(*l);
        drain(group);
        roll_once(*l);
        segments = l->segment_count();
    }              // a crash
    drain(group);  // the flusher thread of the process that died is done too
    auto l = f.open();
    CHECK(l->segment_count() == segments);
    CHECK(l->recovery().segments_loaded >= segments - 2);
    CHECK(l->recovery().segments_scanned <= 2);
}

TEST_CASE("damage below the recovery checkpoint refuses the log instead of dropping segments") {
    fixture f;
    f.config.segment_bytes = 8 * 1024;
    {
        auto l = f.open();
        while (l->segment_count() < 6) {
            f.append(*l);
        }
        REQUIRE(l->close().has_value());  // the checkpoint vouches for every segment
    }
    std::vector<std::filesystem::path> logs;
    for (const auto& e : std::filesystem::directory_iterator(f.log_dir())) {
        if (e.path().extension() == ".log") {
            logs.push_back(e.path());
        }
    }
    std::sort(logs.begin(), logs.end());
    REQUIRE(logs.size() == 6);
    // A sealed segment in the middle loses its indexes (so recovery must scan it) and has a
    // byte flipped in its last batch.
    const auto victim = logs[2];
    std::filesystem::remove(std::filesystem::path(victim).replace_extension(".index"));
    std::filesystem::remove(std::filesystem::path(victim).replace_extension(".timeindex"));
    const auto size = std::filesystem::file_size(victim);
    {
        std::fstream io(victim, std::ios::in | std::ios::out | std::ios::binary);
        io.seekg(std::streamoff(size - 3));
        char c = 0;
        io.read(&c, 1);
        c = char(c ^ 0x40);
        io.seekp(std::streamoff(size - 3));
        io.write(&c, 1);
    }
    auto refused = f.try_open();
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error() == storage_errc::damaged_below_recovery_point);
    for (const auto& p : logs) {
        CHECK(std::filesystem::exists(p));  // no segment was cut or removed
    }
    CHECK(std::filesystem::file_size(victim) == size);
}

TEST_CASE("the periodic flush runs on the flusher's thread and moves the recovery point") {
    fixture f;
    flusher group;
    f.sync = &group;
    auto l = f.open();
    auto flushed = f.append_n(*l, 25);  // one segment: no roll syncs anything
    REQUIRE(l->segment_count() == 1);
    CHECK(!flush_in_background(*l));
    f.append_n(*l, 5);  // never synced
    REQUIRE(l->segment_count() == 1);
    l.reset();  // a crash
    f.fs.drop_unsynced();
    l = f.open();
    CHECK(l->recovery().recovery_point == flushed.back().next);
    check_holds(*l, flushed);
}

TEST_CASE("a truncation while a flush is queued keeps the recovery point below the cut") {
    fixture f;
    flusher group;
    f.sync = &group;
    f.config.segment_bytes = 4096;
    auto l = f.open();
    auto kept = f.append_n(*l, 10);
    f.append_n(*l, 20);
    // The flush's fsyncs take a while; the truncation happens before they complete.
    f.fs.set_sync_delay(std::chrono::milliseconds(200));
    std::promise<std::error_code> done;
    l->flush_async([&done](std::error_code ec) { done.set_value(ec); });
    REQUIRE(l->truncate_to(kept.back().next).has_value());
    CHECK(!done.get_future().get());
    f.fs.clear_faults();
    l.reset();  // a crash
    drain(group);
    l = f.open();
    // Had the flush's checkpoint landed, it would vouch for offsets the log no longer has.
    CHECK(l->recovery().recovery_point <= kept.back().next);
    check_holds(*l, kept);
}

TEST_CASE("retention renames the segments it drops and the flusher's thread unlinks them") {
    fixture f;
    flusher group;
    f.sync = &group;
    f.config.segment_bytes = 4096;
    f.config.retention_bytes = 3 * 4096;
    auto l = f.open();
    f.append_n(*l, 80);
    const size_t before = l->segment_count();
    auto deleted = l->apply_retention();
    REQUIRE(deleted.has_value());
    CHECK(deleted.value() > 0);
    CHECK(l->segment_count() == before - deleted.value());
    drain(group);
    size_t logs = 0;
    for (const auto& e : std::filesystem::directory_iterator(f.log_dir())) {
        CHECK(!e.path().string().ends_with(".deleted"));
        logs += e.path().extension() == ".log" ? 1 : 0;
    }
    CHECK(logs == l->segment_count());
    // A crash between the rename and the unlink leaves a file that the next open removes.
    const auto leftover = f.log_dir() / "00000000000000000000.log.deleted";
    { std::ofstream(leftover) << "old"; }
    l.reset();
    drain(group);
    l = f.open();
    CHECK(!std::filesystem::exists(leftover));
    CHECK(l->segment_count() == before - deleted.value());
}
