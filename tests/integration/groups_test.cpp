// Consumer groups on a real broker process, through the consumer library: members share a
// topic's partitions (each owned by one member at a time), resume from committed offsets, a
// static member comes back to its partitions without a rebalance, and cooperative-sticky moves
// only what it must. Every wait is for a condition.
#include <doctest/doctest.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "client_helpers.h"
#include "process.h"
#include "raw_connection.h"
#include "sluice/client/internal/group_requests.h"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

// Short timeouts so that rebalances in tests take a second, not a minute.
std::map<std::string, std::string> group_broker_config() {
    return {{"offsets.topic.num.partitions", "4"},
            {"offsets.topic.replication.factor", "1"},
            {"group.initial.rebalance.delay.ms", "300"},
            {"group.min.session.timeout.ms", "1000"}};
}

consumer_config member_config(const broker_process& b, const std::string& group,
                              const std::string& strategy = "range") {
    consumer_config c = consumer_for(b);
    c.group_id = group;
    c.session_timeout_ms = 3000;
    c.heartbeat_interval_ms = 300;
    c.max_poll_interval_ms = 10000;
    c.enable_auto_commit = false;
    c.partition_assignment_strategy = {strategy};
    return c;
}

void produce_n(const broker_process& b, const std::string& topic, int partitions, int per) {
    auto p = producer::create(producer_for(b));
    REQUIRE(p);
    std::atomic<int> failed{0};
    for (int part = 0; part < partitions; ++part) {
        for (int i = 0; i < per; ++i) {
            producer_record r;
            r.topic = topic;
            r.partition = part;
            r.value = std::to_string(part) + "-" + std::to_string(i);
            p.value()->send(std::move(r), [&failed](const result<record_metadata>& m) {
                if (!m) {
                    ++failed;
                }
            });
        }
    }
    REQUIRE(p.value()->flush());
    REQUIRE(failed.load() == 0);
}

// Tracks what a member owns, through its rebalance callbacks.
class owner_log : public rebalance_listener {
  public:
    void on_partitions_revoked(const std::vector<topic_partition>& p) override {
        std::lock_guard lock(mutex);
        for (const auto& tp : p) {
            owned.erase(tp);
        }
        ++revocations;
        revoked_total += p.size();
    }
    void on_partitions_assigned(const std::vector<topic_partition>& p) override {
        std::lock_guard lock(mutex);
        owned.insert(p.begin(), p.end());
        ++assignments;
    }
    void on_partitions_lost(const std::vector<topic_partition>& p) override {
        std::lock_guard lock(mutex);
        for (const auto& tp : p) {
            owned.erase(tp);
        }
        lost_total += p.size();
    }
    std::set<topic_partition> now() {
        std::lock_guard lock(mutex);
        return owned;
    }
    std::mutex mutex;
    std::set<topic_partition> owned;
    int revocations = 0;
    int assignments = 0;
    size_t revoked_total = 0;
    size_t lost_total = 0;
};

// Who owns each partition across several members, from their callbacks (all on the test's
// thread): an assignment of a partition another member still holds is counted as an overlap.
class ownership {
  public:
    class member : public rebalance_listener {
      public:
        member(ownership& o, std::string name) : o_(o), name_(std::move(name)) {}
        void on_partitions_assigned(const std::vector<topic_partition>& p) override {
            for (const auto& tp : p) {
                auto [it, fresh] = o_.owner.emplace(tp, name_);
                if (!fresh && it->second != name_) {
                    ++o_.overlaps;
                    it->second = name_;
                }
            }
        }
        void on_partitions_revoked(const std::vector<topic_partition>& p) override {
            for (const auto& tp : p) {
                if (auto it = o_.owner.find(tp); it != o_.owner.end() && it->second == name_) {
                    o_.owner.erase(it);
                }
            }
        }

      private:
        ownership& o_;
        std::string name_;
    };
    std::map<topic_partition, std::string> owner;
    int overlaps = 0;
};

}  // namespace

