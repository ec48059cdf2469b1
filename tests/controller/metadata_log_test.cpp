// The metadata log on real disks and timers: proposals are decided by what commits at their
// offset (written, refused by the image, rejected off the leader), subscribers see each new
// image, snapshots are taken every so many bytes, and a reopened node rebuilds the same image
// from its snapshot and log tail. Three nodes in process converge on one image.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "../support/run_until.h"
#include "../support/temp_dir.h"
#include "sluice/controller/decisions.h"
#include "sluice/controller/metadata_log.h"
#include "sluice/raft/errc.h"

using namespace sluice;
using namespace sluice::controller;
using namespace std::chrono_literals;

namespace {

struct node_under_test {
    std::unique_ptr<metadata_log> log;
    metadata_log::image_ptr seen;  // the last image a subscriber got
    int images = 0;
};

struct quorum {
    boost::asio::io_context io;
    std::vector<std::unique_ptr<testing::temp_dir>> dirs;
    std::map<int32_t, node_under_test> nodes;
    std::vector<node_id_t> voters;
    int64_t snapshot_bytes = 20 << 20;
    uint64_t seed = 1;

    explicit quorum(int32_t n) {
        for (int32_t id = 1; id <= n; ++id) {
            dirs.push_back(std::make_unique<testing::temp_dir>("sluice-metadata-log"));
            voters.emplace_back(id);
        }
    }

    void start(int32_t id) {
        metadata_log::options o;
        o.driver.raft.id = node_id_t(id);
        o.driver.raft.bootstrap_voters = voters;
        o.driver.raft.random_seed = seed++;
        o.driver.tick = 10ms;
        o.driver.cluster_id = "c1";
        o.snapshot_bytes = snapshot_bytes;
        auto send = [this](node_id_t to, std::vector<std::byte> frame) {
            boost::asio::post(io, [this, to, frame = std::move(frame)] {
                auto it = nodes.find(to.value());
                if (it != nodes.end() && it->second.log) {
                    it->second.log->receive(frame);
                }
            });
        };
        auto opened = metadata_log::open(io.get_executor(), storage::posix_file_system(),
                                         dirs[size_t(id - 1)]->path(), o, send);
        REQUIRE(opened);
        REQUIRE_MESSAGE(opened.value().problem.empty(), opened.value().problem);
        node_under_test& n = nodes[id];
        n.log = std::move(opened.value().log);
        n.images = 0;
        n.log->on_image([&n](const metadata_log::image_ptr& im) {
            n.seen = im;
            ++n.images;
        });
        n.log->start();
    }

    void stop(int32_t id) {
        nodes[id].log->stop();
        nodes[id].log.reset();
    }

    template <typename Pred>
    bool run_until(Pred done, std::chrono::milliseconds limit = 20s) {
        return testing::run_until(io, done, limit);
    }

    metadata_log* leader() {
        for (auto& [id, n] : nodes) {
            if (n.log && n.log->node().current_role() == raft::role::leader) {
                return n.log.get();
            }
        }
        return nullptr;
    }

    // Proposes on the leader and runs until it is decided.
    proposal_result propose(const std::vector<metadata_record>& batch) {
        metadata_log* l = nullptr;
        REQUIRE(run_until([&] { return (l = leader()) != nullptr; }));
        std::optional<proposal_result> out;
        l->propose(batch, [&](proposal_result r) { out = std::move(r); });
        CHECK_FALSE(out.has_value());  // never from inside propose
        REQUIRE(run_until([&] { return out.has_value(); }));
        return *out;
    }
};

std::vector<metadata_record> registration(int32_t id) {
    return plan_register(metadata_image{}, node_id_t{id}, uuid{uint64_t(id), 5},
                         {{"PLAINTEXT", "127.0.0.1", 9000 + id}}, "");
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
