// The table of broker keys and the validation of every value.
#include "sluice/broker/config.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "config_values.h"
#include "sluice/protocol/batch_format.h"

namespace sluice::broker {
namespace {

using values::reason;

constexpr int64_t int32_max = INT32_MAX;
constexpr int64_t ms_per_minute = 60'000;
constexpr int64_t ms_per_hour = 3'600'000;

struct key_spec {
    key_info info;
    // Applies a value to the config; returns the reason it is bad.
    reason (*apply)(broker_config&, std::string_view);
};

reason set_listeners(broker_config& c, std::string_view v) {
    // controller.listener.names comes earlier in the table, so its name is known here.
    const std::string_view names[] = {"PLAINTEXT", c.controller_listener_name};
    bool plaintext = false;
    c.controller_listen.reset();
    const auto parts = values::split(v, ',');
    for (auto part : parts) {
        auto l = parse_listener(part, names);
        if (!l) {
            return parts.size() == 1 ? l.error().reason
                                     : fmt::format("{}: {}", part, l.error().reason);
        }
        if (l.value().name == "PLAINTEXT") {
            if (plaintext) {
                return std::string("names PLAINTEXT twice");
            }
            plaintext = true;
            c.listen = l.value();
        } else {
            if (c.controller_listen) {
                return fmt::format("names {} twice", c.controller_listener_name);
            }
            c.controller_listen = l.value();
        }
    }
    if (!plaintext) {
        c.listen = listener{"", "", 0};  // none: a controller-only node serves no clients
    }
    return std::nullopt;
}

reason set_roles(broker_config& c, std::string_view v) {
    c.broker_role = c.controller_role = false;
    for (auto part : values::split(v, ',')) {
        const std::string role = values::lower(part);
        bool& slot = role == "broker" ? c.broker_role : c.controller_role;
        if ((role != "broker" && role != "controller") || slot) {
            return std::string("must be broker, controller, or broker,controller");
        }
        slot = true;
    }
    return std::nullopt;
}

reason set_voters(broker_config& c, std::string_view v) {
    auto voters = parse_quorum_voters(v);
    if (!voters) {
        return voters.error().reason;
    }
    c.quorum_voters = std::move(voters).value();
    return std::nullopt;
}

reason set_advertised(broker_config& c, std::string_view v) {
    auto l = parse_listener(v);
    if (!l) {
        return l.error().reason;
    }
    if (l.value().host.empty() || l.value().host == "0.0.0.0" || l.value().host == "::") {
        return std::string("must name the host clients connect to");
    }
    c.advertised = l.value();
    return std::nullopt;
}

reason set_log_dirs(broker_config& c, std::string_view v) {
    if (v.find(',') != std::string_view::npos) {
        return std::string(
            "several log directories are not supported yet; give exactly one directory");
    }
    if (v.empty()) {
        return std::string("must name a directory");
    }
    c.log_dir = std::filesystem::path(std::string(v));
    return std::nullopt;
}

reason set_log_level(broker_config& c, std::string_view v) {
    const std::string lower = values::lower(v);
    for (auto l : {log_level::error, log_level::warn, log_level::info, log_level::debug}) {
        if (lower == log_level_name(l)) {
            c.level = l;
            return std::nullopt;
        }
    }
    return std::string("must be one of error, warn, info, debug");
}

// Lower-precedence keys come first: the table is applied in order, so log.dir is overridden by
// log.dirs, log.roll.hours by log.roll.ms, log.retention.hours by .minutes by .ms (as Kafka).
const key_spec specs[] = {
    {{"node.id", "0",
      "Id of this node, as clients see it in metadata and the controller quorum names it (0 or "
      "more)."},
     [](broker_config& c, std::string_view v) -> reason {
         int32_t id = 0;
         auto r = values::to_int(v, 0, int32_max, id);
         c.node_id = node_id_t{id};
         return r;
     }},
    {{"process.roles", "broker,controller",
      "What this node is: broker (serves clients), controller (a member of the controller "
      "quorum), or broker,controller."},
     set_roles},
    {{"controller.quorum.voters", "",
      "The controller quorum, id@host:port,... (each controller's CONTROLLER listener). Unset: "
      "a quorum of this node alone, with no controller listener."},
     set_voters},
    {{"cluster.id", "",
      "Sluice: the cluster this node belongs to, the same on every node of a cluster of several "
      "(scripts/cluster.sh makes one). Recorded in a fresh log.dirs, checked after. Unset: a "
      "fresh single node makes one up."},
     [](broker_config& c, std::string_view v) -> reason {
         if (v.empty() || v.size() > 64 ||
             v.find_first_not_of(
                 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
                 std::string_view::npos) {
             return std::string("must be 1 to 64 characters of [A-Za-z0-9_-]");
         }
         c.cluster_id = std::string(v);
         return std::nullopt;
     }},
    {{"controller.listener.names", "CONTROLLER",
      "Name of the listener the controllers talk on (one name)."},
     [](broker_config& c, std::string_view v) -> reason {
         std::string name;
         for (char ch : v) {
             name.push_back(char(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch));
         }
         if (name.empty() || name == "PLAINTEXT" ||
             name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != std::string::npos) {
             return std::string(
                 "must be one listener name other than PLAINTEXT, such as CONTROLLER");
         }
         c.controller_listener_name = name;
         return std::nullopt;
     }},
    {{"listeners", "PLAINTEXT://127.0.0.1:9192",
      "PLAINTEXT://host:port for clients, and on a controller in a quorum of several its "
      "CONTROLLER://host:port, comma-separated; empty host: every interface; port 0: any free "
      "port."},
     set_listeners},
    {{"broker.heartbeat.interval.ms", "2000",
      "How often a broker heartbeats to the active controller (10 or more)."},
     [](broker_config& c, std::string_view v) {
         return values::to_long(v, 10, int32_max, c.broker_heartbeat_interval_ms);
     }},
    {{"broker.session.timeout.ms", "9000",
      "A broker that has not heartbeat for this long is fenced: it leads nothing until it is "
      "back (more than broker.heartbeat.interval.ms)."},
     [](broker_config& c, std::string_view v) {
         return values::to_long(v, 20, int32_max, c.broker_session_timeout_ms);
     }},
    {{"controller.quorum.election.timeout.ms", "1000",
      "A controller that hears from no leader for this long (to twice this) starts an election "
      "(100 or more)."},
     [](broker_config& c, std::string_view v) {
         return values::to_long(v, 100, int32_max, c.quorum_election_timeout_ms);
     }},
    {{"controller.quorum.fetch.timeout.ms", "2000",
      "Kafka's follower fetch timeout; accepted (100 or more) but not used: the quorum's leader "
      "steps down, and followers elect, after controller.quorum.election.timeout.ms."},
     [](broker_config& c, std::string_view v) {
         return values::to_long(v, 100, int32_max, c.quorum_fetch_timeout_ms);
     }},
    {{"metadata.log.max.record.bytes.between.snapshots", "20971520",
      "Snapshot the metadata image after this many bytes of metadata log (1024 or more)."},
     [](broker_config& c, std::string_view v) {
         return values::to_long(v, 1024, long_max, c.metadata_snapshot_bytes);
     }},
    {{"advertised.listeners", "",
      "Address given to clients in metadata, PLAINTEXT://host:port (port 0: the bound port). "
      "Unset: the listener's host (this machine's name if it binds every interface) and the "
      "bound port."},
     set_advertised},
    {{"log.dir", "/tmp/sluice-logs", "Data directory, used when log.dirs is not set."},
     set_log_dirs},
    {{"log.dirs", "/tmp/sluice-logs",
      "Data directory (one; several comma-separated directories are refused)."},
     set_log_dirs},
    {{"num.partitions", "1", "Partitions of a topic created without a count (1 to 10000)."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 1, partitions_per_topic_max, c.num_partitions);
     }},
    {{"default.replication.factor", "1",
      "Replication factor of a topic created without one (at most the number of brokers)."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 1, INT16_MAX, c.default_replication_factor);
     }},
    {{"log.segment.bytes", "1073741824",
      "Roll to a new segment before one grows past this many bytes (4096 to 2147483647)."},
     [](broker_config& c, std::string_view v) -> reason {
         int64_t b = 0;
         auto r = values::to_long(v, int64_t(storage::segment_bytes_min),
                                  int64_t(storage::segment_bytes_max), b);
         c.log.segment_bytes = uint64_t(b);
         return r;
     }},
    {{"log.roll.hours", "168", "Roll a segment that is this many hours old (log.roll.ms wins)."},
     [](broker_config& c, std::string_view v) {
         return values::to_scaled_ms(v, 1, long_max / ms_per_hour, ms_per_hour, c.log.segment_ms);
     }},
    {{"log.roll.ms", "", "Roll a segment that is this many milliseconds old (1 or more)."},
     [](broker_config& c, std::string_view v) {
         return values::to_long(v, 1, long_max, c.log.segment_ms);
     }},
    {{"log.retention.hours", "168",
      "Delete segments whose newest record is older than this many hours; -1: keep forever."},
     [](broker_config& c, std::string_view v) {
         return values::to_scaled_ms(v, -1, long_max / ms_per_hour, ms_per_hour,
                                     c.log.retention_ms);
     }},
    {{"log.retention.minutes", "",
      "As log.retention.hours, in minutes (wins over log.retention.hours)."},
     [](broker_config& c, std::string_view v) {
         return values::to_scaled_ms(v, -1, long_max / ms_per_minute, ms_per_minute,
                                     c.log.retention_ms);
     }},
    {{"log.retention.ms", "",
      "As log.retention.hours, in milliseconds (wins over .minutes and .hours); -1: forever."},
     [](broker_config& c, std::string_view v) {
         return values::to_long(v, -1, long_max, c.log.retention_ms);
     }},
    {{"log.retention.bytes", "-1",
      "Delete the oldest segments while a partition is larger than this; -1: no limit."},
     [](broker_config& c, std::string_view v) {
         return values::to_long(v, -1, long_max, c.log.retention_bytes);
     }},
    {{"log.retention.check.interval.ms", "300000",
      "How often retention runs over every partition (milliseconds, 1 or more)."},
     [](broker_config& c, std::string_view v) {
         return values::to_long(v, 1, long_max, c.log_retention_check_interval_ms);
     }},
    {{"log.cleanup.policy", "delete",
      "Every topic's default cleanup.policy: delete (retention), compact (keep the latest record "
      "of each key), or compact,delete."},
     [](broker_config& c, std::string_view v) {
         return values::to_cleanup_policy(v, c.log_cleanup_compact, c.log_cleanup_delete);
     }},
    {{"log.cleaner.enable", "true",
      "Run the cleaner thread that compacts topics with cleanup.policy=compact."},
     [](broker_config& c, std::string_view v) { return values::to_bool(v, c.log_cleaner_enable); }},
    {{"log.cleaner.dedupe.buffer.size", "134217728",
      "The cleaner's offset map at most (bytes: 24 per slot, a power of two of slots at most 3/4 "
      "used, so 128 MiB holds 3.1M keys; grown as a pass needs it); a pass over more keys covers "
      "what fits and the next pass the rest."},
     [](broker_config& c, std::string_view v) {
         return values::to_long(v, 1024, long_max, c.log_cleaner_dedupe_buffer_size);
     }},
    {{"log.cleaner.io.max.bytes.per.second", "0",
      "The cleaner's reads and writes at most (bytes per second); 0: no limit."},
     [](broker_config& c, std::string_view v) {
         return values::to_double(v, 0, std::numeric_limits<double>::max(),
                                  c.log_cleaner_io_max_bytes_per_second);
     }},
    {{"log.cleaner.backoff.ms", "15000",
      "How long the cleaner waits before looking again when no log needs cleaning."},
     [](broker_config& c, std::string_view v) {
         return values::to_long(v, 1, long_max, c.log_cleaner_backoff_ms);
     }},
    {{"log.cleaner.delete.retention.ms", "86400000",
      "Every topic's default delete.retention.ms: how long compaction keeps a tombstone."},
     [](broker_config& c, std::string_view v) {
         return values::to_long(v, 0, long_max, c.log_cleaner_delete_retention_ms);
     }},
    {{"log.cleaner.min.cleanable.ratio", "0.5",
      "Every topic's default min.cleanable.dirty.ratio: the dirty share that starts a pass."},
     [](broker_config& c, std::string_view v) {
         return values::to_double(v, 0, 1, c.log_cleaner_min_cleanable_ratio);
     }},
    {{"offsets.topic.num.partitions", "50",
      "The partitions of __consumer_offsets, fixed when it is created (on the first "
      "FindCoordinator); a group lives on one of them."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 1, 100000, c.offsets_topic_num_partitions);
     }},
    {{"offsets.topic.replication.factor", "3",
      "The replication factor of __consumer_offsets; at most the brokers that are up when it is "
      "created (a warning says so)."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 1, 32767, c.offsets_topic_replication_factor);
     }},
    {{"offsets.topic.segment.bytes", "104857600",
      "The segment.bytes of __consumer_offsets (compaction cleans sealed segments only)."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 4096, 2147483647, c.offsets_topic_segment_bytes);
     }},
    {{"offsets.retention.minutes", "10080",
      "How long a group's committed offsets are kept once it has no members (a group that never "
      "had members: each offset from its commit); then they and the group are removed."},
     [](broker_config& c, std::string_view v) {
         return values::to_long(v, 1, long_max / 60000, c.offsets_retention_minutes);
     }},
    {{"offsets.retention.check.interval.ms", "600000",
      "How often the coordinator looks for offsets past offsets.retention.minutes."},
     [](broker_config& c, std::string_view v) {
         return values::to_long(v, 1, long_max, c.offsets_retention_check_interval_ms);
     }},
    {{"offsets.commit.timeout.ms", "5000",
      "How long a commit (or a group's record) may wait for its write to reach every in-sync "
      "replica of __consumer_offsets."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 1, 2147483647, c.offsets_commit_timeout_ms);
     }},
    {{"group.min.session.timeout.ms", "6000",
      "The shortest session.timeout.ms a member may ask for."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 1, 2147483647, c.group_min_session_timeout_ms);
     }},
    {{"group.max.session.timeout.ms", "1800000",
      "The longest session.timeout.ms a member may ask for."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 1, 2147483647, c.group_max_session_timeout_ms);
     }},
    {{"group.initial.rebalance.delay.ms", "3000",
      "How long an empty group's first rebalance waits for more members (each newcomer waits this "
      "again, up to the rebalance timeout)."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 0, 2147483647, c.group_initial_rebalance_delay_ms);
     }},
    {{"group.max.size", "2147483647", "The most members one group may have."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 1, 2147483647, c.group_max_size);
     }},
    {{"producer.id.expiration.ms", "86400000",
      "A producer that wrote nothing to a partition for this long is forgotten there (checked at "
      "each retention pass); its next batch is accepted at any sequence."},
     [](broker_config& c, std::string_view v) {
         return values::to_long(v, 1, long_max, c.producer_id_expiration_ms);
     }},
    {{"log.index.interval.bytes", "4096",
      "Bytes of log between two entries of the sparse offset and time indexes."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 0, int32_max, c.log.index_interval_bytes);
     }},
    {{"log.preallocate", "true",
      "Reserve each active segment's disk blocks 4 MiB ahead of its writes (the file system "
      "then does less work per write); freed past the end when the segment is sealed."},
     [](broker_config& c, std::string_view v) { return values::to_bool(v, c.log.preallocate); }},
    {{"log.flush.interval.messages", "9223372036854775807",
      "1: fsync (group commit) before acknowledging a write; 9223372036854775807: acknowledge "
      "from the page cache. No other value is supported."},
     [](broker_config& c, std::string_view v) {
         bool fsync = false;
         auto r = values::to_flush_messages(v, fsync);
         c.log.flush = fsync ? storage::flush_mode::fsync : storage::flush_mode::page_cache;
         return r;
     }},
    {{"log.flush.interval.ms", "",
      "Flush page-cache logs to disk this often (milliseconds); unset: never (the OS decides)."},
     [](broker_config& c, std::string_view v) -> reason {
         int64_t ms = 0;
         if (auto r = values::to_long(v, 1, long_max, ms)) {
             return r;
         }
         c.log_flush_interval_ms = ms == long_max ? std::nullopt : std::optional<int64_t>(ms);
         return std::nullopt;
     }},
    {{"auto.create.topics.enable", "true",
      "Create a topic that a metadata request names and that does not exist, if the request "
      "allows it."},
     [](broker_config& c, std::string_view v) {
         return values::to_bool(v, c.auto_create_topics_enable);
     }},
    {{"message.max.bytes", "1048588",
      "Largest record batch a producer may send (bytes); larger ones get MESSAGE_TOO_LARGE."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 0, int64_t(batch_format::batch_size_max), c.message_max_bytes);
     }},
    {{"min.insync.replicas", "1",
      "Default of every topic: the smallest ISR that an acks=all produce accepts; with fewer "
      "in-sync replicas it gets NOT_ENOUGH_REPLICAS and nothing is appended."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 1, INT16_MAX, c.min_insync_replicas);
     }},
    {{"unclean.leader.election.enable", "false",
      "Default of every topic: when no ISR member is left, elect another replica anyway. It "
      "loses what only the ISR held; false keeps the partition offline instead."},
     [](broker_config& c, std::string_view v) {
         return values::to_bool(v, c.unclean_leader_election_enable);
     }},
    {{"auto.leader.rebalance.enable", "true",
      "The active controller moves leadership back to each partition's preferred replica (the "
      "first) when a broker leads too few of the partitions it prefers. Read on the "
      "controllers."},
     [](broker_config& c, std::string_view v) {
         return values::to_bool(v, c.auto_leader_rebalance_enable);
     }},
    {{"leader.imbalance.check.interval.seconds", "300",
      "How often the active controller looks for leadership to move back (seconds)."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 1, INT32_MAX, c.leader_imbalance_check_interval_seconds);
     }},
    {{"leader.imbalance.per.broker.percentage", "10",
      "A broker's partitions led by another broker, in percent of those it prefers, above which "
      "the rebalance moves them back."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 0, 100, c.leader_imbalance_per_broker_percentage);
     }},
    {{"replica.lag.time.max.ms", "30000",
      "A follower that has not caught up with its leader for this long leaves the ISR."},
     [](broker_config& c, std::string_view v) {
         return values::to_long(v, 1, long_max, c.replica_lag_time_max_ms);
     }},
    {{"replica.fetch.max.bytes", "1048576",
      "A follower's fetch asks for at most this many bytes per partition (a larger first batch "
      "still comes whole)."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 1024, INT32_MAX, c.replica_fetch_max_bytes);
     }},
    {{"replica.fetch.response.max.bytes", "10485760",
      "A follower's fetch asks for at most this many bytes in all."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 1024, INT32_MAX, c.replica_fetch_response_max_bytes);
     }},
    {{"replica.fetch.wait.max.ms", "500",
      "How long a follower's fetch waits at the leader for new records."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 0, 30000, c.replica_fetch_wait_max_ms);
     }},
    {{"replica.fetch.min.bytes", "1",
      "A follower's fetch is answered once this many bytes are there (or the wait is over)."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 1, INT32_MAX, c.replica_fetch_min_bytes);
     }},
    {{"replica.fetch.backoff.ms", "1000",
      "A follower whose fetch failed tries again after this long."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 0, INT32_MAX, c.replica_fetch_backoff_ms);
     }},
    {{"replica.socket.timeout.ms", "30000",
      "A follower's fetch unanswered this long after its wait closes the connection, which is made "
      "again."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 100, INT32_MAX, c.replica_socket_timeout_ms);
     }},
    {{"socket.request.max.bytes", "104857600",
      "Largest frame the broker reads; a larger one closes the connection (1024 or more)."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 1024, int32_max, c.socket_request_max_bytes);
     }},
    {{"fetch.max.bytes", "57671680",
      "Most record bytes one fetch response carries, whatever the request asks (1024 or "
      "more)."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 1024, int32_max, c.fetch_max_bytes);
     }},
    {{"max.connections", "1000",
      "Most client connections at once; more are closed at accept with a log line."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 1, int32_max, c.max_connections);
     }},
    {{"max.partitions", "10000",
      "Sluice: most partitions this broker holds; creating more is refused with "
      "INVALID_PARTITIONS. Each holds two open files (its active segment and its directory)."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 1, int32_max, c.max_partitions);
     }},
    {{"log.open.files.max", "1000",
      "Sluice: sealed segment files kept open at once across all partitions; others are "
      "opened when read and the least recently used closed first."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 1, int32_max, c.log_open_files_max);
     }},
    {{"connections.max.idle.ms", "600000",
      "Close a connection with no request for this long (milliseconds); -1: never."},
     [](broker_config& c, std::string_view v) -> reason {
         if (v == "0") {
             return std::string("must be -1 (never) or at least 1");
         }
         return values::to_long(v, -1, long_max, c.connections_max_idle_ms);
     }},
    {{"queued.max.requests.per.connection", "100",
      "Sluice: requests read ahead of the one being handled, per connection; then the broker "
      "stops reading that socket."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 1, queued_requests_max, c.queued_max_requests_per_connection);
     }},
    {{"queued.max.request.bytes.per.connection", "104857600",
      "Sluice: bytes of requests read ahead per connection (one request is always let in)."},
     [](broker_config& c, std::string_view v) {
         return values::to_long(v, 1, long_max, c.queued_max_request_bytes_per_connection);
     }},
    {{"queued.max.request.bytes", "268435456",
      "Bytes of requests and of their responses held at once across the whole broker; when "
      "reached, connections stop reading until responses are written (at least "
      "socket.request.max.bytes)."},
     [](broker_config& c, std::string_view v) {
         return values::to_long(v, 1024, long_max, c.queued_max_request_bytes);
     }},
    {{"num.io.threads", "number of CPU cores",
      "Threads that run the network and every partition's work (1 to 256)."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 1, io_threads_max, c.num_io_threads);
     }},
    {{"background.threads", "4",
      "Threads that may block on the disk, off the network threads: they send fetched records "
      "from segment files and create topics (1 to 256). Each keeps a 1 MiB buffer once it has "
      "read and sent records (fetch.sendfile), outside queued.max.request.bytes."},
     [](broker_config& c, std::string_view v) {
         return values::to_int(v, 1, io_threads_max, c.background_threads);
     }},
    {{"fetch.sendfile", "auto",
      "Sluice: how fetched records go from segment files to sockets: true (sendfile, no copy in "
      "the broker), false (read and sent from a buffer), auto (sendfile, but read and sent to "
      "a peer with a loopback address, where that is faster)."},
     [](broker_config& c, std::string_view v) -> reason {
         if (values::lower(v) == "auto") {
             c.fetch_sendfile.reset();
             return std::nullopt;
         }
         bool on = true;
         if (values::to_bool(v, on)) {
             return std::string("must be true, false or auto");
         }
         c.fetch_sendfile = on;
         return std::nullopt;
     }},
    {{"log.level", "info", "Sluice: least severe log lines printed: error, warn, info or debug."},
     set_log_level},
};

