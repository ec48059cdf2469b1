// Encoding of the requests clients send and decoding of the answers into plain structs.
//
// Pure functions over frames: no sockets, no state, so they are tested with frames built by hand.
// Every decoder checks that the envelope answers the expected API (an ErrorResponse yields its
// error code; any other body is client_errc::protocol_error) and bounds-checks every DataRef.
// Views in decoded answers (string_view, bytes_view) point into the response's buffer.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/client/internal/connection.h"
#include "sluice/protocol/errc.h"
#include "sluice/protocol/frame.h"

namespace sluice::client {

// ---- Metadata ----
struct metadata_request {
    std::vector<std::string> topics;
    bool all_topics = false;
    bool allow_auto_topic_creation = false;
    bool include_replica_offsets = false;  // from the partitions the answering broker leads
};

struct broker_meta {
    int32_t node_id = -1;
    std::string host;
    int32_t port = 0;
};

struct partition_meta {
    int32_t partition = 0;
    errc error = errc::none;
    int32_t leader = -1;
    int32_t leader_epoch = -1;
    std::vector<int32_t> replicas;
    std::vector<int32_t> isr;
    // Asked for and led by the answering broker: each replica's log end (replicas' order, -1
    // unknown); else empty.
    std::vector<int64_t> replica_log_end_offsets;
};

struct topic_meta {
    std::string name;
    errc error = errc::none;
    std::string error_message;
    std::vector<partition_meta> partitions;  // sorted by partition
};

struct metadata_answer {
    std::vector<broker_meta> brokers;
    int32_t controller_id = -1;
    std::vector<topic_meta> topics;
};

std::unique_ptr<frame::writer> encode_metadata(int32_t id, std::string_view client_id,
                                               const metadata_request& req);
result<metadata_answer> decode_metadata(const response& r);

// ---- CreateTopics / DeleteTopics ----
struct new_topic {
    std::string name;
    int32_t partitions = -1;
    int16_t replication_factor = -1;
    std::map<std::string, std::string> configs;
};

struct topic_result {
    std::string name;
    errc error = errc::none;
    std::string error_message;
};

std::unique_ptr<frame::writer> encode_create_topics(int32_t id, std::string_view client_id,
                                                    std::span<const new_topic> topics,
                                                    int32_t timeout_ms);
result<std::vector<topic_result>> decode_create_topics(const response& r);

std::unique_ptr<frame::writer> encode_delete_topics(int32_t id, std::string_view client_id,
                                                    std::span<const std::string> names,
                                                    int32_t timeout_ms);
result<std::vector<topic_result>> decode_delete_topics(const response& r);

// ---- CreatePartitions, IncrementalAlterConfigs, DescribeConfigs, DescribeQuorum ----
std::unique_ptr<frame::writer> encode_create_partitions(int32_t id, std::string_view client_id,
                                                        const std::string& topic, int32_t total,
                                                        int32_t timeout_ms);
result<std::vector<topic_result>> decode_create_partitions(const response& r);

// Each change sets a value, or (none) removes the override.
std::unique_ptr<frame::writer> encode_alter_configs(
    int32_t id, std::string_view client_id, const std::string& topic,
    const std::map<std::string, std::optional<std::string>>& changes);
result<std::vector<topic_result>> decode_alter_configs(const response& r);

struct config_entry_meta {
    std::string name;
    std::string value;
    bool is_override = false;  // a topic override, not the broker's default
};
struct topic_configs_meta {
    std::string name;
    errc error = errc::none;
    std::string error_message;
    std::vector<config_entry_meta> configs;
};
std::unique_ptr<frame::writer> encode_describe_configs(int32_t id, std::string_view client_id,
                                                       const std::string& topic);
result<std::vector<topic_configs_meta>> decode_describe_configs(const response& r);

struct quorum_replica_meta {
    int32_t id = -1;
    int64_t log_end_offset = -1;
    int64_t last_fetch_timestamp = -1;
    int64_t last_caught_up_timestamp = -1;
};
struct quorum_meta {
    errc error = errc::none;
    std::string error_message;
    int32_t leader_id = -1;
    int64_t leader_epoch = 0;
    int64_t high_watermark = 0;
    std::vector<quorum_replica_meta> voters;
    std::vector<quorum_replica_meta> observers;
};
std::unique_ptr<frame::writer> encode_describe_quorum(int32_t id, std::string_view client_id);
result<quorum_meta> decode_describe_quorum(const response& r);

// ---- InitProducerId (an idempotent producer's id; no transactions) ----
struct producer_id_meta {
    errc error = errc::none;
    std::string error_message;
    int64_t producer_id = -1;
    int16_t producer_epoch = -1;
};
std::unique_ptr<frame::writer> encode_init_producer_id(int32_t id, std::string_view client_id);
result<producer_id_meta> decode_init_producer_id(const response& r);

// ---- ElectLeaders (preferred) ----
struct election_meta {
    std::string topic;
    int32_t partition = -1;
    errc error = errc::none;
    std::string message;
};
std::unique_ptr<frame::writer> encode_elect_leaders(int32_t id, std::string_view client_id,
                                                    const std::vector<std::string>& topics);
result<std::vector<election_meta>> decode_elect_leaders(const response& r);

// ---- ListOffsets ----
struct offset_query {
    std::string topic;
    int32_t partition = 0;
    int64_t timestamp = 0;  // api::latest_timestamp, api::earliest_timestamp or a time
};

struct offset_answer {
    std::string topic;
    int32_t partition = 0;
    errc error = errc::none;
    int64_t offset = -1;
    int64_t timestamp = -1;
};

// Queries of one topic must be adjacent in `queries` to share a ListOffsetsTopic.
std::unique_ptr<frame::writer> encode_list_offsets(int32_t id, std::string_view client_id,
                                                   std::span<const offset_query> queries);
result<std::vector<offset_answer>> decode_list_offsets(const response& r);

// ---- Produce ----
struct produce_partition {
    std::string_view topic;
    int32_t partition = 0;
    frame::bytes_view records;         // one batch; referenced, not copied: must outlive the write
    int64_t expected_end_offset = -1;  // conditional append; -1: none
};

struct produce_answer {
    std::string_view topic;
    int32_t partition = 0;
    errc error = errc::none;
    int64_t base_offset = -1;
    int64_t log_append_time_ms = -1;
    int64_t log_end_offset = -1;
    std::string error_message;
};

// Partitions of one topic must be adjacent in `parts` to share a ProduceTopic.
std::unique_ptr<frame::writer> encode_produce(int32_t id, std::string_view client_id, int16_t acks,
                                              int32_t timeout_ms,
                                              std::span<const produce_partition> parts);
result<std::vector<produce_answer>> decode_produce(const response& r);

// ---- Fetch ----
struct fetch_query {
    std::string_view topic;
    int32_t partition = 0;
    int64_t offset = 0;
    int32_t max_bytes = 0;
    int32_t current_leader_epoch = -1;  // -1: not checked
    int32_t last_fetched_epoch = -1;    // followers: the epoch of the last batch they hold
};

struct fetch_answer {
    std::string_view topic;
    int32_t partition = 0;
    errc error = errc::none;
    int64_t high_watermark = -1;
    int64_t log_start_offset = -1;
    frame::bytes_view records;
    // Followers: where their log diverged from the leader's (-1: it did not).
    int32_t diverging_epoch = -1;
    int64_t diverging_end_offset = -1;
};

struct fetch_limits {
    int32_t max_wait_ms = 500;
    int32_t min_bytes = 1;
    int32_t max_bytes = 52428800;
    int32_t replica_id = -1;  // a follower's broker id; -1 for consumers
};

// Partitions of one topic must be adjacent in `parts` to share a FetchTopic.
std::unique_ptr<frame::writer> encode_fetch(int32_t id, std::string_view client_id,
                                            const fetch_limits& limits,
                                            std::span<const fetch_query> parts);
// A whole-request error (FetchResponse.error_code) is returned as the error.
result<std::vector<fetch_answer>> decode_fetch(const response& r);

}  // namespace sluice::client