TEST_CASE("three members share six partitions, each owned by one member, and read everything") {
    broker_process b(group_broker_config());
    REQUIRE(b.start());
    REQUIRE(create_topic(b, "orders", 6));
    produce_n(b, "orders", 6, 50);

    constexpr int members = 3;
    std::vector<std::unique_ptr<owner_log>> logs;  // outlive the consumers (their listeners)
    std::vector<std::unique_ptr<consumer>> cs;
    for (int i = 0; i < members; ++i) {
        auto c = consumer::create(member_config(b, "g1"));
        REQUIRE(c);
        logs.push_back(std::make_unique<owner_log>());
        REQUIRE(c.value()->subscribe({"orders"}, logs.back().get()));
        cs.push_back(std::move(c).value());
    }
    std::map<topic_partition, std::set<int64_t>> seen;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    size_t total = 0;
    while (total < 300 && std::chrono::steady_clock::now() < deadline) {
        for (int i = 0; i < members; ++i) {
            auto got = cs[size_t(i)]->poll(50ms);
            REQUIRE(got);
            auto owned = logs[size_t(i)]->now();
            for (const auto& r : got.value()) {
                // A member only ever gets records of partitions it owns.
                CHECK(owned.contains(topic_partition{r.topic, r.partition}));
                if (seen[{r.topic, r.partition}].insert(r.offset).second) {
                    ++total;
                }
            }
        }
    }
    CHECK(total == 300);
    for (int p = 0; p < 6; ++p) {
        CHECK(seen[{"orders", p}].size() == 50);
    }
    // Once stable: every partition has exactly one owner.
    std::map<topic_partition, int> owners;
    for (auto& l : logs) {
        for (const auto& tp : l->now()) {
            ++owners[tp];
        }
    }
    CHECK(owners.size() == 6);
    for (const auto& [tp, n] : owners) {
        CHECK(n == 1);
    }
    for (auto& c : cs) {
        CHECK(c->commit_sync());
    }
    // The commits are there for the group.
    auto committed = cs[0]->committed(partitions_of("orders", 6));
    REQUIRE(committed);
    for (const auto& [tp, off] : committed.value()) {
        CHECK(off == 50);
    }
}

namespace {

// The group as the admin client sees it, once `ready(description)` holds (or after `timeout`).
template <typename Ready>
std::optional<group_description> wait_group(admin& a, const std::string& group, Ready ready,
                                            std::chrono::milliseconds timeout = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        auto d = a.describe_group(group);
        if (d && ready(d.value())) {
            return d.value();
        }
        std::this_thread::sleep_for(50ms);
    }
    return std::nullopt;
}

// The group's committed offsets.
std::map<std::pair<std::string, int32_t>, int64_t> ad_offsets(const broker_process& b,
                                                              const std::string& group) {
    auto a = admin::create(client_for(b));
    REQUIRE(a);
    auto offs = a.value()->group_offsets(group);
    REQUIRE(offs);
    std::map<std::pair<std::string, int32_t>, int64_t> out;
    for (const auto& o : offs.value()) {
        out[{o.topic, o.partition}] = o.offset;
    }
    return out;
}

size_t assigned_count(const group_member_info& m) {
    size_t n = 0;
    for (const auto& [t, parts] : m.assignment) {
        n += parts.size();
    }
    return n;
}

// Polls `c` until poll() fails: its error, or nothing after `timeout`.
std::optional<std::error_code> poll_until_error(consumer& c,
                                                std::chrono::milliseconds timeout = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (auto r = c.poll(100ms); !r) {
            return r.error();
        }
    }
    return std::nullopt;
}

// Polls every consumer until `done()` or `timeout`.
template <typename Done>
bool poll_all_until(std::vector<std::unique_ptr<consumer>>& cs, Done done,
                    std::chrono::milliseconds timeout = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        for (auto& c : cs) {
            if (c) {
                REQUIRE(c->poll(20ms));
            }
        }
        if (done()) {
            return true;
        }
    }
    return false;
}

}  // namespace

