// Leader elections on real broker processes (scripts/cluster.sh): preferred leaders come back
// through `sluice cluster elect-leaders` and through the controller's automatic rebalance; an
// unclean election happens only once the topic allows it, and loses what only the old leader
// held (a consumer that read it moves back to the divergence and reads what replaced it); a
// follower whose log was damaged while it was down truncates at the damage, catches up before it
// rejoins the ISR, and then holds every acknowledged record. Every wait is for a condition.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "replication_helpers.h"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

// Every partition of `topic` as broker `id` describes it (empty if it cannot).
std::vector<partition_info> partitions_seen(const local_cluster& c, int id,
                                            const std::string& topic) {
    auto a = admin::create(c.client(id));
    if (!a) {
        return {};
    }
    auto t = a.value()->describe_topic(topic);
    return t ? t.value().partitions : std::vector<partition_info>{};
}

bool all_in_sync(const std::vector<partition_info>& ps, size_t rf) {
    return !ps.empty() && std::all_of(ps.begin(), ps.end(), [rf](const partition_info& p) {
        return p.leader > 0 && p.isr.size() == rf;
    });
}

bool all_preferred(const std::vector<partition_info>& ps) {
    return !ps.empty() && std::all_of(ps.begin(), ps.end(), [](const partition_info& p) {
        return p.leader == p.replicas.front();
    });
}

// Broker 1 stops cleanly (its leadership moves away) and comes back: in the ISR again, it leads
// nothing. Returns the partitions as broker 2 then sees them.
std::vector<partition_info> bounce_broker_1(local_cluster& c, const std::string& topic) {
    REQUIRE(created(c.admin_of()->create_topic(topic, 3, 3)));
    REQUIRE(eventually([&] { return all_in_sync(partitions_seen(c, 2, topic), 3); }));
    c.node("shutdown", 1);
    c.node("restart", 1);
    std::vector<partition_info> ps;
    REQUIRE(eventually(
        [&] {
            ps = partitions_seen(c, 2, topic);
            return all_in_sync(ps, 3);
        },
        60s));
    return ps;
}

}  // namespace

TEST_CASE("sluice cluster elect-leaders moves leadership back to the preferred replicas") {
    local_cluster c(3, replication_timeouts + "\nauto.leader.rebalance.enable=false");
    const auto ps = bounce_broker_1(c, "prefs");
    for (const auto& p : ps) {
        CHECK(p.leader != 1);
    }
    CHECK_FALSE(all_preferred(ps));

    const std::string servers = c.client(2).bootstrap_servers[0];
    auto first = run_process({cli_path(), "-b", servers, "cluster", "elect-leaders", "--topic",
                              "prefs", "--topic", "nope"});
    CHECK_FALSE(first.status.exited_with(0));  // the unknown topic
    CHECK_MESSAGE(first.out.find("UNKNOWN_TOPIC_OR_PARTITION") != std::string::npos, first.out);
    CHECK_MESSAGE(first.out.find("1 elected") != std::string::npos, first.out);
    // (The answer waited for the broker asked, 2, to apply the change; 3 follows soon.)
    CHECK(eventually([&] { return all_preferred(partitions_seen(c, 3, "prefs")); }));

    auto again = run_process({cli_path(), "-b", servers, "cluster", "elect-leaders"});
    CHECK_MESSAGE(again.status.exited_with(0), again.err);
    CHECK_MESSAGE(again.out.find("0 elected, 0 failed") != std::string::npos, again.out);
    CHECK(again.out.find("already the preferred leader") != std::string::npos);
}

TEST_CASE("the automatic rebalance moves leadership back to the preferred replicas") {
    local_cluster c(3, replication_timeouts + "\nleader.imbalance.check.interval.seconds=1");
    bounce_broker_1(c, "auto");
    CHECK(eventually([&] { return all_preferred(partitions_seen(c, 3, "auto")); }));
}

