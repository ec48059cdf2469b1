// What a listener asks of the metadata source besides produce and fetch: create and delete
// topics. The topic registry implements it on one broker; the controller will, in a cluster.
// Plain values, no wire format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/async.h"
#include "sluice/protocol/errc.h"

namespace sluice::broker {

struct create_topic_request {
    std::string name;
    int32_t partitions = -1;          // -1: num.partitions
    int16_t replication_factor = -1;  // -1: default.replication.factor
    std::map<std::string, std::string, std::less<>> configs;
    std::string duplicate_config;  // a config key named twice in the request, if any
};

struct topic_result {
    std::string name;
    errc error = errc::none;
    std::string message;  // what was wrong, in words naming the value and the reason
};

class topic_admin {
  public:
    virtual ~topic_admin() = default;

    // From any coroutine. One result per request, in order. The vectors are taken by rvalue
    // reference so that no temporary lives in the caller's co_await expression (async.h).
    virtual awaitable<std::vector<topic_result>> create_topics(
        std::vector<create_topic_request>&& topics, bool validate_only) = 0;
    virtual awaitable<std::vector<topic_result>> delete_topics(
        std::vector<std::string>&& names) = 0;
};

// The metadata log's own directory is <log.dirs>/__cluster_metadata-0: no topic may have the name.
inline constexpr std::string_view reserved_metadata_topic = "__cluster_metadata";

// Kafka's topic-name rules: 1 to 249 characters of [a-zA-Z0-9._-], and not "." or "..";
// and not the reserved name.
// The reason a name is invalid, or nothing.
std::optional<std::string> topic_name_problem(std::string_view name);

inline constexpr size_t topic_name_max = 249;

}  // namespace sluice::broker
