// Clusters of real sluice-broker processes, started, killed, paused and stopped with
// scripts/cluster.sh (the launcher users run), driven by the client libraries: topics created
// through any broker look the same from every broker (three and five of them) and records reach
// each partition's leader;
// a kill -9 of the active controller during creations and deletions loses no acknowledged one
// and every broker converges; a broker paused past its session is fenced and leads again once back;
// a controlled shutdown takes leadership away before the process exits.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "client_helpers.h"
#include "local_cluster.h"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

// `nodes` brokers, three of them controllers: a topic created through the last broker looks the
// same from every broker, its leaders spread over all of them; records sent to every partition
// through the producer library and the CLI reach its leader and are read back; the CLI shows
// the brokers, and the quorum with the brokers that are not controllers as observers.
void check_cluster(int nodes) {
    local_cluster c(nodes);
    const int32_t partitions = 2 * nodes;
    REQUIRE(c.admin_of(nodes)->create_topic("orders", partitions));
    std::vector<int32_t> leaders;
    REQUIRE(eventually([&] {
        leaders = leaders_seen_by(c, 1, "orders");
        const std::string seen = topic_seen_by(c, 1, "orders");
        for (int id = 2; id <= nodes; ++id) {
            if (topic_seen_by(c, id, "orders") != seen) {
                return false;
            }
        }
        return leaders.size() == size_t(partitions) && !seen.empty();
    }));
    std::set<int32_t> all;
    for (int id = 1; id <= nodes; ++id) {
        all.insert(id);
    }
    CHECK(std::set<int32_t>(leaders.begin(), leaders.end()) == all);

    // Ten records to every partition through the producer library, one more through the CLI
    // (bootstrapped from broker 1 only), all read back by the consumer from another broker.
    producer_config pc;
    static_cast<client_config&>(pc) = c.client();
    auto p = producer::create(pc);
    REQUIRE(p);
    std::vector<std::future<result<record_metadata>>> sent;
    for (int32_t part = 0; part < partitions; ++part) {
        for (int i = 0; i < 10; ++i) {
            producer_record r;
            r.topic = "orders";
            r.partition = part;
            r.value = fmt::format("p{}-{}", part, i);
            sent.push_back(p.value()->send(std::move(r)));
        }
    }
    for (auto& f : sent) {
        auto m = f.get();
        REQUIRE_MESSAGE(m.has_value(), (m ? std::string() : m.error().message()));
    }
    const std::string first = c.client(1).bootstrap_servers[0];
    for (int32_t part = 0; part < partitions; ++part) {
        auto cli =
            run_process({cli_path(), "produce", "orders", "-p", std::to_string(part), "-b", first},
                        fmt::format("p{}-cli\n", part));
        REQUIRE_MESSAGE(cli.status.exited_with(0), cli.err);
    }
    consumer_config cc;
    static_cast<client_config&>(cc) = c.client(2);
    cc.auto_offset_reset = "earliest";
    auto con = consumer::create(cc);
    REQUIRE(con);
    REQUIRE(con.value()->assign(partitions_of("orders", partitions)));
    auto got = poll_until(*con.value(), size_t(11 * partitions), 30s);
    REQUIRE(got);
    std::map<int32_t, int> per;
    std::map<int32_t, int> from_cli;
    for (const auto& r : got.value()) {
        CHECK(r.value.value_or("").starts_with(fmt::format("p{}-", r.partition)));
        ++per[r.partition];
        from_cli[r.partition] += r.value == fmt::format("p{}-cli", r.partition) ? 1 : 0;
    }
    for (int32_t part = 0; part < partitions; ++part) {
        CHECK(per[part] == 11);
        CHECK(from_cli[part] == 1);
    }

    // The CLI, through one broker: every broker, one of them the active controller.
    const std::string last = c.client(nodes).bootstrap_servers[0];
    auto described = run_process({cli_path(), "-b", last, "cluster", "describe"});
    REQUIRE_MESSAGE(described.status.exited_with(0), described.err);
    const auto lines = described.out_lines();
    REQUIRE(lines.size() >= size_t(nodes) + 3);  // the brokers, a blank line, the partitions
    CHECK(lines[0].starts_with("Broker"));
    CHECK(lines[size_t(nodes) + 2].starts_with("Offline partitions: 0\t"));
    CHECK(std::count_if(lines.begin(), lines.end(),
                        [](const std::string& l) { return l.ends_with("active"); }) == 1);
    std::string observers;
    for (int id = 4; id <= nodes; ++id) {
        observers += (observers.empty() ? "" : ",") + std::to_string(id);
    }
    CHECK(eventually([&] {
        auto q = run_process({cli_path(), "-b", last, "cluster", "quorum"});
        const auto out = q.out_lines();
        return q.status.exited_with(0) && out.size() == size_t(nodes) + 8 &&
               out[4] == "CurrentVoters:    [1,2,3]" &&
               out[5] == "CurrentObservers: [" + observers + "]";
    }));
}

}  // namespace

