// A leader and a follower partition on real logs in a temporary directory, with the follower's
// fetches done by hand: replicated batches keep their offsets and epochs, acks=all waits for the
// follower, a diverged follower truncates where the leader's epochs say (KIP-101's scenario),
// and only the partition's replicas read past the high watermark.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "partition_helpers.h"
#include "sluice/core/high_watermark_file.h"
#include "sluice/core/leader_epochs.h"
#include "sluice/core/partition.h"
#include "temp_dir.h"

using namespace sluice;
using namespace sluice::broker;
using sluice::testing::bytes_of;

namespace {

const node_id_t n0{0}, n1{1};

partition_role role(node_id_t self, node_id_t leader, int32_t epoch,
                    std::vector<node_id_t> isr = {n0, n1}, int32_t min_insync = 1) {
    return {leader, leader_epoch_t{epoch},
            replica_assignment{self, {n0, n1}, std::move(isr), 0, min_insync}};
}

std::vector<std::byte> batch(int records) {
    batch_builder b;
    for (int i = 0; i < records; ++i) {
        const std::string v = "value-" + std::to_string(i);
        b.add(record_input{std::nullopt, as_bytes(v), timestamp_ms_t{1000}, {}});
    }
    return b.finish();
}

struct fixture {
    boost::asio::io_context io;
    testing::temp_dir dir;

    std::shared_ptr<partition> open(const std::string& name, const partition_role& r) {
        partition::options o;
        o.topic = "t";
        o.dir = dir.path() / name;
        o.role = r;
        auto p = partition::open(boost::asio::make_strand(io), o);
        REQUIRE(p.has_value());
        return p.value();
    }
};

// One fetch of `follower` (broker `id`) from `leader`: appends what came, or truncates where the
// answer says the logs diverged. Returns the read's outcome.
partition::read_outcome fetch_once(partition& leader, partition& follower, node_id_t id) {
    const auto from = follower.offsets().log_end;
    auto r = leader.read(from, 1 << 20, SIZE_MAX, {id, follower.last_epoch(), {}},
                         leader.leader_epoch(), nullptr);
    if (r.diverging) {
        REQUIRE(follower.truncate_diverged(*r.diverging).has_value());
        return r;
    }
    REQUIRE(r.error == errc::none);
    auto bytes = bytes_of(r);
    if (!bytes.empty()) {
        auto a = follower.append_replicated(bytes);
        REQUIRE(a.error == errc::none);
    }
    follower.leader_high_watermark(r.high_watermark);
    return r;
}

}  // namespace

TEST_CASE("a follower copies batches as they are, and acks=all waits for it") {
    fixture f;
    auto leader = f.open("leader", role(n0, n0, 3));
    auto follower = f.open("follower", role(n1, n0, 3));
    CHECK(leader->is_leader());
    CHECK_FALSE(follower->is_leader());
    CHECK(follower->last_epoch() == leader_epoch_t{-1});

    for (int i = 0; i < 3; ++i) {
        auto b = batch(2);
        auto a = leader->append(b, true);
        REQUIRE(a.error == errc::none);
    }
    std::vector<errc> acks;
    leader->wait_for_ack(offset_t{6}, true, [&](errc e) { acks.push_back(e); });
    CHECK(acks.empty());
    CHECK(leader->offsets().high_watermark == offset_t{0});

    fetch_once(*leader, *follower, n1);
    CHECK(follower->offsets().log_end == offset_t{6});
    CHECK(follower->last_epoch() == leader_epoch_t{3});
    CHECK(acks.empty());  // the leader learns the follower's position at its next fetch
    auto r = fetch_once(*leader, *follower, n1);
    CHECK(r.bytes == 0);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0] == errc::none);
    CHECK(leader->offsets().high_watermark == offset_t{6});
    CHECK(follower->offsets().high_watermark == offset_t{6});

    // A follower may not append a batch of an epoch below its latest; the leader's own append
    // and consumer reads stay below the high watermark.
    auto b = batch(1);
    CHECK(follower->append(b, false).error == errc::not_leader_or_follower);

    // The same bytes on both sides.
    auto a = leader->read(offset_t{0}, 1 << 20, SIZE_MAX, {}, no_leader_epoch, nullptr);
    auto c = leader->read(offset_t{0}, 1 << 20, SIZE_MAX, {n1, leader_epoch_t{3}, {}},
                          no_leader_epoch, nullptr);
    CHECK(bytes_of(a) == bytes_of(c));
}

TEST_CASE("acks=all is refused below min.insync.replicas; a stranger may not read past the HW") {
    fixture f;
    auto leader = f.open("leader", role(n0, n0, 1, {n0}, 2));
    auto b = batch(1);
    auto a = leader->append(b, true);
    CHECK(a.error == errc::not_enough_replicas);
    CHECK(a.message.find("min.insync.replicas=2") != std::string::npos);
    CHECK(leader->offsets().log_end == offset_t{0});  // nothing appended
    CHECK(leader->append(b, false).error == errc::none);

    auto r = leader->read(offset_t{0}, 1 << 20, SIZE_MAX, {node_id_t{7}, no_leader_epoch, {}},
                          no_leader_epoch, nullptr);
    CHECK(r.error == errc::replica_not_available);
    // The ISR is the leader alone, so the high watermark follows its appends (acks=1 here).
    auto c = leader->read(offset_t{0}, 1 << 20, SIZE_MAX, {}, no_leader_epoch, nullptr);
    CHECK(c.error == errc::none);
    CHECK(c.bytes == b.size());
    CHECK(leader->offsets().high_watermark == offset_t{1});
}

