// The broker's configuration: Kafka's key names in a properties file, `--override key=value` on
// the command line, and one table (config_keys()) that says every key's default and meaning. The
// same table prints `--help` and is checked against docs/broker.md by a test.
//
// Everything here is pure: no files are opened except by read_properties_file, nothing is logged.
// Errors are values that name the key, the value and the reason; main() prints them as
//   sluice-broker: config: log.segment.bytes=12: must be at least 4096
// and exits with code 1.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/outcome/policy/terminate.hpp>
#include <boost/outcome/result.hpp>

#include "sluice/core/logging.h"
#include "sluice/protocol/types.h"
#include "sluice/storage/log_config.h"

namespace sluice::broker {

// A configuration problem: which key (empty for file-level problems), its value, and why.
struct config_error {
    std::string key;
    std::string value;
    std::string reason;

    // "key=value: reason", or just "reason" when there is no key.
    std::string to_string() const;
};

template <typename T>
using config_result =
    boost::outcome_v2::result<T, config_error, boost::outcome_v2::policy::terminate>;

// One listener, `NAME://host:port`: PLAINTEXT (clients) or the controller listener
// (controller.listener.names, default CONTROLLER).
struct listener {
    std::string name = "PLAINTEXT";
    std::string host;  // empty: every interface
    uint16_t port = 0;

    // "PLAINTEXT://host:port", IPv6 hosts in brackets.
    std::string to_string() const;
};

// Parses "PLAINTEXT://host:port" (host may be empty or a bracketed IPv6 address). The reason on
// failure, in words. `names` are the listener names accepted (upper case).
config_result<listener> parse_listener(std::string_view text,
                                       std::span<const std::string_view> names = {});

// A member of controller.quorum.voters: `id@host:port`.
struct quorum_voter {
    node_id_t id{-1};
    std::string host;
    uint16_t port = 0;

