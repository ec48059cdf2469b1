// The active controller on a real metadata log: brokers register and are unfenced once caught
// up, topic requests are answered from the working image without waiting for each other's
// commits, a broker that stops heartbeating is fenced and its partitions lose it as leader,
// controlled shutdown ends fenced, and only the quorum's leader answers (a follower says
// NOT_CONTROLLER and names the leader; after a failover the new leader takes over).
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "metadata_quorum.h"
#include "sluice/core/producer_id_blocks.h"

using namespace sluice;
using namespace sluice::controller;
using namespace std::chrono_literals;
using broker::create_topic_request;
using broker::topic_result;
using testing::quorum;

namespace {

broker_registration reg(int32_t id, uint64_t incarnation = 1) {
    return {node_id_t{id},
            uuid{uint64_t(id), incarnation},
            {{"PLAINTEXT", "127.0.0.1", 9000 + id}},
            ""};
}

struct harness {
    quorum q;
    std::map<int32_t, int64_t> epochs;  // broker id -> epoch

    explicit harness(int32_t voters, std::chrono::milliseconds session = 9000ms) : q(voters) {
        q.controllers = true;
        q.controller_options.session_timeout = session;
        q.controller_options.check_interval = 20ms;
        for (int32_t id = 1; id <= voters; ++id) {
            q.start(id);
        }
    }

    quorum_controller* active() {
        for (auto& [id, n] : q.nodes) {
            if (n.controller && n.controller->active()) {
                return n.controller.get();
            }
        }
        return nullptr;
    }

    quorum_controller& wait_active() {
        REQUIRE(q.run_until([&] { return active() != nullptr; }));
        return *active();
    }

    const metadata_image& committed() { return *wait_active_log().image(); }

    metadata_log& wait_active_log() {
        quorum_controller* c = &wait_active();
        for (auto& [id, n] : q.nodes) {
            if (n.controller.get() == c) {
                return *n.log;
            }
        }
        FAIL("no log");
        throw;
    }

    template <typename R, typename F>
    R call(F f) {
        std::optional<R> out;
        f([&](R r) { out = std::move(r); });
        REQUIRE(q.run_until([&] { return out.has_value(); }));
        return std::move(*out);
    }

    registration_result do_register(broker_registration r) {
        return call<registration_result>(
            [&](auto done) { wait_active().register_broker(std::move(r), done); });
    }

    heartbeat_result beat(int32_t id, bool shutdown = false) {
        broker_heartbeat h{node_id_t{id}, epochs[id], committed().end_offset(), shutdown};
        return call<heartbeat_result>([&](auto done) { wait_active().heartbeat(h, done); });
    }

    // Registers and heartbeats until unfenced.
    void join(int32_t id) {
        auto r = do_register(reg(id));
        REQUIRE_MESSAGE(r.error == errc::none, r.message);
        epochs[id] = r.broker_epoch;
        REQUIRE(q.run_until([&] { return !beat(id).fenced; }, 10s));
    }

    std::vector<topic_result> create(std::vector<create_topic_request> reqs) {
        return call<std::vector<topic_result>>(
            [&](auto done) { wait_active().create_topics(std::move(reqs), false, done); });
    }
};

create_topic_request topic(std::string name, int32_t partitions, int16_t rf = 1) {
    return {std::move(name), partitions, rf, {}, {}};
}

}  // namespace

