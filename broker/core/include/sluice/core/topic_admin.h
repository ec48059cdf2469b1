// What a listener asks of the metadata source besides produce and fetch: create, delete and
// grow topics, change their configs, elect preferred leaders, describe the controller quorum, and
// hand out producer ids.
// The broker's cluster member implements it by asking the active controller. Plain values, no wire
// format.
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
#include "sluice/protocol/types.h"

namespace sluice::broker {

struct create_topic_request {
    std::string name;
    int32_t partitions = -1;          // -1: num.partitions
    int16_t replication_factor = -1;  // -1: default.replication.factor
    std::map<std::string, std::string, std::less<>> configs;
    std::string duplicate_config;  // a config key named twice in the request, if any
};

// Grow topic `name` to `total` partitions (CreatePartitions).
struct partition_count_request {
    std::string name;
    int32_t total = 0;
};

// Set (a value) or remove (no value: the broker's default applies again) config overrides of
// topic `name` (IncrementalAlterConfigs).
struct config_change_request {
    std::string name;
    std::map<std::string, std::optional<std::string>> changes;
    std::string duplicate_key;  // a key named twice in the request, if any
};

// One replica of the controller quorum as its leader sees it (DescribeQuorum).
struct quorum_replica {
    node_id_t id{-1};
    offset_t log_end{-1};            // -1: unknown
    int64_t last_fetch_ms = -1;      // wall clock, ms since the epoch; -1: unknown
    int64_t last_caught_up_ms = -1;  // its last fetch that was at the leader's log end
};

struct quorum_status {
    errc error = errc::none;
    std::string message;
    node_id_t leader{-1};
    int64_t epoch = 0;  // the leader's term
    offset_t high_watermark{0};
    offset_t leader_log_end{0};
    std::vector<quorum_replica> voters;  // the leader among them
    std::vector<quorum_replica> observers;
};

struct topic_result {
    std::string name;
    errc error = errc::none;
    std::string message;  // what was wrong, in words naming the value and the reason
};

// One partition's answer to a preferred leader election (ElectLeaders); partition -1 answers
// for a whole topic (one that does not exist) or request (NOT_CONTROLLER).
struct election_result {
    std::string topic;
    int32_t partition = -1;
    errc error = errc::none;  // none: elected
    std::string message;

    friend bool operator==(const election_result&, const election_result&) = default;
};

// InitProducerId's answer: a producer id and its epoch, or why not.
struct producer_id_grant {
    errc error = errc::none;
    std::string message;
    producer_id_t id = no_producer_id;
    producer_epoch_t epoch = no_producer_epoch;
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
    virtual awaitable<std::vector<topic_result>> add_partitions(
        std::vector<partition_count_request>&& topics, bool validate_only) = 0;
    virtual awaitable<std::vector<topic_result>> alter_configs(
        std::vector<config_change_request>&& topics, bool validate_only) = 0;
    virtual awaitable<quorum_status> describe_quorum() = 0;
    // Preferred leader elections for every partition of `topics` (all topics if empty).
    virtual awaitable<std::vector<election_result>> elect_leaders(
        std::vector<std::string>&& topics) = 0;
    // A new idempotent producer's id, at epoch 0, never handed out before in this cluster.
    virtual awaitable<producer_id_grant> init_producer_id() = 0;
};

// The metadata log's own directory is <log.dirs>/__cluster_metadata-0: no topic may have the name.
inline constexpr std::string_view reserved_metadata_topic = "__cluster_metadata";

// Kafka's topic-name rules: 1 to 249 characters of [a-zA-Z0-9._-], and not "." or "..";
// and not the reserved name.
// The reason a name is invalid, or nothing.
std::optional<std::string> topic_name_problem(std::string_view name);

inline constexpr size_t topic_name_max = 249;

}  // namespace sluice::broker