const std::vector<key_info>& key_infos() {
    static const std::vector<key_info> infos = [] {
        std::vector<key_info> out;
        for (const auto& s : specs) {
            out.push_back(s.info);
        }
        return out;
    }();
    return infos;
}

}  // namespace

std::string config_error::to_string() const {
    if (key.empty()) {
        return reason;
    }
    return fmt::format("{}={}: {}", key, value, reason);
}

int32_t broker_config::default_io_threads() {
    unsigned n = std::thread::hardware_concurrency();
    return int32_t(std::clamp<unsigned>(n, 1, io_threads_max));
}

std::string listener::to_string() const {
    bool v6 = host.find(':') != std::string::npos;
    return fmt::format("{}://{}{}{}:{}", name, v6 ? "[" : "", host, v6 ? "]" : "", port);
}

config_result<listener> parse_listener(std::string_view text,
                                       std::span<const std::string_view> names) {
    auto bad = [&](std::string why) { return config_error{"", std::string(text), std::move(why)}; };
    if (text.find(',') != std::string_view::npos) {
        return bad("only one listener is supported");
    }
    static constexpr std::string_view plaintext_only[] = {"PLAINTEXT"};
    if (names.empty()) {
        names = plaintext_only;
    }
    size_t sep = text.find("://");
    if (sep == std::string_view::npos) {
        return bad("expected PLAINTEXT://host:port");
    }
    std::string name;
    for (char ch : text.substr(0, sep)) {
        name.push_back(char(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch));
    }
    if (std::find(names.begin(), names.end(), name) == names.end()) {
        return bad(names.size() == 1
                       ? fmt::format("listener '{}' is not supported; only PLAINTEXT is", name)
                       : fmt::format("listener '{}' is not supported; only PLAINTEXT and {} are",
                                     name, names[1]));
    }
    std::string_view rest = text.substr(sep + 3);
    std::string_view host;
    std::string_view port_text;
    if (!rest.empty() && rest.front() == '[') {
        size_t close = rest.find(']');
        if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
            return bad("expected PLAINTEXT://[ipv6]:port");
        }
        host = rest.substr(1, close - 1);
        port_text = rest.substr(close + 2);
    } else {
        size_t colon = rest.rfind(':');
        if (colon == std::string_view::npos) {
            return bad("expected PLAINTEXT://host:port");
        }
        host = rest.substr(0, colon);
        port_text = rest.substr(colon + 1);
        bool host_ok = std::all_of(host.begin(), host.end(), [](char ch) {
            return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                   (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_';
        });
        if (!host_ok) {
            return bad(fmt::format("'{}' is not a host name or address", host));
        }
    }
    auto port = values::parse_long(port_text);
    if (!port || *port < 0 || *port > 65535) {
        return bad(fmt::format("port '{}' is not a number from 0 to 65535", port_text));
    }
    return listener{name, std::string(host), uint16_t(*port)};
}

