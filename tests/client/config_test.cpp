// Client configs: server lists, endpoints, Kafka-named properties and their errors; the
// client error category.
#include <doctest/doctest.h>

#include <climits>

#include "sluice/client/config.h"
#include "sluice/client/errc.h"
#include "sluice/client/internal/config_parse.h"
#include "sluice/consumer/consumer.h"
#include "sluice/producer/producer.h"

using namespace sluice;

TEST_CASE("split_servers splits on commas and drops blanks") {
    CHECK(split_servers("a:1,b:2") == std::vector<std::string>{"a:1", "b:2"});
    CHECK(split_servers(" a:1 , ,b:2,") == std::vector<std::string>{"a:1", "b:2"});
    CHECK(split_servers("127.0.0.1:9192") == std::vector<std::string>{"127.0.0.1:9192"});
    CHECK(split_servers("").empty());
    CHECK(split_servers(",, ,").empty());
}

TEST_CASE("parse_endpoint takes host:port and [v6]:port") {
    auto a = client::parse_endpoint("localhost:9192");
    REQUIRE(a);
    CHECK(a.value().host == "localhost");
    CHECK(a.value().port == 9192);
    CHECK(a.value().text() == "localhost:9192");
    auto b = client::parse_endpoint("[::1]:1");
    REQUIRE(b);
    CHECK(b.value().host == "::1");
    CHECK(b.value().text() == "[::1]:1");
    for (const char* bad : {"localhost", ":9192", "h:0", "h:65536", "h:x", "h:", "h:12a"}) {
        CAPTURE(bad);
        auto r = client::parse_endpoint(bad);
        REQUIRE_FALSE(r);
        CHECK(r.error() == client_errc::invalid_config);
    }
}

TEST_CASE("producer properties map to the config") {
    auto c = producer_config::from_properties({{"bootstrap.servers", "h1:1, h2:2"},
                                               {"client.id", "me"},
                                               {"acks", "all"},
                                               {"batch.size", "65536"},
                                               {"linger.ms", "0"},
                                               {"buffer.memory", "1048576"},
                                               {"max.block.ms", "100"},
                                               {"retries", "3"},
                                               {"delivery.timeout.ms", "40000"},
                                               {"max.in.flight.requests.per.connection", "1"},
                                               {"request.timeout.ms", "2000"},
                                               {"retry.backoff.ms", "7"},
                                               {"max.request.size", "2097152"},
                                               {"metadata.max.age.ms", "1000"}});
    REQUIRE(c);
    CHECK(c.value().bootstrap_servers == std::vector<std::string>{"h1:1", "h2:2"});
    CHECK(c.value().client_id == "me");
    CHECK(c.value().acks == -1);
    CHECK(c.value().batch_size == 65536);
    CHECK(c.value().linger_ms == 0);
    CHECK(c.value().buffer_memory == 1048576);
    CHECK(c.value().max_block_ms == 100);
    CHECK(c.value().retries == 3);
    CHECK(c.value().delivery_timeout_ms == 40000);
    CHECK(c.value().max_in_flight_requests_per_connection == 1);
    CHECK(c.value().request_timeout_ms == 2000);
    CHECK(c.value().retry_backoff_ms == 7);
    CHECK(c.value().max_request_size == 2097152);
    CHECK(c.value().metadata_max_age_ms == 1000);

    CHECK(producer_config::from_properties({{"acks", "0"}}).value().acks == 0);
    CHECK(producer_config::from_properties({{"acks", "1"}}).value().acks == 1);
    CHECK(producer_config::from_properties({{"acks", "-1"}}).value().acks == -1);
    // Defaults are Kafka's.
    const producer_config d = producer_config::from_properties({}).value();
    CHECK(d.acks == -1);
    CHECK(d.batch_size == 16384);
    CHECK(d.linger_ms == 5);
    CHECK(d.delivery_timeout_ms == 120000);
}