TEST_CASE("a diverged follower truncates by epoch, not by high watermark (KIP-101)") {
    fixture f;
    // A leads at epoch 1 and writes two batches; B copies the first only.
    auto a = f.open("a", role(n0, n0, 1));
    auto b = f.open("b", role(n1, n0, 1));
    auto x = batch(1);
    auto y = batch(1);
    REQUIRE(a->append(x, false).error == errc::none);
    fetch_once(*a, *b, n1);
    REQUIRE(a->append(y, false).error == errc::none);
    CHECK(b->offsets().log_end == offset_t{1});
    CHECK(a->offsets().log_end == offset_t{2});

    // A dies; B leads at epoch 2 and writes a batch at offset 1.
    b->set_role(role(n1, n1, 2), {});
    CHECK(b->is_leader());
    auto z = batch(3);
    REQUIRE(b->append(z, false).error == errc::none);
    CHECK(b->offsets().log_end == offset_t{4});

    // A returns as B's follower: its offset 1 (epoch 1) is not B's offset 1 (epoch 2).
    a->set_role(role(n0, n1, 2), {});
    CHECK_FALSE(a->is_leader());
    auto r = fetch_once(*b, *a, n0);
    REQUIRE(r.diverging.has_value());
    CHECK(*r.diverging == epoch_end{leader_epoch_t{1}, offset_t{1}});
    CHECK(a->offsets().log_end == offset_t{1});
    fetch_once(*b, *a, n0);
    CHECK(a->offsets().log_end == offset_t{4});
    CHECK(a->last_epoch() == leader_epoch_t{2});
    // Now both logs are the same, batch for batch.
    auto on_a = a->offsets();
    CHECK(on_a.log_end == b->offsets().log_end);
    b->set_role(role(n1, n0, 3), {});  // hand leadership back to read A as a leader
    a->set_role(role(n0, n0, 3), {});
    auto ra = a->read(offset_t{0}, 1 << 20, SIZE_MAX, {n1, leader_epoch_t{2}, {}}, no_leader_epoch,
                      nullptr);
    auto rb_bytes = [&] {
        // B, now a follower, is read through a fresh leader view of its files: reopen it.
        b->close(errc::not_leader_or_follower);
        auto again = f.open("b", role(n1, n1, 3));
        return bytes_of(again->read(offset_t{0}, 1 << 20, SIZE_MAX, {n0, leader_epoch_t{2}, {}},
                                    no_leader_epoch, nullptr));
    }();
    CHECK(bytes_of(ra) == rb_bytes);
}

TEST_CASE("epochs and the high watermark survive a restart") {
    fixture f;
    {
        auto leader = f.open("p", role(n0, n0, 4, {n0}));
        auto b = batch(2);
        REQUIRE(leader->append(b, false).error == errc::none);
        CHECK(leader->offsets().high_watermark == offset_t{2});
        leader->close(errc::not_leader_or_follower);
    }
    storage::file_system& fs = storage::posix_file_system();
    auto hw = read_high_watermark(fs, f.dir.path() / "p");
    REQUIRE(hw.has_value());
    CHECK(hw.value() == offset_t{2});
    // Reopened as a follower: the epochs are the log's, the high watermark the checkpoint's.
    auto p = f.open("p", role(n0, n1, 5));
    CHECK(p->last_epoch() == leader_epoch_t{4});
    CHECK(p->leader_epoch() == leader_epoch_t{5});
    CHECK(p->offsets().high_watermark == offset_t{2});
    auto epochs = read_leader_epochs(fs, f.dir.path() / "p");
    REQUIRE(epochs.has_value());
    CHECK(epochs.value() == std::vector<epoch_entry>{{leader_epoch_t{4}, offset_t{0}}});
}

TEST_CASE(
    "only the request's own fetch offset counts, and a batch that does not follow is refused") {
    fixture f;
    auto leader = f.open("leader", role(n0, n0, 2));
    auto follower = f.open("follower", role(n1, n0, 2));
    auto b = batch(2);
    REQUIRE(leader->append(b, false).error == errc::none);
    // A long poll's later read, past what its answer already holds: no position, no divergence
    // check (the follower does not hold these records yet).
    auto later = leader->read(offset_t{2}, 1 << 20, SIZE_MAX, {n1, leader_epoch_t{2}, {}, false},
                              no_leader_epoch, nullptr);
    CHECK(later.error == errc::none);
    CHECK(leader->offsets().high_watermark == offset_t{0});
    CHECK(leader->followers().at(0).end == offset_t{-1});

    // A batch whose epoch is above the one the follower's image gives its leader is refused and
    // records no epoch; so is one below the follower's log end (further below).
    auto got = leader->read(offset_t{0}, 1 << 20, SIZE_MAX, {n1, no_leader_epoch, {}},
                            no_leader_epoch, nullptr);
    auto bytes = bytes_of(got);
    auto shifted = bytes;
    set_base_offset(shifted, offset_t{5});
    auto newer = bytes;
    set_leader_epoch(newer, leader_epoch_t{9});
    CHECK(follower->append_replicated(newer).error == errc::corrupt_message);
    CHECK(follower->last_epoch() == leader_epoch_t{-1});
    CHECK(follower->append_replicated(bytes).error == errc::none);
    CHECK(follower->last_epoch() == leader_epoch_t{2});

    CHECK(follower->append_replicated(bytes).error == errc::corrupt_message);  // below the end

    // A follower takes a batch past its end: its leader's compaction removed what lay between
    // (the topic compacts, or did once).
    auto compacted = f.open("compacted", role(n1, n0, 2));
    auto r2 = compacted->append_replicated(shifted);
    CHECK(r2.error == errc::none);
    CHECK(compacted->offsets().log_end == offset_t{7});
    set_base_offset(shifted, offset_t{6});
    CHECK(compacted->append_replicated(shifted).error == errc::corrupt_message);
}