config_result<std::vector<quorum_voter>> parse_quorum_voters(std::string_view text) {
    std::vector<quorum_voter> out;
    if (values::trim(text).empty()) {
        return out;
    }
    for (auto part : values::split(text, ',')) {
        auto bad = [&](std::string why) {
            return config_error{"", std::string(part), std::move(why)};
        };
        const size_t at = part.find('@');
        auto id = values::parse_long(part.substr(0, at));
        if (at == std::string_view::npos || !id || *id < 0 || *id > int32_max) {
            return bad("expected id@host:port with a node id of 0 or more");
        }
        // The host and port parse as a listener does.
        auto l = parse_listener(fmt::format("PLAINTEXT://{}", part.substr(at + 1)));
        if (!l || l.value().host.empty() || l.value().port == 0) {
            return bad(
                fmt::format("expected id@host:port: {}",
                            l ? std::string("a host and a port other than 0") : l.error().reason));
        }
        for (const auto& v : out) {
            if (v.id.value() == *id) {
                return bad(fmt::format("node {} is named twice", *id));
            }
        }
        out.push_back({node_id_t{int32_t(*id)}, l.value().host, l.value().port});
    }
    return out;
}

std::span<const key_info> config_keys() {
    return key_infos();
}

std::string help_text() {
    std::string out =
        "Usage: sluice-broker [--config FILE] [--override key=value ...] [--help] [--version]\n"
        "\n"
        "Runs one Sluice broker. Settings come from FILE (a properties file: key=value lines,\n"
        "# and ! comments), then from each --override, which wins. With no settings at all the\n"
        "broker keeps its data in /tmp/sluice-logs and listens on 127.0.0.1:9192.\n"
        "\n"
        "  --config FILE            read settings from FILE\n"
        "  --override key=value     set one key (repeatable)\n"
        "  --help                   print this text\n"
        "  --version                print the version\n"
        "\n"
        "       sluice-broker format [--config FILE] [--override key=value ...]\n"
        "                    [--initial-controllers id@host:port:directory-id,...]\n"
        "                    [--new-directory] [--ignore-formatted]\n"
        "       sluice-broker random-uuid\n"
        "\n"
        "format prepares log.dirs of a node of a cluster of several (controller.quorum.voters)\n"
        "once, before its first start. A controller needs --initial-controllers: every voter of\n"
        "controller.quorum.voters with a directory id, each made by random-uuid. A controller\n"
        "that lost its metadata directory is formatted again with the same list and\n"
        "--new-directory (never under its old directory id): it then follows the metadata log\n"
        "and never votes as the voter it was.\n"
        "\n"
        "Keys (Kafka's names; 'Sluice' marks keys Kafka does not have):\n";
    for (const auto& k : config_keys()) {
        out += fmt::format("  {} (default: {})\n      {}\n", k.name,
                           k.default_text.empty() ? "unset" : k.default_text, k.description);
    }
    out +=
        "\n"
        "Topic configs accepted by CreateTopics: segment.bytes, segment.ms, retention.ms,\n"
        "retention.bytes, index.interval.bytes, flush.messages, max.message.bytes.\n"
        "\n"
        "Exit codes: 0 after a clean stop (SIGTERM or SIGINT), 1 for a configuration error,\n"
        "2 when the broker cannot start (port in use, data directory unusable or locked).\n";
    return out;
}

