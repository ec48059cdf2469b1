// Consumer groups on a real broker process, through the consumer library: members share a
// topic's partitions (each owned by one member at a time), resume from committed offsets, a
// static member comes back to its partitions without a rebalance, and cooperative-sticky moves
// only what it must. Every wait is for a condition.
#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client_helpers.h"

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
    std::set<topic_partition> now() {
        std::lock_guard lock(mutex);
        return owned;
    }
    std::mutex mutex;
    std::set<topic_partition> owned;
    int revocations = 0;
    int assignments = 0;
    size_t revoked_total = 0;
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