TEST_CASE("a static member restarted within its session gets its partitions back, no rebalance") {
    broker_process b(group_broker_config());
    REQUIRE(b.start());
    REQUIRE(create_topic(b, "static", 4));
    auto ad = admin::create(client_for(b));
    REQUIRE(ad);

    std::vector<std::unique_ptr<owner_log>> logs;
    std::vector<std::unique_ptr<consumer>> cs;
    for (std::string id : {"host-a", "host-b"}) {
        auto cfg = member_config(b, "g-static");
        cfg.group_instance_id = id;
        cfg.session_timeout_ms = 6000;
        auto c = consumer::create(cfg);
        REQUIRE(c);
        logs.push_back(std::make_unique<owner_log>());
        REQUIRE(c.value()->subscribe({"static"}, logs.back().get()));
        cs.push_back(std::move(c).value());
    }
    REQUIRE(poll_all_until(cs, [&] { return logs[0]->now().size() + logs[1]->now().size() == 4; }));
    auto before = wait_group(*ad.value(), "g-static", [](const group_description& d) {
        return d.state == "Stable" && d.members.size() == 2;
    });
    REQUIRE(before);
    const auto b_partitions = logs[1]->now();
    const int a_revocations = logs[0]->revocations;

    // host-b's process ends (a static member does not leave) and a new one starts.
    cs[1]->close();
    cs[1].reset();
    auto cfg = member_config(b, "g-static");
    cfg.group_instance_id = "host-b";
    cfg.session_timeout_ms = 6000;
    auto again = consumer::create(cfg);
    REQUIRE(again);
    owner_log back;
    REQUIRE(again.value()->subscribe({"static"}, &back));
    cs[1] = std::move(again).value();
    REQUIRE(poll_all_until(cs, [&] { return back.now() == b_partitions; }));
    auto after = ad.value()->describe_group("g-static");
    REQUIRE(after);
    CHECK(after.value().state == "Stable");
    CHECK(after.value().generation == before->generation);
    CHECK(after.value().members.size() == 2);
    // The other member kept its partitions the whole time.
    CHECK(logs[0]->revocations == a_revocations);
    CHECK(logs[0]->now().size() == 4 - b_partitions.size());
    cs.clear();
}

TEST_CASE(
    "cooperative-sticky: a new member takes partitions without the others giving up the rest") {
    broker_process b(group_broker_config());
    REQUIRE(b.start());
    REQUIRE(create_topic(b, "coop", 6));
    produce_n(b, "coop", 6, 10);

    std::vector<std::unique_ptr<owner_log>> logs;
    std::vector<std::unique_ptr<consumer>> cs;
    auto add_member = [&] {
        auto c = consumer::create(member_config(b, "g-coop", "cooperative-sticky"));
        REQUIRE(c);
        logs.push_back(std::make_unique<owner_log>());
        REQUIRE(c.value()->subscribe({"coop"}, logs.back().get()));
        cs.push_back(std::move(c).value());
    };
    add_member();
    add_member();
    REQUIRE(poll_all_until(
        cs, [&] { return logs[0]->now().size() == 3 && logs[1]->now().size() == 3; }));
    const auto first = logs[0]->now();
    const auto second = logs[1]->now();
    const size_t revoked_before = logs[0]->revoked_total + logs[1]->revoked_total;

    add_member();
    REQUIRE(poll_all_until(cs, [&] {
        return logs[0]->now().size() == 2 && logs[1]->now().size() == 2 &&
               logs[2]->now().size() == 2;
    }));
    // Only the two partitions that moved were revoked, one from each; the rest stayed put.
    CHECK(logs[0]->revoked_total + logs[1]->revoked_total - revoked_before == 2);
    for (const auto& tp : logs[0]->now()) {
        CHECK(first.contains(tp));
    }
    for (const auto& tp : logs[1]->now()) {
        CHECK(second.contains(tp));
    }
    std::set<topic_partition> all;
    for (auto& l : logs) {
        for (const auto& tp : l->now()) {
            CHECK(all.insert(tp).second);  // one owner each
        }
    }
    CHECK(all.size() == 6);
    cs.clear();
}

TEST_CASE(
    "cooperative-sticky: a member that drops a topic gives up its partitions before another "
    "member takes them") {
    broker_process b(group_broker_config());
    REQUIRE(b.start());
    for (const char* t : {"drop-x", "drop-y", "drop-z"}) {
        REQUIRE(create_topic(b, t, 2));
    }
    ownership own;
    ownership::member la(own, "a");
    ownership::member lb(own, "b");
    std::vector<std::unique_ptr<consumer>> cs;
    for (auto* l : {&la, &lb}) {
        auto c = consumer::create(member_config(b, "g-drop", "cooperative-sticky"));
        REQUIRE(c);
        cs.push_back(std::move(c).value());
        REQUIRE(cs.back()->subscribe(l == &la ? std::vector<std::string>{"drop-x", "drop-y"}
                                              : std::vector<std::string>{"drop-z"},
                                     l));
    }
    auto owned_by = [&](const std::string& m, const std::string& topic) {
        int n = 0;
        for (const auto& [tp, who] : own.owner) {
            n += who == m && tp.topic == topic ? 1 : 0;
        }
        return n;
    };
    REQUIRE(poll_all_until(cs, [&] {
        return owned_by("a", "drop-x") == 2 && owned_by("a", "drop-y") == 2 &&
               owned_by("b", "drop-z") == 2;
    }));
    // a gives drop-y up, b takes it on: b may start on drop-y only once a has let go.
    REQUIRE(cs[0]->subscribe({"drop-x"}, &la));
    REQUIRE(cs[1]->subscribe({"drop-y", "drop-z"}, &lb));
    REQUIRE(poll_all_until(cs, [&] {
        return owned_by("a", "drop-x") == 2 && owned_by("b", "drop-y") == 2 &&
               owned_by("b", "drop-z") == 2;
    }));
    CHECK(own.overlaps == 0);
    CHECK(own.owner.size() == 6);
    cs.clear();
}

