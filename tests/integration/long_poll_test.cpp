// Long-polling fetches: a fetch waiting for data wakes as soon as a produce lands, well before
// its max wait; a fetch with nothing to read answers after about max_wait_ms. Bounds are loose
// (seconds, not milliseconds) so that a loaded machine or a sanitizer build does not flake, yet
// a broker that only answers at the deadline fails them.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "broker_process.h"
#include "client_helpers.h"
#include "raw_connection.h"

namespace {

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t) {
    return std::chrono::duration<double>(clock_type::now() - t).count();
}

// Sends one record to topic/partition 0 from another thread after `delay`; `sent_at` is set just
// before send().
std::thread produce_later(const broker_process& broker, const std::string& topic,
                          std::chrono::milliseconds delay, clock_type::time_point& sent_at,
                          bool& acked) {
    return std::thread([&broker, topic, delay, &sent_at, &acked] {
        auto cfg = producer_for(broker);
        cfg.linger_ms = 0;
        auto p = producer::create(cfg);
        if (!p) {
            return;
        }
        std::this_thread::sleep_for(delay);
        producer_record r;
        r.topic = topic;
        r.partition = 0;
        r.value = "wake up";
        sent_at = clock_type::now();
        acked = p.value()->send(std::move(r)).get().has_value();
    });
}

}  // namespace

TEST_CASE("long poll: a consumer's poll returns soon after a produce, long before its timeout") {
    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    REQUIRE(create_topic(broker, "lp", 1).has_value());

    auto cfg = consumer_for(broker);
    cfg.fetch_max_wait_ms = 10000;  // the broker holds each fetch up to 10 s unless data arrives
    auto c = consumer::create(cfg);
    REQUIRE(c.has_value());
    auto tps = partitions_of("lp", 1);
    REQUIRE(c.value()->assign(tps).has_value());
    REQUIRE(c.value()->seek_to_beginning(tps).has_value());
    // Let the consumer's first fetch reach the broker and park there.
    auto warm = c.value()->poll(500ms);
    REQUIRE(warm.has_value());
    CHECK(warm.value().empty());

    clock_type::time_point sent_at{};
    bool acked = false;
    std::thread producer_thread = produce_later(broker, "lp", 1000ms, sent_at, acked);
    const auto poll_start = clock_type::now();
    auto got = c.value()->poll(10s);
    const auto returned = clock_type::now();
    producer_thread.join();
    REQUIRE(acked);
    REQUIRE(got.has_value());
    REQUIRE(got.value().size() == 1);
    CHECK(*got.value()[0].value == "wake up");
    const double after_send = std::chrono::duration<double>(returned - sent_at).count();
    MESSAGE("poll returned ", after_send, " s after the send");
    CHECK(after_send < 1.5);
    CHECK(std::chrono::duration<double>(returned - poll_start).count() < 5.0);
}

TEST_CASE("long poll: a poll with nothing to read waits for its timeout, then returns empty") {
    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    REQUIRE(create_topic(broker, "quiet", 1).has_value());
    auto c = consumer::create(consumer_for(broker));
    REQUIRE(c.has_value());
    auto tps = partitions_of("quiet", 1);
    REQUIRE(c.value()->assign(tps).has_value());
    REQUIRE(c.value()->seek_to_beginning(tps).has_value());
    const auto start = clock_type::now();
    auto got = c.value()->poll(1000ms);
    const double took = seconds_since(start);
    REQUIRE(got.has_value());
    CHECK(got.value().empty());
    CHECK(took >= 0.9);
    CHECK(took < 3.0);
}

TEST_CASE("long poll: the broker holds an empty fetch for about max_wait_ms") {
    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    REQUIRE(create_topic(broker, "raw", 1).has_value());
    auto conn = raw_connection::connect(broker.port());
    REQUIRE(conn.has_value());
    const auto start = clock_type::now();
    REQUIRE(conn.value().send_frame(fetch_request(1, "raw", 0, 0, 400, 1)).has_value());
    auto frame = conn.value().read_frame(10s);
    const double took = seconds_since(start);
    REQUIRE(frame.has_value());
    auto env = envelope_of(frame.value());
    REQUIRE(env.has_value());
    CHECK(env.value()->correlation_id() == 1);
    const auto* resp = env.value()->body_as_FetchResponse();
    REQUIRE(resp != nullptr);
    CHECK(resp->error_code() == 0);
    REQUIRE(resp->topics() != nullptr);
    REQUIRE(resp->topics()->size() == 1);
    const auto* part = resp->topics()->Get(0)->partitions()->Get(0);
    CHECK(part->error_code() == 0);
    CHECK(part->high_watermark() == 0);
    CHECK((part->records() == nullptr || part->records()->length() == 0));
    MESSAGE("empty fetch with max_wait_ms=400 answered after ", took, " s");
    CHECK(took >= 0.3);
    CHECK(took < 3.0);
}

TEST_CASE("long poll: a raw fetch with a long max wait is answered when data arrives") {
    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    REQUIRE(create_topic(broker, "raw2", 1).has_value());
    auto conn = raw_connection::connect(broker.port());
    REQUIRE(conn.has_value());
    REQUIRE(conn.value().send_frame(fetch_request(7, "raw2", 0, 0, 10000, 1)).has_value());
    clock_type::time_point sent_at{};
    bool acked = false;
    std::thread producer_thread = produce_later(broker, "raw2", 1000ms, sent_at, acked);
    auto frame = conn.value().read_frame(15s);
    const auto answered = clock_type::now();
    producer_thread.join();
    REQUIRE(acked);
    REQUIRE(frame.has_value());
    auto env = envelope_of(frame.value());
    REQUIRE(env.has_value());
    const auto* resp = env.value()->body_as_FetchResponse();
    REQUIRE(resp != nullptr);
    const auto* part = resp->topics()->Get(0)->partitions()->Get(0);
    CHECK(part->error_code() == 0);
    CHECK(part->high_watermark() == 1);
    REQUIRE(part->records() != nullptr);
    CHECK(part->records()->length() > 0);
    const double after_send = std::chrono::duration<double>(answered - sent_at).count();
    MESSAGE("fetch answered ", after_send, " s after the send");
    CHECK(after_send < 1.5);
}