TEST_CASE("three brokers: topics from any broker look the same everywhere; records reach leaders") {
    check_cluster(3);
}

TEST_CASE("five brokers, three of them controllers: the same, and brokers 4 and 5 observe") {
    check_cluster(5);
}

TEST_CASE("three controllers that are not brokers, and two brokers that serve") {
    local_cluster c(5, fast_timeouts, true);
    // The quorum is the three controllers; the two brokers observe it.
    auto a = c.admin_of(5);
    int32_t active = -1;
    REQUIRE(eventually([&] {
        auto q = a->describe_quorum();
        if (!q || q.value().voters.size() != 3 || q.value().observers.size() != 2) {
            return false;
        }
        active = q.value().leader_id;
        return q.value().observers[0].node_id == 4 && q.value().observers[1].node_id == 5;
    }));
    CHECK((active >= 1 && active <= 3));
    // Only the brokers serve clients, and only they lead partitions.
    auto brokers = a->describe_cluster();
    REQUIRE(brokers);
    REQUIRE(brokers.value().size() == 2);
    CHECK(brokers.value()[0].node_id == 4);
    CHECK(brokers.value()[1].node_id == 5);
    REQUIRE(a->create_topic("split", 4));
    // Placed on both brokers, leaders on both (a broker fenced for a moment under load would
    // leave its partitions leaderless until it is back: wait for that).
    REQUIRE(eventually([&] {
        const auto leaders = leaders_seen_by(c, 4, "split");
        return leaders.size() == 4 &&
               std::set<int32_t>(leaders.begin(), leaders.end()) == std::set<int32_t>{4, 5} &&
               topic_seen_by(c, 5, "split") == topic_seen_by(c, 4, "split");
    }));
    producer_config pc;
    static_cast<client_config&>(pc) = c.client();
    auto p = producer::create(pc);
    REQUIRE(p);
    for (int32_t part = 0; part < 4; ++part) {
        producer_record r{"split", std::nullopt, std::string("v"), {}, part, {}};
        CHECK(p.value()->send(std::move(r)).get());
    }
    // The active controller dies: another is elected, and topics are created again.
    c.node("kill", active);
    CHECK(eventually([&] {
        auto r = c.admin_of(4)->create_topic("after-failover", 2);
        return created(r);
    }));
    CHECK(eventually([&] {
        auto q = a->describe_quorum();
        return q && q.value().leader_id != active && q.value().leader_id >= 1;
    }));
}

