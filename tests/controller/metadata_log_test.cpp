// The metadata log on real disks and timers: proposals are decided by what commits at their
// offset (written, refused by the image, rejected off the leader), subscribers see each new
// image, snapshots are taken every so many bytes, and a reopened node rebuilds the same image
// from its snapshot and log tail. Three nodes in process converge on one image.
#include <doctest/doctest.h>

#include "metadata_quorum.h"
#include "sluice/controller/decisions.h"
#include "sluice/raft/errc.h"

using namespace sluice;
using namespace sluice::controller;
using namespace std::chrono_literals;
using testing::quorum;

namespace {

std::vector<metadata_record> registration(int32_t id) {
    return plan_register(metadata_image{}, node_id_t{id}, uuid{uint64_t(id), 5},
                         {{"PLAINTEXT", "127.0.0.1", 9000 + id}}, "", true);
}

// Equal brokers, topics and producer ids (the offsets differ once a new leader appended).
bool same_content(const metadata_image& a, const metadata_image& b) {
    return a.to_records() == b.to_records();
}

}  // namespace

TEST_CASE(
    "one voter: proposals are written, refused or rejected, and a restart rebuilds the "
    "image") {
    quorum q(1);
    q.start(1);
    q.nodes[1].log->campaign();
    auto r = q.propose(registration(1));
    CHECK(r.outcome == proposal_outcome::written);
    metadata_log& log = *q.nodes[1].log;
    CHECK(log.image()->end_offset() == r.offset + 1);
    REQUIRE(log.image()->broker(node_id_t{1}) != nullptr);
    CHECK(log.image()->broker(node_id_t{1})->epoch == r.offset.value());
    REQUIRE(q.run_until([&] { return q.nodes[1].seen == log.image(); }));

    // A batch the image refuses is committed but changes nothing.
    const uuid ghost{9, 9};
    auto bad = q.propose({records::partition{
        ghost, 0, {node_id_t{1}}, {node_id_t{1}}, node_id_t{1}, leader_epoch_t{0}, 0}});
    CHECK(bad.outcome == proposal_outcome::refused);
    CHECK(bad.detail.find("a partition of an unknown topic") != std::string::npos);
    CHECK(log.entries_refused() == 1);

    auto unfence = q.propose(plan_unfence(*log.image(), node_id_t{1}));
    CHECK(unfence.outcome == proposal_outcome::written);
    topic_defaults d;
    uint64_t next = 1;
    auto plans = plan_create_topics(
        *log.image(), std::vector{broker::create_topic_request{"t", 3, 1, {}, {}}}, d, false, [&] {
            return uuid{next++, 1};
        });
    CHECK(q.propose(plans[0].records).outcome == proposal_outcome::written);
    const metadata_image before = *log.image();
    CHECK(before.topic("t")->partitions.size() == 3);

    q.stop(1);
    q.start(1);
    CHECK(q.run_until([&] {
        return same_content(*q.nodes[1].log->image(), before) &&
               q.nodes[1].seen == q.nodes[1].log->image();
    }));
}

TEST_CASE("a follower rejects proposals; three voters converge on one image") {
    quorum q(3);
    for (int32_t id = 1; id <= 3; ++id) {
        q.start(id);
    }
    for (int32_t id = 1; id <= 3; ++id) {
        CHECK(q.propose(registration(id)).outcome == proposal_outcome::written);
    }
    metadata_log* leader = q.leader();
    REQUIRE(leader != nullptr);
    for (auto& [id, n] : q.nodes) {
        if (n.log.get() != leader) {
            std::optional<proposal_result> out;
            n.log->propose(registration(7), [&](proposal_result r) { out = std::move(r); });
            REQUIRE(q.run_until([&] { return out.has_value(); }));
            CHECK(out->outcome == proposal_outcome::rejected);
            CHECK(out->detail == make_error_code(raft::errc::not_leader).message());
        }
    }
    CHECK(q.run_until([&] {
        for (auto& [id, n] : q.nodes) {
            if (!n.seen || !(*n.seen == *leader->image())) {
                return false;
            }
        }
        return true;
    }));
}

TEST_CASE("snapshots are taken every snapshot_bytes, and a restart loads one and the tail") {
    quorum q(1);
    q.snapshot_bytes = 600;
    q.start(1);
    q.nodes[1].log->campaign();
    for (int32_t id = 1; id <= 12; ++id) {
        CHECK(q.propose(registration(id)).outcome == proposal_outcome::written);
    }
    metadata_log& log = *q.nodes[1].log;
    CHECK(log.snapshots_taken() >= 2);
    CHECK(log.image()->brokers().size() == 12);
    const metadata_image before = *log.image();

    q.stop(1);
    q.start(1);
    // The snapshot was loaded before any entry is applied again.
    CHECK(q.nodes[1].log->image()->end_offset() > offset_t{0});
    CHECK(q.run_until([&] { return same_content(*q.nodes[1].log->image(), before); }));
}