config_result<properties> parse_properties(std::string_view text, std::string_view source) {
    properties out;
    size_t line_no = 0;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++line_no;
        line = values::trim(line);
        if (line.empty() || line.front() == '#' || line.front() == '!') {
            continue;
        }
        size_t eq = line.find('=');
        if (eq == std::string_view::npos) {
            return config_error{"", "", fmt::format("{}:{}: expected key=value", source, line_no)};
        }
        auto key = values::trim(line.substr(0, eq));
        if (key.empty()) {
            return config_error{"", "", fmt::format("{}:{}: empty key", source, line_no)};
        }
        out[std::string(key)] = std::string(values::trim(line.substr(eq + 1)));
    }
    return out;
}

config_result<properties> read_properties_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return config_error{"", "", fmt::format("cannot read {}", path.string())};
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        return config_error{"", "", fmt::format("cannot read {}", path.string())};
    }
    return parse_properties(text.str(), path.string());
}

namespace {

// The rules that tie process.roles, node.id, controller.quorum.voters and listeners together.
std::optional<config_error> check_roles(const broker_config& c, const properties& props) {
    // The value given, or the key's default.
    auto value_of = [&](std::string_view key) {
        if (auto it = props.find(key); it != props.end()) {
            return it->second;
        }
        for (const auto& spec : specs) {
            if (spec.info.name == key) {
                return std::string(spec.info.default_text);
            }
        }
        return std::string();
    };
    auto error = [&](std::string_view key, std::string why) {
        return config_error{std::string(key), value_of(key), std::move(why)};
    };
    const bool voter = std::any_of(c.quorum_voters.begin(), c.quorum_voters.end(),
                                   [&](const quorum_voter& v) { return v.id == c.node_id; });
    if (c.quorum_voters.empty()) {
        if (!c.broker_role) {
            return error(
                "process.roles",
                "a controller-only node belongs to a quorum of several: set "
                "controller.quorum.voters=id@host:port,... (a node alone is a broker too)");
        }
        if (!c.controller_role) {
            return error("process.roles",
                         "a broker that is not a controller needs the controllers to join: set "
                         "controller.quorum.voters=id@host:port,...");
        }
    } else if (c.controller_role && !voter) {
        return error("controller.quorum.voters",
                     fmt::format("this node (node.id={}) is a controller but not one of the "
                                 "voters; add it, or set process.roles=broker",
                                 c.node_id));
    } else if (!c.controller_role && voter) {
        return error("controller.quorum.voters",
                     fmt::format("node.id={} is a voter, so process.roles must include controller",
                                 c.node_id));
    } else if (c.cluster_id.empty()) {
        return error("cluster.id",
                     "a cluster of several controllers needs cluster.id, the same on "
                     "every node (scripts/cluster.sh makes one up)");
    } else if (c.controller_role && !c.controller_listen) {
        return error("listeners",
                     fmt::format("a controller in a quorum of several needs a {} "
                                 "listener, such as {}://127.0.0.1:9193",
                                 c.controller_listener_name, c.controller_listener_name));
    }
    if (c.broker_role && c.listen.name.empty()) {
        return error("listeners", "a broker needs a PLAINTEXT listener for its clients");
    }
    if (c.broker_session_timeout_ms <= c.broker_heartbeat_interval_ms) {
        return error("broker.session.timeout.ms",
                     fmt::format("must be more than broker.heartbeat.interval.ms ({})",
                                 c.broker_heartbeat_interval_ms));
    }
    return std::nullopt;
}

}  // namespace

