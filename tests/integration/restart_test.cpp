// Durability across broker restarts: every record whose acknowledgement reached the producer
// (its future or callback resolved with success) is still there after the broker is stopped with
// SIGTERM or killed with SIGKILL and restarted on the same port and log.dirs. Page-cache mode
// (Kafka's default, no fsync per write) survives a process kill because the data is in the
// kernel's page cache before the broker acknowledges; log.flush.interval.messages=1 is run too.
#include <doctest/doctest.h>

#include <atomic>
#include <csignal>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "broker_process.h"
#include "client_helpers.h"

namespace {

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

struct restart_mode {
    const char* name;
    bool kill;  // SIGKILL instead of SIGTERM
    std::map<std::string, std::string> overrides;
};

const std::vector<restart_mode> modes{
    {"SIGTERM, page cache", false, {}},
    {"SIGKILL, page cache", true, {}},
    {"SIGTERM, log.flush.interval.messages=1", false, {{"log.flush.interval.messages", "1"}}},
    {"SIGKILL, log.flush.interval.messages=1", true, {{"log.flush.interval.messages", "1"}}},
};

using position = std::pair<int32_t, int64_t>;  // partition, offset

// Reads every record of the topic from the beginning; values by position.
std::map<position, std::string> read_all(const broker_process& broker, const std::string& topic,
                                         int32_t partitions, size_t expected) {
    std::map<position, std::string> out;
    auto c = consumer::create(consumer_for(broker));
    REQUIRE(c.has_value());
    auto tps = partitions_of(topic, partitions);
    REQUIRE(c.value()->assign(tps).has_value());
    REQUIRE(c.value()->seek_to_beginning(tps).has_value());
    auto got = poll_until(*c.value(), expected, 60s);
    REQUIRE(got.has_value());
    // Drain anything beyond `expected` too.
    auto more = poll_until(*c.value(), SIZE_MAX, 500ms);
    REQUIRE(more.has_value());
    for (auto* batch : {&got.value(), &more.value()}) {
        for (const consumer_record& r : *batch) {
            CHECK_MESSAGE(out.emplace(position{r.partition, r.offset}, r.value.value_or("")).second,
                          "offset ", r.offset, " of partition ", r.partition, " read twice");
        }
    }
    return out;
}

void bring_down(broker_process& broker, bool kill) {
    if (kill) {
        auto s = broker.kill();
        REQUIRE(s.has_value());
        CHECK(s.value().signal == SIGKILL);
    } else {
        auto s = broker.stop();
        REQUIRE_MESSAGE(s.has_value(), broker.log_tail());
        CHECK_MESSAGE(s.value().exited_with(0), s.value().to_string(), "\n", broker.log_tail());
    }
}

}  // namespace

TEST_CASE("restart: every acknowledged record survives SIGTERM and SIGKILL") {
    for (const restart_mode& mode : modes) {
        const std::string mode_name = mode.name;
        CAPTURE(mode_name);
        broker_process broker(mode.overrides);
        REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
        const uint16_t port = broker.port();
        constexpr int32_t partitions = 3;
        constexpr int records = 3000;
        REQUIRE(create_topic(broker, "durable", partitions).has_value());

        std::map<position, std::string> acked;
        {
            auto p = producer::create(producer_for(broker));
            REQUIRE(p.has_value());
            std::vector<std::future<result<record_metadata>>> futures;
            for (int i = 0; i < records; ++i) {
                producer_record r;
                r.topic = "durable";
                r.key = "key-" + std::to_string(i % 11);
                r.value = "value-" + std::to_string(i);
                futures.push_back(p.value()->send(std::move(r)));
            }
            for (int i = 0; i < records; ++i) {
                auto m = futures[size_t(i)].get();
                REQUIRE(m.has_value());
                acked[{m.value().partition, m.value().offset}] = "value-" + std::to_string(i);
            }
        }
        bring_down(broker, mode.kill);
        REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
        CHECK(broker.port() == port);

        auto after = read_all(broker, "durable", partitions, acked.size());
        CHECK(after.size() == acked.size());
        for (const auto& [pos, value] : acked) {
            auto it = after.find(pos);
            REQUIRE_MESSAGE(it != after.end(), "lost partition ", pos.first, " offset ",
                            pos.second);
            CHECK(it->second == value);
        }

        // The restarted broker takes new records after the old ones.
        auto p = producer::create(producer_for(broker));
        REQUIRE(p.has_value());
        producer_record r;
        r.topic = "durable";
        r.partition = 0;
        r.value = "after restart";
        auto m = p.value()->send(std::move(r)).get();
        REQUIRE(m.has_value());
        int64_t end0 = 0;
        for (const auto& [pos, v] : acked) {
            if (pos.first == 0) {
                end0 = std::max(end0, pos.second + 1);
            }
        }
        CHECK(m.value().offset == end0);
    }
}

