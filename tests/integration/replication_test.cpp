// Replication on real broker processes (scripts/cluster.sh): followers copy their leaders'
// logs; a leader killed with SIGKILL, again and again under acks=all, loses no acknowledged
// record (each is read back at the offset its acknowledgement gave); a paused follower leaves the
// ISR, so that with min.insync.replicas=2 an acks=all produce is refused without appending, and
// once back it catches up, rejoins and produces succeed again. Every wait is for a condition.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <future>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "client_helpers.h"
#include "local_cluster.h"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

// Short sessions and a short replica lag.
const std::string replication_timeouts =
    std::string(fast_timeouts) + "\nreplica.lag.time.max.ms=1000\nreplica.fetch.backoff.ms=100";

// The partition's leader, replicas and ISR as broker `id` describes them.
struct partition_seen {
    int32_t leader = -1;
    std::vector<int32_t> replicas;
    std::vector<int32_t> isr;
};

std::optional<partition_seen> seen_by(local_cluster& c, int id, const std::string& topic) {
    auto a = admin::create(c.client(id));
    if (!a) {
        return std::nullopt;
    }
    auto t = a.value()->describe_topic(topic);
    if (!t || t.value().partitions.empty()) {
        return std::nullopt;
    }
    const auto& p = t.value().partitions[0];
    partition_seen out{p.leader, p.replicas, p.isr};
    std::sort(out.isr.begin(), out.isr.end());
    return out;
}

producer_config producer_of(local_cluster& c) {
    producer_config pc;
    static_cast<client_config&>(pc) = c.client();
    pc.acks = -1;
    pc.delivery_timeout_ms = 20000;
    return pc;
}

// Every record of partition 0, by offset.
std::map<int64_t, std::string> read_all(local_cluster& c, int via, const std::string& topic,
                                        size_t at_least) {
    consumer_config cc;
    static_cast<client_config&>(cc) = c.client(via);
    cc.auto_offset_reset = "earliest";
    auto con = consumer::create(cc);
    REQUIRE(con);
    REQUIRE(con.value()->assign(partitions_of(topic, 1)));
    auto got = poll_until(*con.value(), at_least, 60s);
    REQUIRE(got);
    std::map<int64_t, std::string> out;
    for (const auto& r : got.value()) {
        auto [it, fresh] = out.emplace(r.offset, r.value.value_or(""));
        CHECK_MESSAGE(fresh, "offset ", r.offset, " read twice");
    }
    return out;
}

}  // namespace