config_result<broker_config> make_config(const properties& props) {
    for (const auto& [key, value] : props) {
        bool known = std::any_of(std::begin(specs), std::end(specs),
                                 [&](const key_spec& s) { return s.info.name == key; });
        if (!known) {
            return config_error{key, value, "unknown key (sluice-broker --help lists every key)"};
        }
    }
    broker_config c;
    for (const auto& s : specs) {
        auto it = props.find(s.info.name);
        if (it == props.end()) {
            continue;
        }
        if (auto why = s.apply(c, it->second)) {
            return config_error{it->first, it->second, *why};
        }
    }
    if (auto e = check_roles(c, props)) {
        return *e;
    }
    if (c.queued_max_request_bytes < c.socket_request_max_bytes) {
        // A frame as large as socket.request.max.bytes could never be admitted.
        auto it = props.find("queued.max.request.bytes");
        return config_error{
            "queued.max.request.bytes",
            it != props.end() ? it->second : std::to_string(c.queued_max_request_bytes),
            fmt::format("must be at least socket.request.max.bytes ({})",
                        c.socket_request_max_bytes)};
    }
    if (c.group_min_session_timeout_ms > c.group_max_session_timeout_ms) {
        auto it = props.find("group.min.session.timeout.ms");
        return config_error{
            "group.min.session.timeout.ms",
            it != props.end() ? it->second : std::to_string(c.group_min_session_timeout_ms),
            fmt::format("must be at most group.max.session.timeout.ms ({})",
                        c.group_max_session_timeout_ms)};
    }
    return c;
}

}  // namespace sluice::broker