TEST_CASE("restart: SIGKILL in the middle of producing keeps every record acknowledged before") {
    for (const restart_mode& mode : {modes[1], modes[3]}) {
        const std::string mode_name = mode.name;
        CAPTURE(mode_name);
        broker_process broker(mode.overrides);
        REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
        constexpr int32_t partitions = 2;
        REQUIRE(create_topic(broker, "midstream", partitions).has_value());

        std::mutex mutex;
        std::map<position, std::string> acked;  // guarded by mutex
        std::atomic<bool> stop{false};
        std::atomic<int> sent{0};
        {
            auto cfg = producer_for(broker);
            cfg.acks = 1;
            cfg.linger_ms = 1;
            cfg.request_timeout_ms = 1000;
            cfg.delivery_timeout_ms = 3000;  // so close() returns soon after the broker is gone
            auto p = producer::create(cfg);
            REQUIRE(p.has_value());
            std::thread sender([&] {
                for (int i = 0; !stop.load(); ++i) {
                    producer_record r;
                    r.topic = "midstream";
                    r.value = "v" + std::to_string(i);
                    std::string value = *r.value;
                    p.value()->send(std::move(r), [&, value](const result<record_metadata>& m) {
                        if (m) {
                            std::lock_guard lock(mutex);
                            acked[{m.value().partition, m.value().offset}] = value;
                        }
                    });
                    sent.store(i + 1);
                    if (i % 64 == 0) {
                        std::this_thread::sleep_for(1ms);
                    }
                }
            });
            // Kill once a good number of records are acknowledged and more are in flight.
            const auto deadline = std::chrono::steady_clock::now() + 30s;
            for (;;) {
                {
                    std::lock_guard lock(mutex);
                    if (acked.size() >= 2000 || std::chrono::steady_clock::now() > deadline) {
                        break;
                    }
                }
                std::this_thread::sleep_for(10ms);
            }
            bring_down(broker, true);
            stop = true;
            sender.join();
            p.value()->close();  // the rest fail (broker gone) within delivery.timeout.ms
        }
        std::map<position, std::string> acked_copy;
        {
            std::lock_guard lock(mutex);
            acked_copy = acked;
        }
        MESSAGE(std::string(mode.name), ": ", acked_copy.size(), " of ", sent.load(),
                " records acknowledged before the kill");
        REQUIRE(acked_copy.size() >= 1000);

        REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
        auto after = read_all(broker, "midstream", partitions, acked_copy.size());
        for (const auto& [pos, value] : acked_copy) {
            auto it = after.find(pos);
            REQUIRE_MESSAGE(it != after.end(), "lost partition ", pos.first, " offset ",
                            pos.second);
            CHECK(it->second == value);
        }
    }
}

TEST_CASE("restart: a paused broker delays records but loses none") {
    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    REQUIRE(create_topic(broker, "paused", 1).has_value());
    auto cfg = producer_for(broker);
    cfg.linger_ms = 0;
    auto p = producer::create(cfg);
    REQUIRE(p.has_value());
    // Connect and learn the metadata while the broker runs.
    producer_record first;
    first.topic = "paused";
    first.value = "before";
    REQUIRE(p.value()->send(std::move(first)).get().has_value());

    REQUIRE(broker.pause());
    std::vector<std::future<result<record_metadata>>> futures;
    for (int i = 0; i < 100; ++i) {
        producer_record r;
        r.topic = "paused";
        r.value = "during-" + std::to_string(i);
        futures.push_back(p.value()->send(std::move(r)));
    }
    std::this_thread::sleep_for(1s);
    for (auto& f : futures) {
        CHECK(f.wait_for(0ms) == std::future_status::timeout);  // nobody can have acknowledged
    }
    REQUIRE(broker.resume());
    for (auto& f : futures) {
        REQUIRE(f.wait_for(30s) == std::future_status::ready);
        CHECK(f.get().has_value());
    }
    auto after = read_all(broker, "paused", 1, 101);
    CHECK(after.size() == 101);
}