TEST_CASE(
    "a static member fenced by a new process with its group.instance.id loses its "
    "partitions and stops fetching") {
    broker_process b(group_broker_config());
    REQUIRE(b.start());
    REQUIRE(create_topic(b, "fence", 2));
    auto cfg = member_config(b, "g-fence");
    cfg.group_instance_id = "host-x";
    cfg.auto_offset_reset = "earliest";
    auto first = consumer::create(cfg);
    REQUIRE(first);
    owner_log first_log;
    REQUIRE(first.value()->subscribe({"fence"}, &first_log));
    std::vector<std::unique_ptr<consumer>> cs;
    cs.push_back(std::move(first).value());
    REQUIRE(poll_all_until(cs, [&] { return first_log.now().size() == 2; }));

    // A second process with the same instance id takes the place (and the partitions) over.
    auto second = consumer::create(cfg);
    REQUIRE(second);
    owner_log second_log;
    REQUIRE(second.value()->subscribe({"fence"}, &second_log));
    std::vector<std::unique_ptr<consumer>> newer;
    newer.push_back(std::move(second).value());
    REQUIRE(poll_all_until(newer, [&] { return second_log.now().size() == 2; }));

    // The first one's next heartbeat is fenced: poll() says so, and its partitions are lost.
    auto fenced = poll_until_error(*cs[0]);
    REQUIRE(fenced);
    CHECK(fenced->message().find("FENCED_INSTANCE_ID") != std::string::npos);
    CHECK(first_log.lost_total == 2);
    CHECK(first_log.now().empty());
    auto left = cs[0]->assignment();
    REQUIRE(left);
    CHECK(left.value().empty());

    // Records produced now reach the new process only.
    produce_n(b, "fence", 2, 5);
    size_t got = 0;
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (got < 10 && std::chrono::steady_clock::now() < until) {
        auto r = newer[0]->poll(100ms);
        REQUIRE(r);
        got += r.value().size();
        auto old = cs[0]->poll(10ms);
        REQUIRE(old);
        CHECK(old.value().empty());
    }
    CHECK(got == 10);
    cs.clear();
    newer.clear();
}

namespace {

// `sluice consume -G GROUP TOPIC` as a child process printing "<partition> <offset>" lines to
// `out`, with short session timeouts and commits every 100 ms.
result<child_process> cli_member(const broker_process& b, const std::string& group,
                                 const std::string& topic, const std::string& client_id,
                                 const std::filesystem::path& out) {
    return child_process::spawn({cli_path(),
                                 "consume",
                                 "-b",
                                 b.bootstrap(),
                                 "-G",
                                 group,
                                 topic,
                                 "-o",
                                 "beginning",
                                 "-f",
                                 "%p %o\\n",
                                 "-X",
                                 "client.id=" + client_id,
                                 "-X",
                                 "session.timeout.ms=2000",
                                 "-X",
                                 "heartbeat.interval.ms=200",
                                 "-X",
                                 "auto.commit.interval.ms=100",
                                 "-X",
                                 "max.poll.interval.ms=10000"},
                                out.string());
}

// The "<partition> <offset>" lines of a member's output.
std::set<std::pair<int, int64_t>> printed(const std::filesystem::path& out) {
    std::set<std::pair<int, int64_t>> got;
    std::ifstream in(out);
    int p = 0;
    int64_t o = 0;
    while (in >> p >> o) {
        got.insert({p, o});
    }
    return got;
}

}  // namespace