TEST_CASE("bad producer properties name the key and the value") {
    struct bad_case {
        std::map<std::string, std::string> props;
        std::string expect;  // in the message
    };
    const std::vector<bad_case> cases = {
        {{{"acks", "2"}}, "acks=2"},
        {{{"batch.size", "abc"}}, "batch.size=abc: not an integer"},
        {{{"batch.size", "-1"}}, "batch.size=-1"},
        {{{"linger.ms", "5x"}}, "linger.ms=5x"},
        {{{"buffer.memory", "0"}}, "buffer.memory=0"},
        {{{"max.in.flight.requests.per.connection", "0"}}, "max.in.flight"},
        {{{"retries", "99999999999"}}, "retries=99999999999"},
        {{{"bootstrap.servers", "nohostport"}}, "bootstrap.servers=nohostport"},
        {{{"bootstrap.servers", " , "}}, "bootstrap.servers"},
        {{{"compression.type", "lz4"}}, "compression.type=lz4: unknown config key"},
        {{{"delivery.timeout.ms", "1000"}}, "delivery.timeout.ms=1000"},
    };
    for (const bad_case& c : cases) {
        auto r = producer_config::from_properties(c.props);
        REQUIRE_FALSE(r);
        CHECK(r.error() == client_errc::invalid_config);
        CAPTURE(r.error().message());
        CHECK(r.error().message().find(c.expect) != std::string::npos);
        CHECK(r.error().message().starts_with("invalid config: "));
    }
}

TEST_CASE("delivery.timeout.ms follows Kafka's rule") {
    // Unset: raised to linger.ms + request.timeout.ms.
    auto raised = producer_config::from_properties({{"request.timeout.ms", "200000"}});
    REQUIRE(raised);
    CHECK(raised.value().delivery_timeout_ms == 200005);
    // Set explicitly below the sum: an error.
    CHECK_FALSE(producer_config::from_properties(
        {{"request.timeout.ms", "200000"}, {"delivery.timeout.ms", "120000"}}));
    // A struct config is checked by create().
    producer_config c;
    c.linger_ms = -1;
    auto p = producer::create(c);
    REQUIRE_FALSE(p);
    CHECK(p.error().message().find("linger.ms=-1") != std::string::npos);
}

TEST_CASE("consumer properties map to the config") {
    auto c = consumer_config::from_properties({{"bootstrap.servers", "b:3"},
                                               {"fetch.min.bytes", "10"},
                                               {"fetch.max.wait.ms", "50"},
                                               {"fetch.max.bytes", "1000000"},
                                               {"max.partition.fetch.bytes", "2000"},
                                               {"max.poll.records", "7"},
                                               {"auto.offset.reset", "earliest"},
                                               {"socket.connection.setup.timeout.ms", "500"}});
    REQUIRE(c);
    CHECK(c.value().bootstrap_servers == std::vector<std::string>{"b:3"});
    CHECK(c.value().fetch_min_bytes == 10);
    CHECK(c.value().fetch_max_wait_ms == 50);
    CHECK(c.value().fetch_max_bytes == 1000000);
    CHECK(c.value().max_partition_fetch_bytes == 2000);
    CHECK(c.value().max_poll_records == 7);
    CHECK(c.value().auto_offset_reset == "earliest");
    CHECK(c.value().socket_connection_setup_timeout_ms == 500);

    auto bad = consumer_config::from_properties({{"auto.offset.reset", "smallest"}});
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message() ==
          "invalid config: auto.offset.reset=smallest: must be one of earliest, latest, none");
    CHECK_FALSE(consumer_config::from_properties({{"max.poll.records", "0"}}));
    CHECK_FALSE(consumer_config::from_properties({{"no.such.key", "g"}}));
}

