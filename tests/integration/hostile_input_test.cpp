// Hostile bytes on raw sockets: garbage, truncated frames, oversized frames, unknown API keys and
// versions, bodies that do not match their key. The broker closes a connection it cannot trust
// (docs/protocol.md), answers a well-framed request it cannot serve with an ErrorResponse and
// keeps that connection, and all the while serves other clients.
#include <doctest/doctest.h>

#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "broker_process.h"
#include "client_helpers.h"
#include "raw_connection.h"
#include "sluice/protocol/byte_order.h"
#include "sluice/protocol/errc.h"

namespace {

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

// A frame header announcing `frame_length` bytes after the length field.
std::vector<std::byte> header_bytes(uint32_t frame_length, uint32_t envelope_length) {
    std::vector<std::byte> h(frame::header_size);
    store_be<uint32_t>(h.data(), frame_length);
    store_be<uint32_t>(h.data() + 4, envelope_length);
    return h;
}

std::vector<std::byte> random_bytes(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<std::byte> out(n);
    for (auto& b : out) {
        b = std::byte(rng() & 0xFF);
    }
    return out;
}

// A healthy client: produces `n` records with the library and reads them back.
void healthy_round_trip(const broker_process& broker, const std::string& topic, int n) {
    auto cfg = producer_for(broker);
    cfg.linger_ms = 0;
    auto p = producer::create(cfg);
    REQUIRE(p.has_value());
    std::vector<std::future<result<record_metadata>>> acks;
    for (int i = 0; i < n; ++i) {
        producer_record r;
        r.topic = topic;
        r.partition = 0;
        r.value = "healthy-" + std::to_string(i);
        acks.push_back(p.value()->send(std::move(r)));
    }
    int64_t first = -1;
    for (auto& f : acks) {
        REQUIRE(f.wait_for(20s) == std::future_status::ready);
        auto m = f.get();
        REQUIRE_MESSAGE(m.has_value(), m.error().message());
        if (first < 0) {
            first = m.value().offset;
        }
    }
    auto c = consumer::create(consumer_for(broker));
    REQUIRE(c.has_value());
    topic_partition tp{topic, 0};
    REQUIRE(c.value()->assign({tp}).has_value());
    REQUIRE(c.value()->seek(tp, first).has_value());
    auto got = poll_until(*c.value(), size_t(n), 20s);
    REQUIRE(got.has_value());
    REQUIRE(got.value().size() >= size_t(n));
    for (int i = 0; i < n; ++i) {
        CHECK(got.value()[size_t(i)].value == "healthy-" + std::to_string(i));
    }
}

// Sends ApiVersions on `conn` and checks the answer.
void check_api_versions(raw_connection& conn, int32_t correlation_id) {
    REQUIRE(conn.send_frame(api_versions_request(correlation_id)).has_value());
    auto f = conn.read_frame(10s);
    REQUIRE_MESSAGE(f.has_value(), f.error().message());
    auto env = envelope_of(f.value());
    REQUIRE(env.has_value());
    CHECK(env.value()->correlation_id() == correlation_id);
    const auto* resp = env.value()->body_as_ApiVersionsResponse();
    REQUIRE(resp != nullptr);
    CHECK(resp->error_code() == 0);
    REQUIRE(resp->apis() != nullptr);
    CHECK(resp->apis()->size() >= 7);
}

// Sends `w` and expects an ErrorResponse with `code` for `correlation_id`.
void check_error_response(raw_connection& conn, const frame::writer& w, int32_t correlation_id,
                          errc code) {
    REQUIRE(conn.send_frame(w).has_value());
    auto f = conn.read_frame(10s);
    REQUIRE_MESSAGE(f.has_value(), f.error().message());
    auto env = envelope_of(f.value());
    REQUIRE(env.has_value());
    CHECK(env.value()->correlation_id() == correlation_id);
    const auto* resp = env.value()->body_as_ErrorResponse();
    REQUIRE(resp != nullptr);
    CHECK(resp->error_code() == int16_t(code));
}

}  // namespace

