// Idempotent produce through real partitions on real logs in a temporary directory: a leader
// answers a retry with its first offsets and appends nothing, refuses zombies and gaps, and the
// state survives a clean close, a crash (replay after the last snapshot), a follower's
// replication and promotion, truncation, a restart of the log, and expiry.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "partition_helpers.h"
#include "sluice/core/partition.h"
#include "sluice/core/producer_snapshot.h"
#include "temp_dir.h"

using namespace sluice;
using namespace sluice::broker;
using sluice::testing::bytes_of;

namespace {

const node_id_t n0{0}, n1{1};

partition_role role(node_id_t self, node_id_t leader, int32_t epoch) {
    return {leader, leader_epoch_t{epoch}, replica_assignment{self, {n0, n1}, {n0, n1}, 0, 1}};
}

// A batch of `records` records from producer `id` at `epoch`, its first sequence `seq`.
std::vector<std::byte> batch(int64_t id, int16_t epoch, int32_t seq, int records,
                             int64_t timestamp = 1'700'000'000'000) {
    batch_builder b(
        {producer_id_t{id}, producer_epoch_t{epoch}, sequence_t{seq}, /*reserve_bytes=*/0});
    for (int i = 0; i < records; ++i) {
        const std::string v = "value-" + std::to_string(seq + i) + std::string(200, 'x');
        b.add(record_input{std::nullopt, as_bytes(v), timestamp_ms_t{timestamp}, {}});
    }
    return b.finish();
}

std::vector<std::byte> plain_batch(int records) {
    batch_builder b;
    for (int i = 0; i < records; ++i) {
        b.add(record_input{std::nullopt, as_bytes("plain"), timestamp_ms_t{1000}, {}});
    }
    return b.finish();
}

std::vector<std::byte> concat(std::vector<std::byte> a, const std::vector<std::byte>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

struct fixture {
    boost::asio::io_context io;
    testing::temp_dir dir;
    storage::manual_clock clock;
    uint64_t segment_bytes = 1 << 20;

    std::shared_ptr<partition> open(const std::string& name, const partition_role& r) {
        partition::options o;
        o.topic = "t";
        o.dir = dir.path() / name;
        o.role = r;
        o.time = &clock;
        o.settings.log.segment_bytes = segment_bytes;
        o.producer_id_expiration = std::chrono::hours(1);
        auto p = partition::open(boost::asio::make_strand(io), o);
        REQUIRE(p.has_value());
        return p.value();
    }
};

partition::append_outcome append(partition& p, std::vector<std::byte> bytes) {
    return p.append(bytes, false);
}

// Copies everything `follower` lacks from `leader`, in fetches of up to `max_bytes` (at least
// one batch each).
void replicate(partition& leader, partition& follower, node_id_t id, size_t max_bytes = 1 << 20) {
    for (;;) {
        const auto from = follower.offsets().log_end;
        auto r = leader.read(from, max_bytes, SIZE_MAX, {id, follower.last_epoch(), {}},
                             leader.leader_epoch(), nullptr);
        REQUIRE(r.error == errc::none);
        REQUIRE_FALSE(r.diverging);
        auto bytes = bytes_of(r);
        if (bytes.empty()) {
            return;
        }
        REQUIRE(follower.append_replicated(bytes).error == errc::none);
    }
}

std::vector<offset_t> snapshots_in(const std::filesystem::path& dir) {
    auto r = list_producer_snapshots(storage::posix_file_system(), dir);
    REQUIRE(r.has_value());
    return r.value();
}

}  // namespace

TEST_CASE("a leader answers a retry with its first offsets and refuses gaps and zombies") {
    fixture f;
    auto p = f.open("p", role(n0, n0, 1));
    auto first = append(*p, batch(7, 0, 0, 3));
    REQUIRE(first.error == errc::none);
    CHECK(first.base_offset == offset_t{0});
    CHECK(first.last_offset == offset_t{2});
    CHECK_FALSE(first.duplicate);
    REQUIRE(append(*p, plain_batch(2)).error == errc::none);  // not idempotent: 3..4
    auto second = append(*p, batch(7, 0, 3, 2));
    REQUIRE(second.error == errc::none);
    CHECK(second.base_offset == offset_t{5});

    // Retries of either batch: nothing appended, the first write's offsets.
    auto retry = append(*p, batch(7, 0, 0, 3));
    CHECK(retry.error == errc::none);
    CHECK(retry.duplicate);
    CHECK(retry.base_offset == offset_t{0});
    CHECK(retry.last_offset == offset_t{2});
    retry = append(*p, batch(7, 0, 3, 2));
    CHECK(retry.duplicate);
    CHECK(retry.base_offset == offset_t{5});
    CHECK(p->offsets().log_end == offset_t{7});

    // A gap, and a retry that does not match a kept batch exactly.
    auto gap = append(*p, batch(7, 0, 9, 1));
    CHECK(gap.error == errc::out_of_order_sequence_number);
    CHECK(gap.message.find("expected 5") != std::string::npos);
    CHECK(append(*p, batch(7, 0, 0, 2)).error == errc::out_of_order_sequence_number);
    CHECK(p->offsets().log_end == offset_t{7});

    // A new epoch starts at 0; the old epoch is then a zombie.
    CHECK(append(*p, batch(7, 1, 5, 1)).error == errc::out_of_order_sequence_number);
    REQUIRE(append(*p, batch(7, 1, 0, 1)).error == errc::none);
    auto zombie = append(*p, batch(7, 0, 5, 1));
    CHECK(zombie.error == errc::invalid_producer_epoch);
    CHECK(zombie.message.find("fenced") != std::string::npos);
    CHECK(p->offsets().log_end == offset_t{8});

    // A producer the partition has no state for is taken at any sequence.
    REQUIRE(append(*p, batch(8, 0, 42, 1)).error == errc::none);
    CHECK(p->offsets().log_end == offset_t{9});
}

TEST_CASE("one append with several batches of a producer: checked in order, all or nothing") {
    fixture f;
    auto p = f.open("p", role(n0, n0, 1));
    auto two = append(*p, concat(batch(7, 0, 0, 2), batch(7, 0, 2, 2)));
    REQUIRE(two.error == errc::none);
    CHECK(two.last_offset == offset_t{3});
    // A new batch followed by one that does not follow: nothing at all is appended.
    auto bad = append(*p, concat(batch(7, 0, 4, 1), batch(7, 0, 9, 1)));
    CHECK(bad.error == errc::out_of_order_sequence_number);
    CHECK(p->offsets().log_end == offset_t{4});
    // The state did not take the first batch of the refused append: it still goes on at 4.
    auto next = append(*p, batch(7, 0, 4, 1));
    REQUIRE(next.error == errc::none);
    CHECK(next.base_offset == offset_t{4});
    // A request that repeats a written batch is answered as that batch's retry.
    auto again = append(*p, concat(batch(7, 0, 5, 1), batch(7, 0, 2, 2)));
    CHECK(again.error == errc::none);
    CHECK(again.duplicate);
    CHECK(again.base_offset == offset_t{2});
    CHECK(p->offsets().log_end == offset_t{5});
}

TEST_CASE("the producer state survives a clean close and a crash, from snapshots and the log") {
    fixture f;
    f.segment_bytes = 4096;  // rolls every few batches, each roll writes a snapshot
    const auto dir = f.dir.path() / "p";
    producer_state before;
    {
        auto p = f.open("p", role(n0, n0, 1));
        for (int32_t i = 0; i < 40; ++i) {
            REQUIRE(append(*p, batch(100 + i % 3, 0, i / 3 * 2, 2)).error == errc::none);
        }
        before = p->producers();
        CHECK(before.entries().size() == 3);
        REQUIRE(p->close(errc::not_leader_or_follower));
    }
    auto snaps = snapshots_in(dir);
    REQUIRE(snaps.size() > 2);            // at rolls and at close
    CHECK(snaps.back() == offset_t{80});  // close: at the log end
    {
        auto p = f.open("p", role(n0, n0, 2));
        CHECK(p->producers() == before);
        // A retry of the last batch of producer 100 (sequences 26..27) is recognised.
        auto retry = append(*p, batch(100, 0, 26, 2));
        CHECK(retry.duplicate);
        CHECK(retry.base_offset == offset_t{78});
        // A crash: more appends, then the partition is dropped without close. The close's
        // snapshot is all there is past the rolls; the rest is replayed from the log.
        for (int32_t i = 0; i < 10; ++i) {
            REQUIRE(append(*p, batch(200, 0, 2 * i, 2)).error == errc::none);
        }
        before = p->producers();
    }
    // A snapshot write that a crash interrupted, and one past the log end (the crash took the
    // records it covered), are removed at open.
    std::ofstream(dir / "00000000000000000050.snapshot.tmp") << "half";
    REQUIRE(write_producer_snapshot(storage::posix_file_system(), dir,
                                    producer_snapshot{offset_t{1000}, producer_state{}}));
    auto p = f.open("p", role(n0, n0, 3));
    CHECK(p->producers() == before);
    CHECK_FALSE(std::filesystem::exists(dir / "00000000000000000050.snapshot.tmp"));
    CHECK(snapshots_in(dir).back() < offset_t{1000});
    auto retry = append(*p, batch(200, 0, 18, 2));
    CHECK(retry.duplicate);
    CHECK(retry.base_offset == offset_t{98});
}

TEST_CASE("a follower builds the state as it replicates, and deduplicates once it leads") {
    fixture f;
    auto leader = f.open("leader", role(n0, n0, 1));
    auto follower = f.open("follower", role(n1, n0, 1));
    REQUIRE(append(*leader, batch(7, 0, 0, 2)).error == errc::none);
    REQUIRE(append(*leader, batch(8, 3, 10, 1)).error == errc::none);
    REQUIRE(append(*leader, batch(7, 0, 2, 2)).error == errc::none);
    replicate(*leader, *follower, n1);
    CHECK(follower->producers() == leader->producers());

    // The leader dies after appending a batch whose acknowledgement its producer never saw; the
    // follower has it and is elected: the producer's retry is answered, not appended twice.
    follower->set_role(role(n1, n1, 2), std::chrono::steady_clock::now());
    REQUIRE(follower->is_leader());
    auto retry = append(*follower, batch(7, 0, 2, 2));
    CHECK(retry.error == errc::none);
    CHECK(retry.duplicate);
    CHECK(retry.base_offset == offset_t{3});
    CHECK(follower->offsets().log_end == offset_t{5});
    auto next = append(*follower, batch(7, 0, 4, 1));
    CHECK(next.error == errc::none);
    CHECK(next.base_offset == offset_t{5});
}

TEST_CASE("truncation rolls the state back; a restart of the log empties it") {
    fixture f;
    f.segment_bytes = 4096;
    auto leader = f.open("leader", role(n0, n0, 1));
    auto follower = f.open("follower", role(n1, n0, 1));
    producer_state at_10, at_30;
    for (int32_t i = 0; i < 20; ++i) {
        // Two producers, so that a rollback has an entry to drop as well as one to cut.
        REQUIRE(append(*leader, batch(i < 5 ? 7 : 8, 0, i < 5 ? 2 * i : 2 * (i - 5), 2)).error ==
                errc::none);
        if (i == 4) {
            at_10 = leader->producers();
        } else if (i == 14) {
            at_30 = leader->producers();
        }
    }
    replicate(*leader, *follower, n1, 1);  // a batch per fetch: a snapshot at each roll
    const auto dir = f.dir.path() / "follower";
    const auto snaps = snapshots_in(dir);
    REQUIRE(snaps.size() > 1);  // the follower rolls and snapshots too
    CHECK(snaps.front() < offset_t{30});
    CHECK(snaps.back() > offset_t{30});

    // Back past the newest snapshot: rebuilt from an older one and the log after it.
    auto end = follower->truncate_to(offset_t{30});
    REQUIRE(end.has_value());
    CHECK(follower->producers() == at_30);
    for (offset_t o : snapshots_in(dir)) {
        CHECK(o <= offset_t{30});
    }
    // Back before producer 8's first batch: it is gone from the state.
    end = follower->truncate_to(offset_t{10});
    REQUIRE(end.has_value());
    CHECK(end.value() == offset_t{10});
    CHECK(follower->producers() == at_10);
    CHECK(follower->producers().find(producer_id_t{8}) == nullptr);
    for (offset_t o : snapshots_in(dir)) {
        CHECK(o <= offset_t{10});
    }
    // What the follower fetches next rebuilds the rest.
    replicate(*leader, *follower, n1);
    CHECK(follower->producers() == leader->producers());

    REQUIRE(follower->restart_at(offset_t{500}).has_value());
    CHECK(follower->producers().entries().empty());
    CHECK(snapshots_in(dir).empty());
}

TEST_CASE("producers that wrote nothing for producer.id.expiration.ms are forgotten") {
    fixture f;
    auto p = f.open("p", role(n0, n0, 1));
    const int64_t now = f.clock.now().value();
    REQUIRE(append(*p, batch(7, 0, 0, 1, now)).error == errc::none);
    f.clock.advance_ms(30 * 60 * 1000);
    REQUIRE(append(*p, batch(8, 0, 0, 1, f.clock.now().value())).error == errc::none);
    f.clock.advance_ms(31 * 60 * 1000);  // 61 minutes after 7's batch, 31 after 8's
    p->apply_retention();
    CHECK(p->producers().find(producer_id_t{7}) == nullptr);
    CHECK(p->producers().find(producer_id_t{8}) != nullptr);
    // Forgotten: its next batch is taken at any sequence (KIP-360's client then starts over).
    CHECK(append(*p, batch(7, 0, 99, 1)).error == errc::none);
    CHECK(append(*p, batch(8, 0, 99, 1)).error == errc::out_of_order_sequence_number);
}