TEST_CASE(
    "kill -9 of the active controller during creations and deletions: acknowledged ones hold, "
    "brokers converge, and it rejoins") {
    local_cluster c(3);
    const int victim = c.active_controller();
    REQUIRE(victim >= 1);
    const int via = victim == 1 ? 2 : 1;  // creations go through a broker that survives
    // Acknowledged creations and deletions; refused ones (a definite error, not a timeout,
    // whose outcome is unknown) of either.
    std::set<std::string> acked;
    std::set<std::string> deleted;
    std::set<std::string> uncertain;  // deletions whose outcome is unknown (a timeout)
    std::set<std::string> refused;
    std::atomic<bool> killed{false};
    std::thread creator([&] {
        auto a = c.admin_of(via);
        auto definite = [](std::error_code e) {
            return e != make_error_code(errc::request_timed_out) &&
                   e != make_error_code(errc::not_controller) &&
                   e != make_error_code(client_errc::timed_out) &&
                   e != make_error_code(client_errc::broker_unreachable);
        };
        for (int i = 0; i < 40; ++i) {
            const std::string name = fmt::format("storm-{}", i);
            auto r = a->create_topic(name, 2);
            // A creation asked again after a failover may find itself done: it exists.
            if (created(r)) {
                acked.insert(name);
            } else if (definite(r.error())) {
                refused.insert(name);
            }
            // Every third topic is deleted again, two creations later.
            const std::string old = fmt::format("storm-{}", i - 2);
            if (i >= 2 && (i - 2) % 3 == 0 && acked.contains(old)) {
                auto d = a->delete_topic(old);
                if (d || d.error() == make_error_code(errc::unknown_topic_or_partition)) {
                    deleted.insert(old);
                } else if (definite(d.error())) {
                    refused.insert("delete " + old);
                } else {
                    uncertain.insert(old);
                }
            }
            if (i == 10) {
                killed = true;
            }
        }
    });
    REQUIRE(eventually([&] { return killed.load(); }));
    c.node("kill", victim);
    creator.join();
    CHECK(acked.size() >= 30);  // the quorum went on with two of three
    CHECK(deleted.size() >= 8);
    CHECK_MESSAGE(refused.empty(), fmt::format("{}", fmt::join(refused, ", ")));
    auto listed = [&](int id) {
        auto a = admin::create(c.client(id));
        if (!a) {
            return std::vector<std::string>{};
        }
        auto t = a.value()->list_topics();
        return t ? t.value() : std::vector<std::string>{};
    };
    const int other = via == 1 ? (victim == 2 ? 3 : 2) : (victim == 1 ? 3 : 1);
    std::vector<std::string> seen;
    REQUIRE(eventually([&] {
        seen = listed(via);
        return seen == listed(other);
    }));
    for (const auto& name : acked) {
        if (uncertain.contains(name)) {
            continue;
        }
        const bool listed_now = std::find(seen.begin(), seen.end(), name) != seen.end();
        CHECK_MESSAGE(listed_now != deleted.contains(name), name);
    }
    // Back from its own disk: it replays its log and catches up with the rest.
    c.node("restart", victim);
    CHECK(eventually([&] { return listed(victim) == listed(via); }));
    CHECK(c.admin_of(victim)->create_topic("after-restart", 1));
}

