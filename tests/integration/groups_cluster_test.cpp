// Consumer groups across a failover: the broker that coordinates a group is killed with SIGKILL;
// the new leader of the group's __consumer_offsets partition takes over, loading the group from
// the replicated log, so the committed offsets and the membership (its generation, no rebalance)
// survive and the members carry on. Every wait is for a condition.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "replication_helpers.h"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

TEST_CASE("SIGKILL the coordinator: a new one takes over with the offsets and the members") {
    local_cluster c(3, replication_timeouts +
                           "\noffsets.topic.num.partitions=3"
                           "\noffsets.topic.replication.factor=3"
                           "\ngroup.initial.rebalance.delay.ms=300"
                           "\ngroup.min.session.timeout.ms=1000");
    auto ad = c.admin_of();
    REQUIRE(created(ad->create_topic("work", 4, 3)));
    REQUIRE(eventually([&] {
        auto t = ad->describe_topic("work");
        return t && t.value().partitions.size() == 4 &&
               std::all_of(t.value().partitions.begin(), t.value().partitions.end(),
                           [](const partition_info& p) { return p.isr.size() == 3; });
    }));
    auto produce = [&](int per) {
        producer_config pc;
        static_cast<client_config&>(pc) = c.client();
        auto p = producer::create(pc);
        REQUIRE(p);
        for (int part = 0; part < 4; ++part) {
            for (int i = 0; i < per; ++i) {
                producer_record r;
                r.topic = "work";
                r.partition = part;
                r.value = std::to_string(i);
                p.value()->send(std::move(r));
            }
        }
        REQUIRE(p.value()->flush());
    };
    produce(50);

    std::vector<std::unique_ptr<consumer>> members;
    for (int i = 0; i < 2; ++i) {
        consumer_config cc;
        static_cast<client_config&>(cc) = c.client();
        cc.auto_offset_reset = "earliest";
        cc.group_id = "g-ha";
        cc.session_timeout_ms = 8000;
        cc.heartbeat_interval_ms = 300;
        cc.max_poll_interval_ms = 20000;
        cc.enable_auto_commit = false;
        auto m = consumer::create(cc);
        REQUIRE(m);
        REQUIRE(m.value()->subscribe({"work"}));
        members.push_back(std::move(m).value());
    }
    // Reads until every partition's position reached `end`, committing as it goes.
    auto consume_to = [&](int64_t end) {
        return eventually(
            [&] {
                int64_t total = 0;
                for (auto& m : members) {
                    auto got = m->poll(50ms);
                    if (!got) {
                        continue;  // the coordinator or a leader moving: poll again
                    }
                    auto held = m->assignment();
                    if (!held) {
                        continue;
                    }
                    for (const auto& tp : held.value()) {
                        auto pos = m->position(tp);
                        total += pos ? std::min(pos.value(), end) : 0;
                    }
                    (void)m->commit_sync();
                }
                return total == 4 * end;
            },
            60s);
    };
    REQUIRE(consume_to(50));
    auto before = ad->describe_group("g-ha");
    REQUIRE(before);
    REQUIRE(before.value().state == "Stable");
    REQUIRE(before.value().members.size() == 2);
    const int coordinator = before.value().coordinator;
    REQUIRE(coordinator > 0);
    auto offsets = ad->group_offsets("g-ha");
    REQUIRE(offsets);
    REQUIRE(offsets.value().size() == 4);
    for (const auto& o : offsets.value()) {
        REQUIRE(o.offset == 50);
    }

    c.node("kill", coordinator);
    // Another broker coordinates the group: its offsets and members are the same.
    std::optional<group_description> after;
    REQUIRE(eventually(
        [&] {
            for (auto& m : members) {
                (void)m->poll(20ms);  // members keep heartbeating meanwhile
            }
            auto d = ad->describe_group("g-ha");
            if (d && d.value().coordinator != coordinator && d.value().state == "Stable") {
                after = d.value();
                return true;
            }
            return false;
        },
        60s));
    CHECK(after->generation == before.value().generation);
    REQUIRE(after->members.size() == 2);
    for (size_t i = 0; i < 2; ++i) {
        CHECK(after->members[i].member_id == before.value().members[i].member_id);
        CHECK(after->members[i].assignment == before.value().members[i].assignment);
    }
    auto kept = ad->group_offsets("g-ha");
    REQUIRE(kept);
    REQUIRE(kept.value().size() == 4);
    for (const auto& o : kept.value()) {
        CHECK(o.offset == 50);
    }
    // The members carry on with the new coordinator, in the same generation.
    produce(50);
    REQUIRE(consume_to(100));
    auto later = ad->group_offsets("g-ha");
    REQUIRE(later);
    for (const auto& o : later.value()) {
        CHECK(o.offset == 100);
    }
    auto still = ad->describe_group("g-ha");
    REQUIRE(still);
    CHECK(still.value().generation == before.value().generation);
    members.clear();
}