TEST_CASE("brokers register, are unfenced once caught up, and get topics placed on them") {
    harness h(1);
    h.q.nodes[1].log->campaign();
    h.join(1);
    h.join(2);
    const auto& im = h.committed();
    CHECK(im.brokers().size() == 2);
    CHECK(im.broker(node_id_t{2})->epoch == h.epochs[2]);

    // The same process again: the same epoch, nothing written.
    const auto before = im.end_offset();
    auto again = h.do_register(reg(2));
    CHECK(again.error == errc::none);
    CHECK(again.broker_epoch == h.epochs[2]);
    CHECK(h.committed().end_offset() == before);

    // A second process claiming a live broker's id is refused.
    auto twin = h.do_register(reg(2, 99));
    CHECK(twin.error == errc::duplicate_broker_registration);
    CHECK(twin.message.find("node.id=2 is registered by another process") != std::string::npos);

    // Heartbeats naming an unknown broker or an old epoch.
    auto unknown = h.call<heartbeat_result>([&](auto done) {
        h.wait_active().heartbeat({node_id_t{7}, 0, offset_t{0}, false}, done);
    });
    CHECK(unknown.error == errc::broker_id_not_registered);
    auto stale = h.call<heartbeat_result>([&](auto done) {
        h.wait_active().heartbeat({node_id_t{2}, h.epochs[2] - 1, offset_t{0}, false}, done);
    });
    CHECK(stale.error == errc::stale_broker_epoch);

    // Twenty topics asked for at once, without waiting for each other's commits, plus one twice.
    std::vector<std::optional<std::vector<topic_result>>> answers(21);
    for (int i = 0; i < 20; ++i) {
        h.wait_active().create_topics({topic(fmt::format("t{}", i), 2)}, false,
                                      [&answers, i](auto r) { answers[size_t(i)] = std::move(r); });
    }
    h.wait_active().create_topics({topic("t3", 1)}, false,
                                  [&answers](auto r) { answers[20] = std::move(r); });
    REQUIRE(h.q.run_until([&] {
        return std::all_of(answers.begin(), answers.end(), [](auto& a) { return a.has_value(); });
    }));
    for (int i = 0; i < 20; ++i) {
        CHECK_MESSAGE((*answers[size_t(i)])[0].error == errc::none,
                      (*answers[size_t(i)])[0].message);
    }
    CHECK((*answers[20])[0].error == errc::topic_already_exists);
    REQUIRE(h.q.run_until([&] { return h.committed().topics().size() == 20; }));
    std::map<node_id_t, int> leaders;
    for (const auto& [name, t] : h.committed().topics()) {
        for (const auto& p : t->partitions) {
            ++leaders[p.leader];
        }
    }
    CHECK(leaders == std::map<node_id_t, int>{{node_id_t{1}, 20}, {node_id_t{2}, 20}});

    // Deleting, growing, configuring.
    auto del = h.call<std::vector<topic_result>>([&](auto done) {
        h.wait_active().delete_topics({"t0", "nope"}, done);
    });
    CHECK(del[0].error == errc::none);
    CHECK(del[1].error == errc::unknown_topic_or_partition);
    auto grow = h.call<std::vector<topic_result>>([&](auto done) {
        h.wait_active().add_partitions({{"t1", 5}, {"t2", 1}, {"t3", 9}, {"t3", 9}}, false, done);
    });
    REQUIRE(grow.size() == 4);
    CHECK(grow[0].error == errc::none);
    CHECK(grow[1].error == errc::invalid_partitions);  // t2 has 2: it cannot shrink
    CHECK(grow[2].error == errc::invalid_request);     // named twice
    CHECK(grow[3].error == errc::invalid_request);
    broker::config_change_request twice{"t2", {{"retention.ms", "1"}}, "retention.ms"};
    auto conf = h.call<std::vector<topic_result>>([&](auto done) {
        h.wait_active().alter_configs({{"t1", {{"retention.ms", "5"}}, {}}, twice}, false, done);
    });
    REQUIRE(conf.size() == 2);
    CHECK(conf[0].error == errc::none);
    CHECK(conf[1].error == errc::invalid_request);
    REQUIRE(h.q.run_until([&] {
        const auto* t1 = h.committed().topic("t1");
        return h.committed().topic("t0") == nullptr && t1->partitions.size() == 5 &&
               t1->configs.contains("retention.ms");
    }));
}

TEST_CASE(
    "a broker that stops heartbeating is fenced; when it is back it is unfenced and leads "
    "again") {
    harness h(1, 300ms);
    h.q.nodes[1].log->campaign();
    h.join(1);
    h.join(2);
    auto created = h.create({topic("one", 4, 1), topic("two", 2, 2)});
    REQUIRE(created[0].error == errc::none);
    REQUIRE(created[1].error == errc::none);

    // Broker 1 keeps beating, broker 2 goes quiet.
    REQUIRE(h.q.run_until([&] {
        h.beat(1);
        return h.committed().broker(node_id_t{2})->fenced;
    }));
    const metadata_image fenced = h.committed();
    for (const auto& p : fenced.topic("one")->partitions) {
        CHECK(p.leader != node_id_t{2});
        if (p.replicas[0] == node_id_t{2}) {
            CHECK(p.leader == node_id_t{-1});  // one replica: offline
        }
    }
    for (const auto& p : fenced.topic("two")->partitions) {
        CHECK(p.leader == node_id_t{1});
        CHECK(p.isr == std::vector{node_id_t{1}});
    }
    CHECK_FALSE(fenced.broker(node_id_t{1})->fenced);

    // Back: unfenced, and leads its own partitions again, at a higher leader epoch.
    REQUIRE(h.q.run_until([&] {
        h.beat(1);
        return !h.beat(2).fenced;
    }));
    REQUIRE(h.q.run_until([&] {
        for (const auto& p : h.committed().topic("one")->partitions) {
            if (p.leader == node_id_t{-1}) {
                return false;
            }
        }
        return true;
    }));
    for (size_t i = 0; i < 4; ++i) {
        const auto& p = h.committed().topic("one")->partitions[i];
        if (p.replicas[0] == node_id_t{2}) {
            CHECK(p.leader == node_id_t{2});
            CHECK(p.leader_epoch == leader_epoch_t{2});
        }
    }
}

TEST_CASE("a change too large for one metadata entry is refused, not retried") {
    harness h(1);  // the Raft core's default: 256 KiB entries
    h.q.nodes[1].log->campaign();
    h.join(1);
    auto big = h.create({topic("big", 9000, 1)});
    CHECK(big[0].error == errc::invalid_request);
    CHECK(big[0].message.find("too large for one metadata log entry") != std::string::npos);
    CHECK(h.committed().topic("big") == nullptr);
}