TEST_CASE("an unclean election only once the topic allows it, losing what only the ISR held") {
    local_cluster c(3, replication_timeouts);
    const partition_seen p = create_in_sync(c, "lossy", 2);
    const int leader = p.leader;
    const int follower = p.replicas[0] == leader ? p.replicas[1] : p.replicas[0];
    const int observer = 6 - leader - follower;
    ledger book(c, "lossy");
    book.send(50);
    REQUIRE(book.acked().size() == 50);

    // The follower falls out of the ISR; what is acknowledged next only the leader holds.
    c.node("pause", follower);
    REQUIRE(eventually([&] {
        auto s = seen_by(c, observer, "lossy");
        return s && s->isr == std::vector<int32_t>{leader};
    }));
    book.send(20);
    REQUIRE(book.acked().size() == 70);
    // A consumer reads all 70 (the high watermark covers them: the ISR is the leader alone).
    auto reader = partition_reader(c, "lossy");
    auto first = poll_until(*reader, 70, 30s);
    REQUIRE(first);
    REQUIRE(first.value().size() == 70);
    c.node("kill", leader);
    c.node("resume", follower);
    // Back and unfenced, the follower is not in the ISR: the partition stays offline.
    REQUIRE(eventually([&] {
        auto a = admin::create(c.client(observer));
        if (!a) {
            return false;
        }
        auto brokers = a.value()->describe_cluster();
        return brokers && std::any_of(brokers.value().begin(), brokers.value().end(),
                                      [&](const broker_info& b) { return b.node_id == follower; });
    }));
    REQUIRE(eventually([&] {
        auto s = seen_by(c, observer, "lossy");
        return s && s->isr == std::vector<int32_t>{leader};  // the fence of the leader is in
    }));
    auto offline = seen_by(c, observer, "lossy");
    REQUIRE(offline);
    CHECK(offline->leader == -1);

    // Allowed now: the follower leads, alone in the ISR, and takes writes.
    REQUIRE(c.admin_of(observer)->alter_topic_configs(
        "lossy", {{"unclean.leader.election.enable", "true"}}));
    REQUIRE(eventually([&] {
        auto s = seen_by(c, observer, "lossy");
        return s && s->leader == follower && s->isr == std::vector<int32_t>{follower};
    }));
    ledger after(c, "lossy");
    after.send(10);
    CHECK(after.acked().size() == 10);
    // The consumer finds its position (70) beyond what the new leader's log holds of the epoch
    // it last read (up to 50): it moves back and reads the new records at 50-59, neither
    // skipping them nor reading from the start again.
    auto next = poll_until(*reader, 10, 30s);
    REQUIRE(next);
    REQUIRE_MESSAGE(next.value().size() == 10, next.value().size());
    std::map<int64_t, std::string> written_after;
    for (const auto& [value, offset] : after.acked()) {
        written_after[offset] = value;
    }
    for (size_t i = 0; i < next.value().size(); ++i) {
        const auto& r = next.value()[i];
        CHECK(r.offset == int64_t(50 + i));
        CHECK(r.value.value_or("") == written_after[r.offset]);
    }

    // The old leader returns as a follower and truncates what only it had.
    c.node("restart", leader);
    REQUIRE(isr_reaches(c, observer, "lossy", 2));
    CHECK(eventually([&] { return logs_identical(c, {leader, follower}, "lossy"); }));
    const auto all = read_all(c, observer, "lossy", 60);
    CHECK(all.size() == 60);  // the 50 both had, and the 10 written after the election
    for (const auto& [value, offset] : after.acked()) {
        CHECK(all.at(offset) == value);
    }
}

TEST_CASE("a follower whose log was damaged while it was down catches up before it can lead") {
    local_cluster c(3, replication_timeouts);
    const partition_seen p = create_in_sync(c, "scarred", 3, {{"min.insync.replicas", "2"}});
    const int leader = p.leader;
    const int victim = leader % 3 + 1;
    const int other = 6 - leader - victim;
    ledger book(c, "scarred");
    book.send(300);
    REQUIRE(eventually([&] { return logs_identical(c, {1, 2, 3}, "scarred"); }));

    c.node("kill", victim);
    // Bytes in the middle of its last segment are overwritten while it is down.
    std::vector<std::filesystem::path> logs;
    for (const auto& e :
         std::filesystem::directory_iterator(c.node_dir(victim) / "data" / "scarred-0")) {
        if (e.path().extension() == ".log") {
            logs.push_back(e.path());
        }
    }
    REQUIRE_FALSE(logs.empty());
    std::sort(logs.begin(), logs.end());
    const auto size = std::filesystem::file_size(logs.back());
    REQUIRE(size > 1000);
    {
        std::fstream f(logs.back(), std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(std::streamoff(size / 2));
        const std::string junk(64, '\xff');
        f.write(junk.data(), std::streamsize(junk.size()));
    }
    REQUIRE(eventually([&] {
        auto s = seen_by(c, leader, "scarred");
        return s && s->isr.size() == 2;  // fenced: out of the ISR
    }));
    book.send(200);

    c.node("restart", victim);
    // Until it is in the ISR again it leads nothing, and it joins only once caught up.
    bool led_early = false;
    REQUIRE(eventually(
        [&] {
            auto s = seen_by(c, other, "scarred");
            led_early = led_early || (s && s->leader == victim);
            return s && s->isr.size() == 3;
        },
        60s));
    CHECK_FALSE(led_early);
    CHECK(eventually([&] { return logs_identical(c, {1, 2, 3}, "scarred"); }));

    // The leader goes: whoever leads now (the victim may) holds every acknowledged record.
    // (Killing a second broker would leave the controller quorum without a majority.)
    c.node("kill", leader);
    REQUIRE(eventually([&] {
        auto s = seen_by(c, victim, "scarred");
        return s && s->leader > 0 && s->leader != leader;
    }));
    const auto acked = book.acked();
    CHECK(acked.size() + book.failed() == 500);
    check_acknowledged(acked, read_all(c, victim, "scarred", acked.size()));
}