    friend bool operator==(const quorum_voter&, const quorum_voter&) = default;
};

// Parses controller.quorum.voters: `id@host:port,...` (hosts may be bracketed IPv6 addresses);
// ids distinct.
config_result<std::vector<quorum_voter>> parse_quorum_voters(std::string_view text);

// Bounds of some settings.
inline constexpr int64_t long_max = INT64_MAX;  // Kafka's Long.MAX_VALUE
// Topics may not have more partitions than this (a named bound; Kafka has none).
inline constexpr int32_t partitions_per_topic_max = 10000;
inline constexpr int32_t io_threads_max = 256;
inline constexpr int32_t queued_requests_max = 100000;

// The broker's settings after parsing. Defaults are Kafka's unless a comment says otherwise; the
// table in config.cpp holds the same defaults as text, and a test checks that they agree.
struct broker_config {
    node_id_t node_id{0};
    // process.roles: this node serves clients (broker), is a member of the controller quorum
    // (controller), or both.
    bool broker_role = true;
    bool controller_role = true;
    // controller.quorum.voters; empty: a quorum of one voter, this node, with no controller
    // listener (the zero-config single broker).
    std::vector<quorum_voter> quorum_voters;
    // cluster.id: recorded in a fresh log.dirs, checked against it later. Empty: a fresh
    // directory makes up its own (a single node).
    std::string cluster_id;
    std::string controller_listener_name = "CONTROLLER";
    // The controller listener from `listeners` (a controller in a quorum of several needs one).
    std::optional<listener> controller_listen;
    int64_t broker_heartbeat_interval_ms = 2000;
    int64_t broker_session_timeout_ms = 9000;
    int64_t quorum_election_timeout_ms = 1000;
    int64_t quorum_fetch_timeout_ms = 2000;
    // metadata.log.max.record.bytes.between.snapshots
    int64_t metadata_snapshot_bytes = 20971520;
    // Sluice's default port is 9192 (Kafka's is 9092), on the loopback interface.
    listener listen{"PLAINTEXT", "127.0.0.1", 9192};
    // Unset: the listener's host (or this machine's host name when it binds every interface)
    // and the port actually bound.
    std::optional<listener> advertised;
    // One directory (Kafka's log.dirs may list several; Sluice refuses more than one).
    std::filesystem::path log_dir = "/tmp/sluice-logs";
    int32_t num_partitions = 1;
    int16_t default_replication_factor = 1;
    // Defaults of every topic's log (log.segment.bytes, log.roll.*, log.retention.*,
    // log.index.interval.bytes, log.flush.interval.messages).
    storage::log_config log;
    int64_t log_retention_check_interval_ms = 300000;
    // Compaction: every topic's default cleanup.policy (log.cleanup.policy), delete.retention.ms
    // and min.cleanable.dirty.ratio; the cleaner thread (log.cleaner.enable), its offset map
    // (log.cleaner.dedupe.buffer.size), I/O rate (log.cleaner.io.max.bytes.per.second, 0: no
    // limit) and pause between looks when nothing needs cleaning (log.cleaner.backoff.ms).
    bool log_cleanup_compact = false;
    bool log_cleanup_delete = true;
    int64_t log_cleaner_delete_retention_ms = 86400000;
    double log_cleaner_min_cleanable_ratio = 0.5;
    bool log_cleaner_enable = true;
    int64_t log_cleaner_dedupe_buffer_size = 134217728;
    double log_cleaner_io_max_bytes_per_second = 0;
    int64_t log_cleaner_backoff_ms = 15000;
    // Consumer groups (docs/groups.md): the __consumer_offsets topic (offsets.topic.*), how long
    // an empty group's offsets are kept (offsets.retention.minutes) and how often that is checked,
    // how long a commit's write may take, and the bounds of members' sessions and the wait
    // before a new group's first rebalance (group.*).
    int32_t offsets_topic_num_partitions = 50;
    int16_t offsets_topic_replication_factor = 3;
    int32_t offsets_topic_segment_bytes = 104857600;
    int64_t offsets_retention_minutes = 10080;
    int64_t offsets_retention_check_interval_ms = 600000;
    int32_t offsets_commit_timeout_ms = 5000;
    int32_t group_min_session_timeout_ms = 6000;
    int32_t group_max_session_timeout_ms = 1800000;
    int32_t group_initial_rebalance_delay_ms = 3000;
    int32_t group_max_size = 2147483647;
    // A producer id that wrote nothing to a partition for this long is forgotten there.
    int64_t producer_id_expiration_ms = 86400000;
    // Periodic flush of page-cache logs; unset (Kafka's default) means never.
    std::optional<int64_t> log_flush_interval_ms;
    bool auto_create_topics_enable = true;
    // The largest record batch a producer may send (bytes, whole batch).
    int32_t message_max_bytes = 1048588;
    // Defaults of every topic: the smallest ISR that acks=all accepts, and whether a replica
    // outside the ISR may be elected when no ISR member is left (losing data).
    int32_t min_insync_replicas = 1;
    bool unclean_leader_election_enable = false;
    // Leadership moves back to preferred replicas (the controller's automatic rebalance).
    bool auto_leader_rebalance_enable = true;
    int64_t leader_imbalance_check_interval_seconds = 300;
    int32_t leader_imbalance_per_broker_percentage = 10;
    // A follower not caught up with its leader for this long leaves the ISR.
    int64_t replica_lag_time_max_ms = 30000;
    // Followers' fetches (Kafka's replica.fetch.* keys).
    int32_t replica_fetch_max_bytes = 1048576;
    int32_t replica_fetch_response_max_bytes = 10485760;
    int32_t replica_fetch_wait_max_ms = 500;
    int32_t replica_fetch_min_bytes = 1;
    int32_t replica_fetch_backoff_ms = 1000;
    int32_t replica_socket_timeout_ms = 30000;
    // The largest frame the broker reads (Kafka: the largest request).
    int32_t socket_request_max_bytes = 104857600;
    // The most record bytes one fetch response carries (Kafka's broker-side fetch.max.bytes).
    int32_t fetch_max_bytes = 57671680;
    // Sluice's choice (Kafka's default is unlimited).
    int32_t max_connections = 1000;
    // Sluice-specific: partitions this broker holds at most. With log_open_files_max and
    // max_connections it bounds the files the broker holds open (docs/broker.md, "Limits").
    int32_t max_partitions = 10000;
    // Sluice-specific: sealed segment files open at once (storage::file_cache).
    int32_t log_open_files_max = 1000;
    // -1: never close idle connections.
    int64_t connections_max_idle_ms = 600000;
    // Sluice-specific: frames read ahead of the one being handled, per connection.
    int32_t queued_max_requests_per_connection = 100;
    // Sluice-specific: bytes of frames read ahead, per connection (one frame is always admitted).
    int64_t queued_max_request_bytes_per_connection = 104857600;
    // Kafka's name; Sluice bounds it by default (Kafka: unbounded): request frames from their
    // arrival and responses until written, across every connection.
    int64_t queued_max_request_bytes = 268435456;
    int32_t num_io_threads = default_io_threads();
    int32_t background_threads = 4;  // background.threads: the blocking pool
    // Sluice-specific, fetch.sendfile: how fetched records go from segment files to sockets.
    // true: sendfile; false: read and send; unset (auto): sendfile except to a peer on loopback.
    std::optional<bool> fetch_sendfile;
    log_level level = log_level::info;

    static int32_t default_io_threads();
};

// A key of the table: its name, its default as text ("" if unset), and a one-line description.
struct key_info {
    std::string_view name;
    std::string_view default_text;
    std::string_view description;
};

std::span<const key_info> config_keys();

// `--help` text: usage and every key with its default and description.
std::string help_text();

// Properties in file order, later duplicates overriding earlier ones (as java.util.Properties).
using properties = std::map<std::string, std::string, std::less<>>;

// Parses `key=value` lines: `#` and `!` start comments, blank lines are skipped, keys and values
// are trimmed. `source` names the input in errors ("server.properties:12: ...").
config_result<properties> parse_properties(std::string_view text, std::string_view source);

config_result<properties> read_properties_file(const std::filesystem::path& path);

// Validates every key and value; unknown keys are errors. Keys with precedence (log.roll.ms over
// log.roll.hours, log.retention.ms over .minutes over .hours, log.dirs over log.dir) follow Kafka.
config_result<broker_config> make_config(const properties& props);

}  // namespace sluice::broker