TEST_CASE("several brokers whose sessions expire together are all fenced") {
    harness h(1, 300ms);
    h.q.nodes[1].log->campaign();
    for (int32_t id = 1; id <= 4; ++id) {
        h.join(id);
    }
    REQUIRE(h.create({topic("t", 8, 1)})[0].error == errc::none);
    REQUIRE(h.q.run_until([&] {
        h.beat(1);
        const auto& im = h.committed();
        return im.broker(node_id_t{2})->fenced && im.broker(node_id_t{3})->fenced &&
               im.broker(node_id_t{4})->fenced;
    }));
    CHECK_FALSE(h.committed().broker(node_id_t{1})->fenced);
    for (const auto& p : h.committed().topic("t")->partitions) {
        CHECK((p.leader == node_id_t{1}) == (p.replicas[0] == node_id_t{1}));
    }
}

TEST_CASE("controlled shutdown moves leadership away, then fences the broker") {
    harness h(1);
    h.q.nodes[1].log->campaign();
    h.join(1);
    h.join(2);
    REQUIRE(h.create({topic("two", 4, 2)})[0].error == errc::none);
    REQUIRE(h.q.run_until([&] { return h.beat(2, true).shutdown_ready; }));
    const auto& im = h.committed();
    CHECK(im.broker(node_id_t{2})->fenced);
    for (const auto& p : im.topic("two")->partitions) {
        CHECK(p.leader == node_id_t{1});
    }
}

TEST_CASE("only the leader's controller answers; after a failover the new one does") {
    harness h(3);
    quorum_controller& first = h.wait_active();
    for (auto& [id, n] : h.q.nodes) {
        if (n.controller.get() != &first) {
            auto r = h.call<registration_result>(
                [&](auto done) { n.controller->register_broker(reg(5), done); });
            CHECK(r.error == errc::not_controller);
            CHECK(r.message.find("the active controller is node") != std::string::npos);
            auto t = h.call<std::vector<topic_result>>(
                [&](auto done) { n.controller->create_topics({topic("x", 1)}, false, done); });
            CHECK(t[0].error == errc::not_controller);
        }
    }
    h.join(1);
    REQUIRE(h.create({topic("before", 1)})[0].error == errc::none);
    int32_t leader_id = 0;
    for (auto& [id, n] : h.q.nodes) {
        if (n.controller.get() == &first) {
            leader_id = id;
        }
    }
    h.q.stop(leader_id);
    quorum_controller& second = h.wait_active();
    CHECK(h.q.nodes[leader_id].controller == nullptr);
    CHECK(second.active());
    CHECK(h.committed().topic("before") != nullptr);
    auto after = h.create({topic("after", 1), topic("before", 1)});
    CHECK(after[0].error == errc::none);
    CHECK(after[1].error == errc::topic_already_exists);
}

TEST_CASE("producer id blocks: each id once, across brokers and a controller failover") {
    harness h(3);
    h.join(1);
    h.join(2);
    auto allocate = [&](int32_t id, int64_t epoch) {
        return h.call<producer_ids_result>([&](auto done) {
            h.wait_active().allocate_producer_ids({node_id_t{id}, epoch}, done);
        });
    };
    // A broker that is not registered with that epoch gets none.
    auto stale = allocate(1, h.epochs[1] + 1);
    CHECK(stale.error == errc::stale_broker_epoch);
    CHECK(allocate(7, 0).error == errc::stale_broker_epoch);

    // Asked for at once, before any is written: distinct blocks from the working image.
    std::vector<producer_ids_result> got;
    for (int32_t i = 0; i < 4; ++i) {
        h.wait_active().allocate_producer_ids(
            {node_id_t{1 + i % 2}, h.epochs[1 + i % 2]},
            [&](producer_ids_result r) { got.push_back(std::move(r)); });
    }
    REQUIRE(h.q.run_until([&] { return got.size() == 4; }));
    int64_t end = 0;
    std::set<int64_t> firsts;
    for (const auto& r : got) {
        REQUIRE_MESSAGE(r.error == errc::none, r.message);
        CHECK(r.count == broker::producer_id_block_size);
        CHECK(r.first % r.count == 0);
        firsts.insert(r.first);
        end = std::max(end, r.first + r.count);
    }
    CHECK(firsts.size() == 4);
    CHECK(end == 4 * broker::producer_id_block_size);
    CHECK(h.committed().next_producer_id() == end);

    // The next controller goes on after the last block written.
    int32_t leader_id = 0;
    for (auto& [id, n] : h.q.nodes) {
        if (n.controller && n.controller->active()) {
            leader_id = id;
        }
    }
    h.q.stop(leader_id);
    auto after = allocate(2, h.epochs[2]);
    REQUIRE_MESSAGE(after.error == errc::none, after.message);
    CHECK(after.first == end);
}