TEST_CASE(
    "SIGKILL a member: its partitions move within the session, nothing is skipped, and its "
    "old generation cannot commit") {
    broker_process b(group_broker_config());
    REQUIRE(b.start());
    REQUIRE(create_topic(b, "jobs", 4));
    produce_n(b, "jobs", 4, 100);
    auto ad = admin::create(client_for(b));
    REQUIRE(ad);
    temp_dir dir("sluice-groups");
    const auto out1 = dir.path() / "m1.out";
    const auto out2 = dir.path() / "m2.out";
    auto m1 = cli_member(b, "g-kill", "jobs", "member-1", out1);
    REQUIRE(m1);
    auto m2 = cli_member(b, "g-kill", "jobs", "member-2", out2);
    REQUIRE(m2);
    auto stable = wait_group(*ad.value(), "g-kill", [](const group_description& d) {
        return d.state == "Stable" && d.members.size() == 2 && assigned_count(d.members[0]) == 2 &&
               assigned_count(d.members[1]) == 2;
    });
    REQUIRE(stable);
    std::string victim;
    for (const auto& m : stable->members) {
        if (m.client_id == "member-1") {
            victim = m.member_id;
        }
    }
    REQUIRE(!victim.empty());
    // Both have printed their records before the kill.
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (printed(out1).size() + printed(out2).size() < 400 &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
    }
    REQUIRE(printed(out1).size() + printed(out2).size() >= 400);

    REQUIRE(m1.value().send_signal(SIGKILL));
    m1.value().wait_for(10s);
    const auto killed = std::chrono::steady_clock::now();
    auto moved = wait_group(*ad.value(), "g-kill", [](const group_description& d) {
        return d.state == "Stable" && d.members.size() == 1 && assigned_count(d.members[0]) == 4;
    });
    REQUIRE(moved);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - killed);
    MESSAGE("partitions moved " << took.count() << " ms after the kill (session 2000 ms)");
    // The session (2 s) ended it, not max.poll.interval.ms (10 s); the slack is for a loaded
    // machine (sanitizer builds under -j2).
    CHECK(took < 8000ms);
    CHECK(moved->generation > stable->generation);

    // The dead member's generation can no longer commit.
    auto raw = raw_connection::connect(b.port());
    REQUIRE(raw);
    const client::member_ref dead{"g-kill", stable->generation, victim, std::nullopt};
    const std::vector<client::commit_entry> entry{{"jobs", 0, 100, -1, ""}};
    auto frame = client::encode_offset_commit(7, "zombie", dead, entry);
    REQUIRE(raw.value().send_frame(*frame));
    auto reply = raw.value().read_frame(10s);
    REQUIRE(reply);
    auto env = envelope_of(reply.value());
    REQUIRE(env);
    const auto* commit = env.value()->body_as_OffsetCommitResponse();
    REQUIRE(commit != nullptr);
    const auto refused = static_cast<errc>(commit->error_code());
    CHECK((refused == errc::unknown_member_id || refused == errc::illegal_generation));

    // More records: the survivor reads them and what the dead member may not have committed.
    produce_n(b, "jobs", 4, 100);
    const auto deadline2 = std::chrono::steady_clock::now() + 30s;
    auto all = [&] {
        auto got = printed(out1);
        auto more = printed(out2);
        got.insert(more.begin(), more.end());
        return got;
    };
    while (all().size() < 800 && std::chrono::steady_clock::now() < deadline2) {
        std::this_thread::sleep_for(50ms);
    }
    const auto got = all();
    for (int p = 0; p < 4; ++p) {
        for (int64_t o = 0; o < 200; ++o) {
            CHECK_MESSAGE(got.contains({p, o}), "partition " << p << " offset " << o);
        }
    }
    CHECK(got.size() == 800);
    m2.value().send_signal(SIGTERM);
    CHECK(m2.value().wait_for(30s).has_value());
}