TEST_CASE("hostile input: the broker drops bad connections and keeps serving others") {
    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    REQUIRE(create_topic(broker, "healthy", 1).has_value());
    healthy_round_trip(broker, "healthy", 20);

    SUBCASE("garbage inside a plausible frame") {
        auto conn = raw_connection::connect(broker.port());
        REQUIRE(conn.has_value());
        auto bytes = header_bytes(1000, 900);
        auto junk = random_bytes(996, 1);
        bytes.insert(bytes.end(), junk.begin(), junk.end());
        REQUIRE(conn.value().send_bytes(bytes).has_value());
        CHECK(conn.value().closed_by_peer(10s));
    }
    SUBCASE("pure garbage") {
        for (uint32_t seed = 0; seed < 8; ++seed) {
            CAPTURE(seed);
            auto conn = raw_connection::connect(broker.port());
            REQUIRE(conn.has_value());
            // Random bytes whose first length field is small enough to be read in full.
            auto bytes = random_bytes(4096, seed + 100);
            store_be<uint32_t>(bytes.data(), 4092);
            // Ignore a send error: the broker may close before reading everything.
            (void)conn.value().send_bytes(bytes);
            CHECK(conn.value().closed_by_peer(10s));
        }
        auto ones = raw_connection::connect(broker.port());
        REQUIRE(ones.has_value());
        (void)ones.value().send_bytes(std::vector<std::byte>(256, std::byte{0xFF}));
        CHECK(ones.value().closed_by_peer(10s));
    }
    SUBCASE("an envelope length of zero or past the frame") {
        for (auto [frame_len, env_len] : {std::pair{100u, 0u}, std::pair{100u, 200u}}) {
            auto conn = raw_connection::connect(broker.port());
            REQUIRE(conn.has_value());
            auto bytes = header_bytes(frame_len, env_len);
            bytes.resize(4 + frame_len);
            (void)conn.value().send_bytes(bytes);
            CHECK(conn.value().closed_by_peer(10s));
        }
    }
    SUBCASE("an oversized frame is refused without reading it") {
        auto conn = raw_connection::connect(broker.port());
        REQUIRE(conn.has_value());
        // 200 MiB announced, over socket.request.max.bytes (100 MiB); only the header is sent.
        REQUIRE(conn.value().send_bytes(header_bytes(200u << 20, 64)).has_value());
        CHECK(conn.value().closed_by_peer(10s));
    }
    SUBCASE("a truncated frame, then the client goes away") {
        auto conn = raw_connection::connect(broker.port());
        REQUIRE(conn.has_value());
        auto full = api_versions_request(5).to_bytes();
        REQUIRE(conn.value().send_bytes(std::span(full).first(full.size() / 2)).has_value());
        conn.value().shutdown_write();
        CHECK(conn.value().closed_by_peer(10s));
    }
    SUBCASE("a truncated frame left hanging does not block other clients") {
        auto conn = raw_connection::connect(broker.port());
        REQUIRE(conn.has_value());
        auto full = api_versions_request(5).to_bytes();
        REQUIRE(conn.value().send_bytes(std::span(full).first(11)).has_value());
        healthy_round_trip(broker, "healthy", 20);
        // The hanging connection can still complete its frame and get an answer.
        REQUIRE(conn.value().send_bytes(std::span(full).subspan(11)).has_value());
        auto f = conn.value().read_frame(10s);
        REQUIRE(f.has_value());
        auto env = envelope_of(f.value());
        REQUIRE(env.has_value());
        CHECK(env.value()->correlation_id() == 5);
    }
    SUBCASE("unknown API keys and versions get an ErrorResponse; the connection stays usable") {
        auto conn = raw_connection::connect(broker.port());
        REQUIRE(conn.has_value());
        check_api_versions(conn.value(), 1);
        check_error_response(conn.value(), api_versions_request(2, fbs::ApiKey(99), 0), 2,
                             errc::unsupported_version);
        check_api_versions(conn.value(), 3);
        check_error_response(conn.value(), api_versions_request(4, fbs::ApiKey::ApiVersions, 7), 4,
                             errc::unsupported_version);
        check_api_versions(conn.value(), 5);
        check_error_response(conn.value(), mismatched_request(6, fbs::ApiKey::Produce), 6,
                             errc::invalid_request);
        check_api_versions(conn.value(), 7);
    }
    SUBCASE("pipelined requests are answered in order") {
        auto conn = raw_connection::connect(broker.port());
        REQUIRE(conn.has_value());
        std::vector<std::byte> burst;
        for (int32_t id = 10; id < 30; ++id) {
            auto f = (id % 3 == 0 ? api_versions_request(id, fbs::ApiKey(77), 0)
                                  : api_versions_request(id))
                         .to_bytes();
            burst.insert(burst.end(), f.begin(), f.end());
        }
        REQUIRE(conn.value().send_bytes(burst).has_value());
        for (int32_t id = 10; id < 30; ++id) {
            auto f = conn.value().read_frame(10s);
            REQUIRE(f.has_value());
            auto env = envelope_of(f.value());
            REQUIRE(env.has_value());
            CHECK(env.value()->correlation_id() == id);
        }
    }
    // After each kind of abuse the broker still serves a healthy client.
    healthy_round_trip(broker, "healthy", 20);
    CHECK(broker.running());
}

TEST_CASE("hostile input: abuse from many connections at once while a client works") {
    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    REQUIRE(create_topic(broker, "busy", 1).has_value());
    std::atomic<bool> stop{false};
    std::atomic<int> closed{0};
    std::thread abuser([&] {
        for (uint32_t i = 0; !stop.load() && i < 200; ++i) {
            auto conn = raw_connection::connect(broker.port());
            if (!conn) {
                continue;
            }
            auto bytes = random_bytes(512, i);
            store_be<uint32_t>(bytes.data(), i % 2 == 0 ? 508 : (300u << 20));
            (void)conn.value().send_bytes(bytes);
            if (conn.value().closed_by_peer(5s)) {
                closed++;
            }
        }
    });
    for (int round = 0; round < 5; ++round) {
        healthy_round_trip(broker, "busy", 50);
    }
    stop = true;
    abuser.join();
    CHECK(closed.load() > 0);
    healthy_round_trip(broker, "busy", 50);
    auto s = broker.stop();
    REQUIRE(s.has_value());
    CHECK_MESSAGE(s.value().exited_with(0), broker.log_tail());
}
