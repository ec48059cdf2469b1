// Compaction in a cluster: a follower that was down while its leader compacted catches up over
// the leader's gaps in offsets, and, once it leads, serves exactly what the compacted leader
// served: the latest value of every key, each at the offset it was produced at.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>

#include "replication_helpers.h"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

TEST_CASE("a follower catches up over a compacted leader's gaps and serves the same log") {
    // Controllers on nodes 1 to 3, brokers 4 and 5: either broker can go down without the
    // controller quorum losing its majority.
    local_cluster c(5, replication_timeouts + "\nlog.cleaner.backoff.ms=100", true);
    REQUIRE(created(c.admin_of()->create_topic("ledger", 1, 2,
                                               {{"cleanup.policy", "compact"},
                                                {"segment.bytes", "8192"},
                                                {"min.cleanable.dirty.ratio", "0.01"},
                                                {"min.insync.replicas", "1"}})));
    std::optional<partition_seen> seen;
    REQUIRE(eventually([&] {
        seen = seen_by(c, 4, "ledger");
        return seen && seen->leader > 0 && seen->isr.size() == 2;
    }));
    const partition_seen p = *seen;
    // The follower goes down; the leader takes 2,000 records over 20 keys.
    const int behind = p.replicas[0] == p.leader ? p.replicas[1] : p.replicas[0];
    c.node("kill", behind);
    producer_config pc = producer_of(c);  // acks=all
    pc.batch_size = 2048;
    auto prod = producer::create(pc);
    REQUIRE(prod);
    std::map<std::string, int64_t> latest;  // key -> offset of its last record
    for (int i = 0; i < 2000; ++i) {
        producer_record r;
        r.topic = "ledger";
        r.partition = 0;
        r.key = "k" + std::to_string(i % 20);
        r.value = *r.key + "@" + std::to_string(i) + std::string(64, '.');
        auto m = prod.value()->send(std::move(r)).get();
        REQUIRE(m);
        latest["k" + std::to_string(i % 20)] = m.value().offset;
    }
    // The leader compacts: reading from the start gives far fewer records than were written.
    std::map<int64_t, std::string> compacted;
    REQUIRE(eventually(
        [&] {
            compacted = read_all(c, p.leader, "ledger", 1);
            return compacted.size() < 1000;
        },
        60s));
    // The follower comes back and catches up into the ISR.
    c.node("restart", behind);
    REQUIRE(eventually(
        [&] {
            auto s = seen_by(c, p.leader, "ledger");
            return s && std::count(s->isr.begin(), s->isr.end(), behind) == 1;
        },
        60s));
    // It leads once the leader is gone, and serves the latest value of every key at its offset.
    c.node("kill", p.leader);
    std::map<int64_t, std::string> served;
    REQUIRE(eventually(
        [&] {
            auto s = seen_by(c, behind, "ledger");
            return s && s->leader == behind;
        },
        60s));
    served = read_all(c, behind, "ledger", latest.size());
    for (const auto& [key, offset] : latest) {
        auto it = served.find(offset);
        REQUIRE_MESSAGE(it != served.end(), "the latest record of ", key, " at ", offset,
                        " is gone");
        CHECK(it->second.rfind(key + "@", 0) == 0);
    }
    // Nothing it serves contradicts what the compacted leader served.
    for (const auto& [offset, value] : served) {
        auto it = compacted.find(offset);
        if (it != compacted.end()) {
            CHECK(it->second == value);
        }
    }
}