TEST_CASE("a voter behind the leader's snapshot gets it in chunks and builds the same image") {
    quorum q(3);
    q.snapshot_bytes = 600;
    q.snapshot_chunk_bytes = 16 << 10;
    for (int32_t id = 1; id <= 3; ++id) {
        q.start(id);
    }
    CHECK(q.propose(registration(1)).outcome == proposal_outcome::written);
    metadata_log* leader = q.leader();
    REQUIRE(leader != nullptr);
    CHECK(q.propose(plan_unfence(*leader->image(), node_id_t{1})).outcome ==
          proposal_outcome::written);
    // Node 3 misses what follows: thousands of partitions, so that the image's snapshot takes
    // several record batches in its file and many chunks on the wire.
    const int32_t behind = leader == q.nodes[3].log.get() ? 2 : 3;
    q.stop(behind);
    topic_defaults d;
    uint64_t next = 1;
    for (int t = 0; t < 4; ++t) {
        auto plans = plan_create_topics(
            *leader->image(),
            std::vector{broker::create_topic_request{fmt::format("t{}", t), 600, 1, {}, {}}}, d,
            false, [&] {
                return uuid{next++, 1};
            });
        REQUIRE_FALSE(plans[0].records.empty());
        CHECK(q.propose(plans[0].records).outcome == proposal_outcome::written);
    }
    REQUIRE(q.run_until([&] { return leader->node().log().start() > offset_t{3}; }));
    const auto snapshot_file =
        q.dirs[size_t(leader->node().id().value() - 1)]->path() / raft_snapshot_file;
    CHECK(std::filesystem::file_size(snapshot_file) > 10 * size_t(q.snapshot_chunk_bytes));

    q.start(behind);
    metadata_log& late = *q.nodes[behind].log;
    CHECK(q.run_until([&] { return same_content(*late.image(), *leader->image()); }));
    CHECK(late.image()->topic("t3")->partitions.size() == 600);
    // It could not have replayed entries the leader no longer holds: the snapshot came over.
    CHECK(late.node().log().start() > offset_t{3});
    CHECK(std::filesystem::exists(q.dirs[size_t(behind - 1)]->path() / raft_snapshot_file));
}

TEST_CASE("every proposal is decided, even when its node stops before it commits") {
    quorum q(3);
    for (int32_t id = 1; id <= 3; ++id) {
        q.start(id);
    }
    metadata_log* l = nullptr;
    REQUIRE(q.run_until([&] { return (l = q.leader()) != nullptr; }));
    std::optional<proposal_result> out;
    l->propose(registration(1), [&](proposal_result r) { out = std::move(r); });
    int32_t id = 0;
    for (auto& [i, n] : q.nodes) {
        if (n.log.get() == l) {
            id = i;
        }
    }
    q.stop(id);  // before its followers could have acknowledged it
    REQUIRE(q.run_until([&] { return out.has_value(); }, 5s));
    CHECK((out->outcome == proposal_outcome::unknown || out->outcome == proposal_outcome::written));
}

TEST_CASE("a snapshot that does not load stops the node from starting, never empties its image") {
    testing::temp_dir dir("sluice-metadata-bad-snapshot");
    {
        auto opened = raft_storage::open(storage::posix_file_system(), dir.path(), node_id_t(1));
        REQUIRE(opened);
        raft_storage& storage = *opened.value().storage;
        const raft::snapshot_id id{offset_t{5}, term_t{1}};
        auto w = storage.begin_snapshot(id);
        REQUIRE(w);
        const std::string_view junk = "not a metadata batch";
        REQUIRE(w.value()->append(std::as_bytes(std::span(junk))));
        auto size = w.value()->finish(id, {node_id_t(1)});
        REQUIRE(size);
        raft::ready rd;
        rd.snap = raft::snapshot{id, {node_id_t(1)}, size.value()};
        rd.hard = raft::hard_state{term_t{1}, node_id_t(1), offset_t{5}};
        REQUIRE(storage.persist(rd));
    }
    boost::asio::io_context io;
    metadata_log::options o;
    o.driver.raft.id = node_id_t(1);
    o.driver.raft.bootstrap_voters = {node_id_t(1)};
    auto opened = metadata_log::open(io.get_executor(), storage::posix_file_system(), dir.path(), o,
                                     [](node_id_t, std::vector<std::byte>) {});
    REQUIRE(opened);
    CHECK(opened.value().log == nullptr);
    CHECK(opened.value().problem.find("the metadata snapshot ending at offset 5 does not load") !=
          std::string::npos);
}
