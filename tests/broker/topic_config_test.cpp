// Topic-level configs and topic names.
#include <doctest/doctest.h>

#include "sluice/broker/topic_config.h"

using namespace sluice;
using namespace sluice::broker;

TEST_CASE("topic configs override the broker defaults") {
    auto broker = make_config({{"log.retention.hours", "1"}, {"message.max.bytes", "5000"}});
    REQUIRE(broker.has_value());
    auto base = default_topic_settings(broker.value());
    CHECK(base.log.retention_ms == 3'600'000);
    CHECK(base.max_message_bytes == 5000);
    auto t = apply_topic_configs(base, {{"segment.bytes", "8192"},
                                        {"segment.ms", "1000"},
                                        {"retention.ms", "-1"},
                                        {"retention.bytes", "1048576"},
                                        {"index.interval.bytes", "0"},
                                        {"flush.messages", "1"},
                                        {"max.message.bytes", "100"}});
    REQUIRE(t.has_value());
    CHECK(t.value().log.segment_bytes == 8192u);
    CHECK(t.value().log.segment_ms == 1000);
    CHECK(t.value().log.retention_ms == -1);
    CHECK(t.value().log.retention_bytes == 1048576);
    CHECK(t.value().log.index_interval_bytes == 0u);
    CHECK(t.value().log.flush == storage::flush_mode::fsync);
    CHECK(t.value().max_message_bytes == 100);
}

TEST_CASE("bad topic configs name the key, the value and why") {
    topic_settings base;
    auto unknown = apply_topic_configs(base, {{"compression.type", "zstd"}});
    REQUIRE_FALSE(unknown.has_value());
    CHECK(unknown.error().key == "compression.type");
    CHECK(unknown.error().to_string().starts_with("compression.type=zstd: unknown topic config"));
    CHECK(apply_topic_configs(base, {{"cleanup.policy", "compact,shred"}}).error().to_string() ==
          "cleanup.policy=compact,shred: must be delete, compact, or compact,delete");
    CHECK(apply_topic_configs(base, {{"min.cleanable.dirty.ratio", "2"}}).error().to_string() ==
          "min.cleanable.dirty.ratio=2: must be a number from 0 to 1");
    CHECK(apply_topic_configs(base, {{"delete.retention.ms", "-1"}}).error().to_string() ==
          "delete.retention.ms=-1: must be at least 0");
    CHECK(apply_topic_configs(base, {{"segment.bytes", "100"}}).error().to_string() ==
          "segment.bytes=100: must be at least 4096");
    CHECK(apply_topic_configs(base, {{"retention.ms", "soon"}}).error().to_string() ==
          "retention.ms=soon: not an integer");
    CHECK(apply_topic_configs(base, {{"flush.messages", "10"}})
              .error()
              .to_string()
              .starts_with("flush.messages=10: only two settings are supported"));
    CHECK(apply_topic_configs(base, {{"segment.ms", "0"}}).error().to_string() ==
          "segment.ms=0: must be at least 1");
}

TEST_CASE("topic names follow Kafka's rules") {
    CHECK_FALSE(topic_name_problem("orders"));
    CHECK_FALSE(topic_name_problem("a.b_c-D9"));
    CHECK_FALSE(topic_name_problem(std::string(249, 'x')));
    CHECK(topic_name_problem(std::string(250, 'x')));
    CHECK(topic_name_problem(""));
    CHECK(topic_name_problem("."));
    CHECK(topic_name_problem(".."));
    CHECK(topic_name_problem("a b"));
    CHECK(topic_name_problem("a/b"));
    CHECK(topic_name_problem("ä"));
}