TEST_CASE("consumer group properties map to the config; conflicting ones are refused") {
    auto c = consumer_config::from_properties(
        {{"group.id", "billing"},
         {"group.instance.id", "host-1"},
         {"session.timeout.ms", "10000"},
         {"heartbeat.interval.ms", "1000"},
         {"max.poll.interval.ms", "60000"},
         {"enable.auto.commit", "false"},
         {"auto.commit.interval.ms", "250"},
         {"partition.assignment.strategy",
          "org.apache.kafka.clients.consumer.CooperativeStickyAssignor"}});
    REQUIRE(c);
    CHECK(c.value().group_id == "billing");
    CHECK(c.value().group_instance_id == std::optional<std::string>("host-1"));
    CHECK(c.value().session_timeout_ms == 10000);
    CHECK(c.value().heartbeat_interval_ms == 1000);
    CHECK(c.value().max_poll_interval_ms == 60000);
    CHECK_FALSE(c.value().enable_auto_commit);
    CHECK(c.value().auto_commit_interval_ms == 250);
    CHECK(c.value().partition_assignment_strategy ==
          std::vector<std::string>{"cooperative-sticky"});
    auto two =
        consumer_config::from_properties({{"partition.assignment.strategy", "roundrobin, range"}});
    REQUIRE(two);
    CHECK(two.value().partition_assignment_strategy ==
          std::vector<std::string>{"roundrobin", "range"});
    auto mixed = consumer_config::from_properties(
        {{"partition.assignment.strategy", "range,cooperative-sticky"}});
    REQUIRE_FALSE(mixed);
    CHECK(mixed.error().message().find("cannot be mixed") != std::string::npos);
    CHECK_FALSE(consumer_config::from_properties({{"partition.assignment.strategy", "sticky"}}));
    CHECK_FALSE(consumer_config::from_properties(
        {{"session.timeout.ms", "3000"}, {"heartbeat.interval.ms", "3000"}}));
}

TEST_CASE("client errors read well and compare with their condition") {
    const std::error_code plain = make_error_code(client_errc::timed_out);
    CHECK(plain.message() == "timed out");
    CHECK(std::string(plain.category().name()) == "sluice.client");
    CHECK(plain == client_errc::timed_out);
    CHECK(plain != client_errc::closed);

    const std::error_code detailed =
        make_client_error(client_errc::broker_unreachable, "127.0.0.1:9192: connection refused");
    CHECK(detailed.message() == "broker unreachable: 127.0.0.1:9192: connection refused");
    CHECK(std::string(detailed.category().name()) == "sluice.client");
    CHECK(detailed == client_errc::broker_unreachable);
    CHECK(detailed != client_errc::timed_out);
    CHECK(detailed.value() == static_cast<int>(client_errc::broker_unreachable));
    // The same detail twice gives equal codes (interned).
    CHECK(detailed ==
          make_client_error(client_errc::broker_unreachable, "127.0.0.1:9192: connection refused"));

    CHECK(make_error_code(errc::unknown_topic_or_partition).message() ==
          "UNKNOWN_TOPIC_OR_PARTITION");
}

TEST_CASE("retriable errors") {
    CHECK(is_retriable(make_error_code(errc::not_leader_or_follower)));
    CHECK(is_retriable(make_error_code(errc::leader_not_available)));
    CHECK(is_retriable(make_error_code(errc::request_timed_out)));
    CHECK(is_retriable(make_error_code(errc::network_exception)));
    CHECK(is_retriable(make_client_error(client_errc::broker_unreachable, "x: lost")));
    CHECK(is_retriable(make_error_code(client_errc::timed_out)));
    CHECK_FALSE(is_retriable(make_error_code(errc::corrupt_message)));
    CHECK_FALSE(is_retriable(make_error_code(errc::message_too_large)));
    CHECK_FALSE(is_retriable(make_error_code(client_errc::closed)));
    CHECK_FALSE(is_retriable(make_error_code(client_errc::protocol_error)));
    CHECK_FALSE(is_retriable(std::make_error_code(std::errc::invalid_argument)));
}
