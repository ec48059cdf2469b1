// Clusters of real sluice-broker processes, started, killed, paused and stopped with
// scripts/cluster.sh (the launcher users run), driven by the client libraries: topics created
// through any broker look the same from every broker and records reach each partition's leader;
// a kill -9 of the active controller during creations loses no acknowledged creation and every
// broker converges; a broker paused past its session is fenced and leads again once back; a
// controlled shutdown takes leadership away before the process exits.
#include <doctest/doctest.h>

#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "client_helpers.h"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

// Short sessions and elections, so that the tests wait seconds, not tens of seconds.
constexpr const char* fast_timeouts =
    "broker.session.timeout.ms=1500\n"
    "broker.heartbeat.interval.ms=200\n"
    "controller.quorum.election.timeout.ms=500";

// A cluster in a temporary directory, through scripts/cluster.sh.
class local_cluster {
  public:
    explicit local_cluster(int nodes, std::string properties = fast_timeouts)
        : dir_("sluice-cluster"), properties_(std::move(properties)), nodes_(nodes) {
        auto r = run({"start", std::to_string(nodes)});
        REQUIRE_MESSAGE(r.status.exited_with(0), r.err);
        bootstrap_ = r.out.substr(0, r.out.find('\n'));
        std::stringstream list(bootstrap_);
        for (std::string one; std::getline(list, one, ',');) {
            addresses_.push_back(one);
        }
        REQUIRE(addresses_.size() == size_t(nodes));
    }
    ~local_cluster() { run({"stop"}); }

    run_result run(std::vector<std::string> args) {
        args.insert(args.begin(), SLUICE_CLUSTER_SH);
        args.push_back(dir_.path().string());
        return run_process(args, {}, 120s,
                           {{"SLUICE_BROKER", broker_path()},
                            {"SLUICE_CLUSTER_PROPERTIES", properties_},
                            {"SLUICE_CLUSTER_PORT", std::nullopt}});
    }
    void node(const std::string& what, int id) {
        auto r = run({what, std::to_string(id)});
        REQUIRE_MESSAGE(r.status.exited_with(0), what, " ", id, ": ", r.err);
    }

    client_config client(std::optional<int> only = std::nullopt) const {
        client_config c;
        if (only) {
            c.bootstrap_servers = {addresses_[size_t(*only - 1)]};
        } else {
            c.bootstrap_servers = addresses_;
        }
        c.client_id = "sluice-cluster-it";
        // A paused broker answers nothing: give up on it soon and ask again.
        c.request_timeout_ms = 3000;
        return c;
    }
    std::unique_ptr<admin> admin_of(std::optional<int> only = std::nullopt) const {
        auto a = admin::create(client(only));
        REQUIRE(a);
        return std::move(a).value();
    }
    // The active controller: the node whose log says so last.
    int active_controller() {
        for (int id = 1; id <= nodes_; ++id) {
            auto a = admin::create(client(id));
            if (!a) {
                continue;
            }
            auto brokers = a.value()->describe_cluster();
            if (brokers) {
                for (const auto& b : brokers.value()) {
                    if (b.is_controller) {
                        return b.node_id;
                    }
                }
            }
        }
        return -1;
    }

  private:
    temp_dir dir_;
    std::string properties_;
    int nodes_;
    std::string bootstrap_;
    std::vector<std::string> addresses_;
};

template <typename Pred>
bool eventually(Pred ok, std::chrono::milliseconds limit = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!ok()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

// Leader of each partition of `topic` as broker `id` describes it (empty if it cannot).
std::vector<int32_t> leaders_seen_by(const local_cluster& c, int id, const std::string& topic) {
    auto a = admin::create(c.client(id));
    if (!a) {
        return {};
    }
    auto t = a.value()->describe_topic(topic);
    std::vector<int32_t> out;
    if (t) {
        for (const auto& p : t.value().partitions) {
            out.push_back(p.leader);
        }
    }
    return out;
}

}  // namespace

TEST_CASE("three brokers: topics from any broker look the same everywhere; records reach leaders") {
    local_cluster c(3);
    REQUIRE(c.admin_of(3)->create_topic("orders", 6));
    std::vector<int32_t> leaders;
    REQUIRE(eventually([&] {
        leaders = leaders_seen_by(c, 1, "orders");
        return leaders.size() == 6 && leaders == leaders_seen_by(c, 2, "orders") &&
               leaders == leaders_seen_by(c, 3, "orders");
    }));
    CHECK(std::set<int32_t>(leaders.begin(), leaders.end()) == std::set<int32_t>{1, 2, 3});

    // Ten records to every partition through the producer library, read back by the consumer.
    producer_config pc;
    static_cast<client_config&>(pc) = c.client();
    auto p = producer::create(pc);
    REQUIRE(p);
    std::vector<std::future<result<record_metadata>>> sent;
    for (int32_t part = 0; part < 6; ++part) {
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
    consumer_config cc;
    static_cast<client_config&>(cc) = c.client(2);
    cc.auto_offset_reset = "earliest";
    auto con = consumer::create(cc);
    REQUIRE(con);
    REQUIRE(con.value()->assign(partitions_of("orders", 6)));
    auto got = poll_until(*con.value(), 60, 30s);
    REQUIRE(got);
    std::map<int32_t, int> per;
    for (const auto& r : got.value()) {
        CHECK(r.value.value_or("").starts_with(fmt::format("p{}-", r.partition)));
        ++per[r.partition];
    }
    CHECK(per == std::map<int32_t, int>{{0, 10}, {1, 10}, {2, 10}, {3, 10}, {4, 10}, {5, 10}});

    // The CLI, through one broker: the three brokers, one of them the active controller.
    auto described =
        run_process({cli_path(), "-b", c.client(3).bootstrap_servers[0], "cluster", "describe"});
    REQUIRE_MESSAGE(described.status.exited_with(0), described.err);
    const auto lines = described.out_lines();
    REQUIRE(lines.size() == 4);
    CHECK(lines[0].starts_with("Broker"));
    CHECK(std::count_if(lines.begin(), lines.end(),
                        [](const std::string& l) { return l.ends_with("active"); }) == 1);
}

TEST_CASE(
    "kill -9 of the active controller during creations: acknowledged ones exist, brokers "
    "converge, and it rejoins") {
    local_cluster c(3);
    const int victim = c.active_controller();
    REQUIRE(victim >= 1);
    const int via = victim == 1 ? 2 : 1;  // creations go through a broker that survives
    std::set<std::string> acked;
    std::set<std::string> refused;  // a definite error (not a timeout: that outcome is unknown)
    std::atomic<bool> killed{false};
    std::thread creator([&] {
        auto a = c.admin_of(via);
        for (int i = 0; i < 40; ++i) {
            const std::string name = fmt::format("storm-{}", i);
            auto r = a->create_topic(name, 2);
            if (r) {
                acked.insert(name);
            } else if (r.error() == make_error_code(errc::invalid_partitions)) {
                refused.insert(name);
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
    CHECK(refused.empty());
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
        CHECK(std::find(seen.begin(), seen.end(), name) != seen.end());
    }
    // Back from its own disk: it replays its log and catches up with the rest.
    c.node("restart", victim);
    CHECK(eventually([&] { return listed(victim) == listed(via); }));
    CHECK(c.admin_of(victim)->create_topic("after-restart", 1));
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