TEST_CASE(
    "sluice group describe shows the lag while a producer writes; reset-offsets dry run and "
    "execute") {
    broker_process b(group_broker_config());
    REQUIRE(b.start());
    REQUIRE(create_topic(b, "lagging", 2));
    produce_n(b, "lagging", 2, 30);
    {
        auto cfg = member_config(b, "g-lag");
        auto c = consumer::create(cfg);
        REQUIRE(c);
        REQUIRE(c.value()->subscribe({"lagging"}));
        std::vector<std::unique_ptr<consumer>> cs;
        cs.push_back(std::move(c).value());
        REQUIRE(poll_all_until(cs, [&] {
            auto a = cs[0]->assignment();
            if (!a || a.value().size() != 2) {
                return false;
            }
            for (const auto& tp : a.value()) {
                auto pos = cs[0]->position(tp);
                if (!pos || pos.value() < 30) {
                    return false;
                }
            }
            return true;
        }));
        REQUIRE(cs[0]->commit_sync({{{"lagging", 0}, 10}, {{"lagging", 1}, 20}}));
    }  // closed: the group is empty now
    auto cli = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {cli_path()});
        args.push_back("-b");
        args.push_back(b.bootstrap());
        return run_process(args, "", 60s, {});
    };
    // A producer keeps writing while describe runs: each row's lag is its log end minus its
    // committed offset, and the end only grows.
    std::atomic<bool> writing{true};
    std::thread producer_thread([&] {
        while (writing) {
            produce_n(b, "lagging", 2, 5);
        }
    });
    int64_t last_end = 0;
    for (int round = 0; round < 3; ++round) {
        auto d = cli({"group", "describe", "g-lag"});
        REQUIRE_MESSAGE(d.status.exited_with(0), d.err);
        CHECK(d.out.find("State:        Empty") != std::string::npos);
        int rows = 0;
        for (const auto& line : d.out_lines()) {
            std::istringstream in(line);
            std::string topic, part, cur, end, lag;
            in >> topic >> part >> cur >> end >> lag;
            if (topic != "lagging") {
                continue;
            }
            ++rows;
            const int64_t committed = part == "0" ? 10 : 20;
            CHECK(std::stoll(cur) == committed);
            CHECK(std::stoll(lag) == std::stoll(end) - committed);
            CHECK(std::stoll(end) >= 30);
            last_end = std::max<int64_t>(last_end, std::stoll(end));
        }
        CHECK(rows == 2);
    }
    writing = false;
    producer_thread.join();
    CHECK(last_end >= 30);

    // Dry run: shows the new offsets and changes nothing.
    auto dry = cli({"group", "reset-offsets", "g-lag", "--topic", "lagging", "--to-earliest"});
    REQUIRE_MESSAGE(dry.status.exited_with(0), dry.err);
    CHECK(dry.out.find("Dry run") != std::string::npos);
    auto offs = ad_offsets(b, "g-lag");
    CHECK(offs[{"lagging", 0}] == 10);
    CHECK(offs[{"lagging", 1}] == 20);
    // Execute: committed.
    auto run = cli(
        {"group", "reset-offsets", "g-lag", "--topic", "lagging", "--shift-by", "-5", "--execute"});
    REQUIRE_MESSAGE(run.status.exited_with(0), run.err);
    offs = ad_offsets(b, "g-lag");
    CHECK(offs[{"lagging", 0}] == 5);
    CHECK(offs[{"lagging", 1}] == 15);
    run = cli(
        {"group", "reset-offsets", "g-lag", "--topic", "lagging", "--to-earliest", "--execute"});
    REQUIRE_MESSAGE(run.status.exited_with(0), run.err);
    offs = ad_offsets(b, "g-lag");
    CHECK(offs[{"lagging", 0}] == 0);
    CHECK(offs[{"lagging", 1}] == 0);
    // The list names it; delete removes it.
    auto list = cli({"group", "list"});
    REQUIRE(list.status.exited_with(0));
    CHECK(list.out.find("g-lag\n") != std::string::npos);
    auto del = cli({"group", "delete", "g-lag"});
    REQUIRE_MESSAGE(del.status.exited_with(0), del.err);
    CHECK(ad_offsets(b, "g-lag").empty());
}