TEST_CASE(
    "a controller that lost its metadata directory does not start until formatted, and "
    "formatted again under a new directory id it never counts as the voter it was") {
    local_cluster c(3);
    const int active = c.active_controller();
    REQUIRE(active >= 1);
    const int lost = active == 3 ? 2 : 3;
    const int third = 6 - active - lost;
    c.node("kill", lost);
    std::filesystem::remove_all(c.node_dir(lost) / "data" / "__cluster_metadata-0");
    // Its vote in the current term went with the directory: it must not come back as itself.
    auto refused = c.run({"restart", std::to_string(lost)});
    CHECK_FALSE(refused.status.exited_with(0));
    CHECK_MESSAGE(refused.err.find("is not formatted") != std::string::npos, refused.err);

    // Formatted again with the quorum's list as it was created, and a new directory of its own.
    std::string initial;
    {
        std::ifstream in(c.dir() / "initial-controllers");
        REQUIRE(std::getline(in, initial));
    }
    const std::string properties = (c.node_dir(lost) / "server.properties").string();
    auto formatted = run_process({broker_path(), "format", "--config", properties,
                                  "--initial-controllers", initial, "--new-directory"});
    REQUIRE_MESSAGE(formatted.status.exited_with(0), formatted.err);
    CHECK(formatted.out.find("never votes as the voter it was") != std::string::npos);
    // A directory is formatted once.
    auto again = run_process(
        {broker_path(), "format", "--config", properties, "--initial-controllers", initial});
    CHECK(again.status.exited_with(1));
    CHECK(again.err.find("formatted already") != std::string::npos);
    c.node("restart", lost);
    REQUIRE(eventually([&] {
        auto r = c.admin_of(lost)->create_topic("with-a-new-directory", 1);
        return created(r);
    }));

    // With the active controller gone, the two left are not a quorum: the node formatted again
    // is not the voter it was, so nothing is elected (for ten election timeouts, asked every
    // few hundred ms) and a creation is never acknowledged...
    c.node("kill", active);
    client_config watch = c.client(third);
    watch.request_timeout_ms = 300;
    auto quorum = std::move(admin::create(watch)).value();
    const auto watch_until = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < watch_until) {
        auto q = quorum->describe_quorum();
        CHECK_FALSE_MESSAGE(q, "a leader was elected: ", q ? q.value().leader_id : -1);
        std::this_thread::sleep_for(100ms);
    }
    auto stalled = c.admin_of(third)->create_topic("without-a-quorum", 1);
    CHECK_FALSE(stalled);
    // ...until the killed one is back.
    c.node("restart", active);
    CHECK(eventually([&] {
        auto r = c.admin_of(third)->create_topic("quorum-again", 1);
        return created(r);
    }));
}

TEST_CASE(
    "a broker paused past its session is fenced, its partitions leaderless; back, it leads "
    "again") {
    local_cluster c(4);  // node 4 is a broker only
    REQUIRE(c.admin_of()->create_topic("spread", 8));
    std::vector<int32_t> before;
    REQUIRE(eventually([&] {
        before = leaders_seen_by(c, 1, "spread");
        return before.size() == 8 && std::count(before.begin(), before.end(), 4) == 2;
    }));
    c.node("pause", 4);
    CHECK(eventually([&] {
        auto now = leaders_seen_by(c, 1, "spread");
        for (size_t i = 0; i < now.size(); ++i) {
            if ((before[i] == 4) != (now[i] == -1)) {
                return false;
            }
        }
        return now.size() == 8;
    }));
    // The others keep serving.
    producer_config pc;
    static_cast<client_config&>(pc) = c.client(1);
    auto p = producer::create(pc);
    REQUIRE(p);
    const auto other =
        int32_t(std::find_if(before.begin(), before.end(), [](int32_t l) { return l != 4; }) -
                before.begin());
    producer_record r{"spread", std::nullopt, std::string("while 4 is away"), {}, other, {}};
    CHECK(p.value()->send(std::move(r)).get());
    c.node("resume", 4);
    CHECK(eventually([&] { return leaders_seen_by(c, 1, "spread") == before; }));
}

TEST_CASE("controlled shutdown takes leadership away before the process exits") {
    // A session far longer than the test: only the shutdown can take the leadership away.
    local_cluster c(4, "broker.session.timeout.ms=60000\nbroker.heartbeat.interval.ms=200");
    REQUIRE(c.admin_of()->create_topic("held", 8));
    std::vector<int32_t> before;
    REQUIRE(eventually([&] {
        before = leaders_seen_by(c, 1, "held");
        return before.size() == 8;
    }));
    c.node("shutdown", 4);
    auto after = leaders_seen_by(c, 1, "held");
    REQUIRE(after.size() == 8);
    for (size_t i = 0; i < 8; ++i) {
        CHECK(after[i] == (before[i] == 4 ? -1 : before[i]));
    }
}