TEST_CASE("kill -9 of the leader, three times under acks=all: every acknowledged record stays") {
    local_cluster c(3, replication_timeouts);
    REQUIRE(created(c.admin_of()->create_topic("ledger", 1, 3, {{"min.insync.replicas", "2"}})));
    REQUIRE(eventually([&] {
        auto p = seen_by(c, 1, "ledger");
        return p && p->leader > 0 && p->isr.size() == 3;
    }));

    auto prod = producer::create(producer_of(c));
    REQUIRE(prod);
    std::map<std::string, int64_t> acked;  // value -> offset its acknowledgement gave
    size_t failed = 0;
    std::string first_failure;
    int next = 0;
    auto send_batch = [&](int n) {
        std::vector<std::pair<std::string, std::future<result<record_metadata>>>> sent;
        for (int i = 0; i < n; ++i) {
            producer_record r;
            r.topic = "ledger";
            r.partition = 0;
            r.value = fmt::format("v{}", next++);
            std::string v = *r.value;
            sent.emplace_back(v, prod.value()->send(std::move(r)));
        }
        for (auto& [v, f] : sent) {
            auto m = f.get();
            if (m) {
                acked[v] = m.value().offset;
            } else {
                if (failed++ == 0) {
                    first_failure = m.error().message();
                }  // not acknowledged: it may or may not be there
            }
        }
    };

    for (int round = 0; round < 3; ++round) {
        send_batch(200);
        auto before = seen_by(c, 1 + round % 3, "ledger");
        REQUIRE(before);
        const int victim = before->leader;
        REQUIRE(victim > 0);
        // Records in flight while the leader dies.
        auto during = std::async(std::launch::async, [&] { send_batch(300); });
        c.node("kill", victim);
        during.get();
        const int other = victim % 3 + 1;
        REQUIRE(eventually([&] {
            auto p = seen_by(c, other, "ledger");
            return p && p->leader > 0 && p->leader != victim;
        }));
        send_batch(100);
        c.node("restart", victim);
        // Back, it catches up and rejoins the ISR.
        REQUIRE(eventually(
            [&] {
                auto p = seen_by(c, other, "ledger");
                return p && p->isr.size() == 3;
            },
            60s));
    }
    CHECK(acked.size() > 1000);
    MESSAGE("acknowledged ", acked.size(), ", failed ", failed, " (", first_failure, ")");

    const auto all = read_all(c, 2, "ledger", acked.size());
    for (const auto& [value, offset] : acked) {
        auto it = all.find(offset);
        REQUIRE_MESSAGE(it != all.end(), "acknowledged offset ", offset, " is gone");
        CHECK_MESSAGE(it->second == value, "offset ", offset, " holds ", it->second,
                      ", acknowledged as ", value);
    }
    // Offsets are dense from 0: no gap, no offset twice.
    int64_t expect = 0;
    for (const auto& [offset, value] : all) {
        CHECK(offset == expect++);
    }

    // Every replica's log is the same, batch for batch and byte for byte, once all caught up.
    auto log_of = [&](int id) {
        std::vector<std::filesystem::path> files;
        for (const auto& e :
             std::filesystem::directory_iterator(c.node_dir(id) / "data" / "ledger-0")) {
            if (e.path().extension() == ".log") {
                files.push_back(e.path());
            }
        }
        std::sort(files.begin(), files.end());
        std::string bytes;
        for (const auto& f : files) {
            std::ifstream in(f, std::ios::binary);
            bytes += std::string(std::istreambuf_iterator<char>(in), {});
        }
        return bytes;
    };
    CHECK(eventually([&] {
        const auto first = log_of(1);
        return !first.empty() && log_of(2) == first && log_of(3) == first;
    }));
}

TEST_CASE(
    "a paused follower leaves the ISR; min.insync.replicas refuses acks=all until it is back") {
    local_cluster c(3, replication_timeouts);
    REQUIRE(created(c.admin_of()->create_topic("strict", 1, 2, {{"min.insync.replicas", "2"}})));
    std::optional<partition_seen> p;
    REQUIRE(eventually([&] {
        p = seen_by(c, 1, "strict");
        return p && p->leader > 0 && p->isr.size() == 2;
    }));
    const int leader = p->leader;
    const int follower = p->replicas[0] == leader ? p->replicas[1] : p->replicas[0];

    auto prod = producer::create(producer_of(c));
    REQUIRE(prod);
    auto send_one = [&](const std::string& v) {
        producer_record r;
        r.topic = "strict";
        r.partition = 0;
        r.value = v;
        return prod.value()->send(std::move(r)).get();
    };
    REQUIRE(send_one("before"));

    c.node("pause", follower);
    REQUIRE(eventually([&] {
        auto now = seen_by(c, leader, "strict");
        return now && now->isr == std::vector<int32_t>{leader};
    }));
    // Refused without appending: the CLI says why and the log end does not move.
    const std::string at_leader = c.client(leader).bootstrap_servers[0];
    auto refused =
        run_process({cli_path(), "-b", at_leader, "produce", "strict", "-p", "0", "-X", "acks=all",
                     "-X", "request.timeout.ms=1000", "-X", "delivery.timeout.ms=2000"},
                    "refused\n");
    CHECK_FALSE(refused.status.exited_with(0));
    CHECK_MESSAGE(refused.err.find("NOT_ENOUGH_REPLICAS") != std::string::npos, refused.err);

    c.node("resume", follower);
    REQUIRE(eventually(
        [&] {
            auto now = seen_by(c, leader, "strict");
            return now && now->isr.size() == 2;
        },
        60s));
    REQUIRE(send_one("after"));
    const auto all = read_all(c, leader, "strict", 2);
    // The refused record was never appended. (A retried send may repeat a record: producers
    // are not idempotent yet.)
    std::set<std::string> values;
    std::string listed;
    for (const auto& [offset, v] : all) {
        values.insert(v);
        listed += fmt::format("{}:{} ", offset, v);
    }
    const std::set<std::string> expected{"before", "after"};
    CHECK_MESSAGE(values == expected, listed);
    CHECK(all.begin()->second == "before");
}