TEST_CASE("sluice consume -G -e reads what the group has not committed, commits it and exits") {
    broker_process b(group_broker_config());
    REQUIRE(b.start());
    REQUIRE(create_topic(b, "batch", 3));
    produce_n(b, "batch", 3, 20);
    auto consume = [&] {
        return run_process({cli_path(), "consume", "-b", b.bootstrap(), "-G", "g-e", "batch", "-o",
                            "beginning", "-e", "-f", "%p %o\\n"},
                           "", 60s, {});
    };
    auto first = consume();
    REQUIRE_MESSAGE(first.status.exited_with(0), first.err);
    CHECK(first.out_lines().size() == 60);
    auto offs = ad_offsets(b, "g-e");
    for (int p = 0; p < 3; ++p) {
        CHECK(offs[{"batch", p}] == 20);
    }
    // The next run starts at the committed offsets: only the new records.
    produce_n(b, "batch", 3, 5);
    auto second = consume();
    REQUIRE_MESSAGE(second.status.exited_with(0), second.err);
    const auto lines = second.out_lines();
    CHECK(lines.size() == 15);
    for (const auto& line : lines) {
        std::istringstream in(line);
        int p = -1;
        int64_t o = -1;
        in >> p >> o;
        CHECK(o >= 20);
        CHECK(o < 25);
    }

    // -n 7 over three partitions with records waiting in each: exactly what it printed is
    // committed (a poll returns records of several partitions, and those after the 7th were not
    // printed), so the next run prints the rest, every record once.
    produce_n(b, "batch", 3, 10);
    auto some = run_process({cli_path(), "consume", "-b", b.bootstrap(), "-G", "g-e", "batch", "-n",
                             "7", "-f", "%p %o\\n"},
                            "", 60s, {});
    REQUIRE_MESSAGE(some.status.exited_with(0), some.err);
    CHECK(some.out_lines().size() == 7);
    offs = ad_offsets(b, "g-e");
    CHECK(offs[{"batch", 0}] + offs[{"batch", 1}] + offs[{"batch", 2}] == 3 * 25 + 7);
    auto rest = consume();
    REQUIRE_MESSAGE(rest.status.exited_with(0), rest.err);
    std::set<std::pair<int, int64_t>> seen;
    for (const auto* run : {&some, &rest}) {
        for (const auto& line : run->out_lines()) {
            std::istringstream in(line);
            int p = -1;
            int64_t o = -1;
            in >> p >> o;
            CHECK(seen.emplace(p, o).second);  // once
        }
    }
    CHECK(seen.size() == 30);
    for (int p = 0; p < 3; ++p) {
        for (int64_t o = 25; o < 35; ++o) {
            CHECK(seen.contains({p, o}));
        }
    }
}

TEST_CASE("a refused join leaves no group behind; a group left empty without offsets is removed") {
    auto config = group_broker_config();
    config["offsets.retention.check.interval.ms"] = "300";
    broker_process b(config);
    REQUIRE(b.start());
    REQUIRE(create_topic(b, "brief", 1));
    auto ad = admin::create(client_for(b));
    REQUIRE(ad);
    auto listed = [&](const std::string& group) {
        auto l = ad.value()->list_groups();
        REQUIRE(l);
        return std::any_of(l.value().begin(), l.value().end(),
                           [&](const group_listing& g) { return g.group_id == group; });
    };

    // A session timeout below group.min.session.timeout.ms (1000): the join is refused.
    auto bad = member_config(b, "g-refused");
    bad.session_timeout_ms = 500;
    bad.heartbeat_interval_ms = 100;
    auto refused = consumer::create(bad);
    REQUIRE(refused);
    REQUIRE(refused.value()->subscribe({"brief"}));
    auto why = poll_until_error(*refused.value());
    REQUIRE(why);
    CHECK(why->message().find("INVALID_SESSION_TIMEOUT") != std::string::npos);
    CHECK_FALSE(listed("g-refused"));

    // Offsets set from outside keep their group; a group whose only member left, with nothing
    // committed, goes at the next check.
    REQUIRE(ad.value()->alter_group_offsets("g-kept", {group_offset{"brief", 0, 0, ""}}));
    {
        auto c = consumer::create(member_config(b, "g-brief"));
        REQUIRE(c);
        owner_log log;
        REQUIRE(c.value()->subscribe({"brief"}, &log));
        std::vector<std::unique_ptr<consumer>> cs;
        cs.push_back(std::move(c).value());
        REQUIRE(poll_all_until(cs, [&] { return log.now().size() == 1; }));
        CHECK(listed("g-brief"));
        cs[0]->close();
    }
    bool gone = false;
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (!gone && std::chrono::steady_clock::now() < until) {
        gone = !listed("g-brief");
        std::this_thread::sleep_for(50ms);
    }
    CHECK(gone);
    CHECK(listed("g-kept"));
    CHECK(ad_offsets(b, "g-kept")[{"brief", 0}] == 0);
}
