// Log compaction on a real broker process: a topic with cleanup.policy=compact ends up holding
// the latest record of every key at its own offset, a reader from the start sees exactly that,
// a restart keeps it, deleted keys vanish once delete.retention.ms passed, and a record without
// a key is refused with a clear error. Every wait is for a condition.
#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "client_helpers.h"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

// Every record of partition 0, from the start to the end.
std::vector<consumer_record> read_all(const broker_process& b, const std::string& topic) {
    auto c = consumer::create(consumer_for(b));
    REQUIRE(c);
    const topic_partition tp{topic, 0};
    REQUIRE(c.value()->assign({tp}));
    auto ends = c.value()->end_offsets({tp});
    REQUIRE(ends);
    const int64_t end = ends.value().at(tp);
    std::vector<consumer_record> out;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!out.empty() && out.back().offset >= end - 1) {
            break;
        }
        auto got = c.value()->poll(200ms);
        REQUIRE(got);
        for (auto& r : got.value()) {
            out.push_back(std::move(r));
        }
    }
    REQUIRE((out.empty() ? end == 0 : out.back().offset == end - 1));
    return out;
}

// Produces `n` records over `keys` keys to partition 0 (value: "<key>@<i>"), then a record
// of each key in `deleted` with a null value; returns the value each key should end with.
std::map<std::string, std::optional<std::string>> produce(const broker_process& b,
                                                          const std::string& topic, int n, int keys,
                                                          const std::vector<int>& deleted) {
    auto pc = producer_for(b);
    pc.batch_size = 4096;  // the topics' segments are 8 KiB
    auto p = producer::create(pc);
    REQUIRE(p);
    std::atomic<int> failed{0};
    auto count = [&failed](const result<record_metadata>& m) {
        if (!m) {
            ++failed;
        }
    };
    std::map<std::string, std::optional<std::string>> latest;
    for (int i = 0; i < n; ++i) {
        producer_record r;
        r.topic = topic;
        r.partition = 0;
        r.key = "key-" + std::to_string(i % keys);
        r.value = *r.key + "@" + std::to_string(i) + std::string(100, '.');
        latest[*r.key] = r.value;
        p.value()->send(std::move(r), count);
    }
    for (int k : deleted) {
        producer_record r;
        r.topic = topic;
        r.partition = 0;
        r.key = "key-" + std::to_string(k);
        latest[*r.key] = std::nullopt;
        p.value()->send(std::move(r), count);
    }
    REQUIRE(p.value()->flush());
    REQUIRE(failed.load() == 0);
    return latest;
}

// The last value read for each key.
std::map<std::string, std::optional<std::string>> last_values(
    const std::vector<consumer_record>& records) {
    std::map<std::string, std::optional<std::string>> out;
    for (const auto& r : records) {
        out[r.key.value_or("")] = r.value;
    }
    return out;
}

}  // namespace

TEST_CASE("compaction: a compacted topic keeps the latest record of every key, across a restart") {
    broker_process broker(std::map<std::string, std::string>{{"log.cleaner.backoff.ms", "100"}});
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    REQUIRE(create_topic(broker, "state", 1,
                         {{"cleanup.policy", "compact"},
                          {"segment.bytes", "8192"},
                          {"min.cleanable.dirty.ratio", "0.1"}}));
    const auto latest = produce(broker, "state", 3000, 25, {3, 7});

    // Wait for the cleaner: the sealed segments hold one record per key at most, so the log
    // shrinks to what the active segment holds plus a record per key.
    std::vector<consumer_record> after;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
        after = read_all(broker, "state");
        if (after.size() < 200) {
            break;
        }
        std::this_thread::sleep_for(100ms);
    }
    REQUIRE_MESSAGE(after.size() < 200, broker.log_tail());
    CHECK(broker.log_tail(400).find("compacted") != std::string::npos);
    // Whatever is left: records as produced, at their own offsets (record i at offset i, the
    // two tombstones at 3000 and 3001), each key's last one its latest.
    for (const auto& r : after) {
        REQUIRE(r.offset >= 0);
        REQUIRE(r.offset < 3002);
        const int64_t i = r.offset;
        const std::string key = "key-" + std::to_string(i < 3000 ? i % 25 : (i == 3000 ? 3 : 7));
        CHECK(r.key == key);
        if (i < 3000) {
            CHECK(r.value == key + "@" + std::to_string(i) + std::string(100, '.'));
        } else {
            CHECK_FALSE(r.value.has_value());
        }
    }
    CHECK(last_values(after) == latest);
    CHECK(after.back().offset == 3001);

    // A restart keeps the compacted log (the cleaner may still have removed more of what it
    // held, never anything else), and appends go on at its end.
    REQUIRE(broker.stop().has_value());
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    const auto restarted = read_all(broker, "state");
    std::map<int64_t, const consumer_record*> held;
    for (const auto& r : after) {
        held[r.offset] = &r;
    }
    for (const auto& r : restarted) {
        REQUIRE(held.count(r.offset) == 1);
        CHECK(held[r.offset]->value == r.value);
    }
    CHECK(last_values(restarted) == latest);
    produce(broker, "state", 1, 1, {});
    CHECK(read_all(broker, "state").back().offset == 3002);
}

TEST_CASE("compaction: tombstones go after delete.retention.ms; keyless records are refused") {
    broker_process broker(std::map<std::string, std::string>{{"log.cleaner.backoff.ms", "100"}});
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    REQUIRE(create_topic(broker, "gone", 1,
                         {{"cleanup.policy", "compact"},
                          {"segment.bytes", "8192"},
                          {"delete.retention.ms", "0"},
                          {"min.cleanable.dirty.ratio", "0.01"}}));
    produce(broker, "gone", 500, 5, {0, 1, 2, 3, 4});
    // Later records roll the segment with the tombstones in it, and dirty the log again.
    produce(broker, "gone", 500, 3, {});
    std::map<std::string, std::optional<std::string>> seen;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
        auto records = read_all(broker, "gone");
        seen = last_values(records);
        // Keys 3 and 4 were deleted and never written again: gone once their tombstones are.
        if (seen.count("key-3") == 0 && seen.count("key-4") == 0) {
            break;
        }
        std::this_thread::sleep_for(100ms);
    }
    CHECK(seen.count("key-3") == 0);
    CHECK(seen.count("key-4") == 0);
    for (const char* k : {"key-0", "key-1", "key-2"}) {
        REQUIRE(seen.count(k) == 1);
        CHECK(seen[k].has_value());
    }

    auto p = producer::create(producer_for(broker));
    REQUIRE(p);
    producer_record keyless;
    keyless.topic = "gone";
    keyless.value = "no key";
    auto refused = p.value()->send(std::move(keyless)).get();
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == errc::invalid_record);
}

TEST_CASE("compaction: cleanup.policy values and the broker default") {
    broker_process broker(std::map<std::string, std::string>{{"log.cleanup.policy", "compact"}});
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    auto a = admin::create(client_for(broker));
    REQUIRE(a);
    REQUIRE(a.value()->create_topic("defaulted", 1));
    auto policy = [&](const std::string& topic) {
        auto configs = a.value()->describe_topic_configs(topic);
        REQUIRE(configs);
        for (const auto& e : configs.value()) {
            if (e.name == "cleanup.policy") {
                return e.value;
            }
        }
        return std::string("(none)");
    };
    CHECK(policy("defaulted") == "compact");
    std::string why;
    auto bad = a.value()->create_topic("bad", 1, -1, {{"cleanup.policy", "shred"}}, &why);
    REQUIRE_FALSE(bad);
    CHECK(bad.error() == errc::invalid_config);
    CHECK(why.find("cleanup.policy") != std::string::npos);
    REQUIRE(a.value()->create_topic("both", 1, -1, {{"cleanup.policy", "delete,compact"}}));
    CHECK(policy("both") == "delete,compact");  // as given
}
