// The admin client: topics and cluster metadata.
//
// Threading: an admin owns one background I/O thread; every call blocks the caller until its
// answer (or request.timeout.ms) and may be made from any thread, one call at a time per thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/client/config.h"
#include "sluice/client/errc.h"
#include "sluice/protocol/result.h"

namespace sluice {

struct partition_info {
    int32_t partition;
    int32_t leader;
    int32_t leader_epoch;
    std::vector<int32_t> replicas;
    std::vector<int32_t> isr;
    int64_t log_start_offset;
    int64_t log_end_offset;  // end = high watermark
    // Each replica's log end offset as the leader knows it, in `replicas` order (-1: unknown,
    // e.g. one that has not fetched from this leader yet); empty if the leader did not answer.
    std::vector<int64_t> replica_log_end_offsets = {};
};

struct topic_info {
    std::string name;
    std::vector<partition_info> partitions;  // sorted by partition
};

struct broker_info {
    int32_t node_id;
    std::string host;
    int32_t port;
    bool is_controller = false;  // the active controller, as the answering broker knows it
};

// One topic config and its value on the answering broker.
struct config_entry {
    std::string name;
    std::string value;
    bool is_override = false;  // set on the topic; else the broker's default
};

// One replica of the controller quorum, as its leader sees it.
struct quorum_replica_info {
    int32_t node_id = -1;
    int64_t log_end_offset = -1;            // -1: unknown (it has not fetched from this leader)
    int64_t lag = -1;                       // the leader's log end offset minus its; -1: unknown
    int64_t last_fetch_timestamp = -1;      // ms since the epoch; -1: unknown
    int64_t last_caught_up_timestamp = -1;  // its last fetch that reached the leader's end
};

// One partition's answer to a preferred leader election; partition -1 answers for a whole topic
// (one that does not exist).
struct election_info {
    std::string topic;
    int32_t partition = -1;
    std::error_code error;  // none: elected; ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE
    std::string message;
};

// The metadata log's Raft quorum (what kafka-metadata-quorum describe prints).
struct quorum_info {
    int32_t leader_id = -1;
    int64_t leader_epoch = 0;
    int64_t high_watermark = 0;
    std::vector<quorum_replica_info> voters;  // sorted by id; the leader among them
    std::vector<quorum_replica_info> observers;
};

// A consumer group as `sluice group list` shows it.
struct group_listing {
    std::string group_id;
    std::string protocol_type;  // "consumer" for consumer groups; empty for offsets-only groups
    std::string state;          // Empty, PreparingRebalance, CompletingRebalance, Stable, Dead
    int32_t coordinator = -1;
};

struct group_member_info {
    std::string member_id;
    std::optional<std::string> instance_id;  // group.instance.id of a static member
    std::string client_id;
    std::string host;
    std::map<std::string, std::vector<int32_t>> assignment;  // topic -> partitions
};

struct group_description {
    std::string group_id;
    std::string state;
    std::string protocol_type;
    std::string protocol;  // the assignor the group chose
    int32_t generation = -1;
    int32_t coordinator = -1;
    std::vector<group_member_info> members;  // sorted by member id
};

struct group_offset {
    std::string topic;
    int32_t partition = 0;
    int64_t offset = -1;
    std::string metadata;
};

namespace detail {
class admin_impl;
}

class admin {
  public:
    // Checks the config (client_errc::invalid_config) and starts the I/O thread; connects lazily.
    static result<std::unique_ptr<admin>> create(client_config config);
    ~admin();
    admin(const admin&) = delete;
    admin& operator=(const admin&) = delete;

    // partitions / replication_factor -1: the broker's defaults. Broker errors come back as
    // sluice::errc (TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS, INVALID_CONFIG, ...); if
    // `broker_message` is given, it receives the broker's words on what was wrong
    // ("replication factor 3 is larger than the 1 available broker"), or stays empty.
    result<void> create_topic(const std::string& name, int32_t partitions = -1,
                              int16_t replication_factor = -1,
                              const std::map<std::string, std::string>& configs = {},
                              std::string* broker_message = nullptr);
    result<void> delete_topic(const std::string& name, std::string* broker_message = nullptr);
    result<std::vector<std::string>> list_topics();  // sorted
    // errc::unknown_topic_or_partition if there is no such topic.
    result<topic_info> describe_topic(const std::string& name);
    // How many partitions topic `name` has, from metadata alone (no leader need answer).
    result<int32_t> partition_count(const std::string& name);
    result<std::vector<broker_info>> describe_cluster();  // sorted by node id

    // Grows topic `name` to `total` partitions (INVALID_PARTITIONS if that is not more than it
    // has) and waits until the new ones have leaders.
    result<void> add_partitions(const std::string& name, int32_t total,
                                std::string* broker_message = nullptr);
    // Sets (a value) or removes (no value: the broker's default applies again) config
    // overrides of topic `name`, all of them or none (INVALID_CONFIG, naming the bad one).
    result<void> alter_topic_configs(
        const std::string& name, const std::map<std::string, std::optional<std::string>>& changes,
        std::string* broker_message = nullptr);
    // Every config of topic `name`, sorted by name.
    result<std::vector<config_entry>> describe_topic_configs(const std::string& name);
    // The controller quorum, from its leader (through any broker).
    result<quorum_info> describe_quorum();
    // Preferred leader elections (kafka-leader-election --election-type PREFERRED): leadership
    // of every partition of `topics` (all topics if empty) goes back to its first replica where
    // that one is unfenced and in the ISR. One answer per partition, sorted; an error here is the
    // request's (NOT_CONTROLLER after retries, a broker unreachable).
    result<std::vector<election_info>> elect_leaders(const std::vector<std::string>& topics);

    // ---- Consumer groups (kafka-consumer-groups) ----
    // Every group of every broker's coordinator, sorted by id.
    result<std::vector<group_listing>> list_groups();
    // A group that does not exist is described as Dead with no members.
    result<group_description> describe_group(const std::string& group);
    // Only a group without members (NON_EMPTY_GROUP otherwise); GROUP_ID_NOT_FOUND if none.
    result<void> delete_group(const std::string& group, std::string* broker_message = nullptr);
    // Every committed offset of the group, sorted.
    result<std::vector<group_offset>> group_offsets(const std::string& group);
    // Commits these offsets for the group from outside it: only while it has no members
    // (UNKNOWN_MEMBER_ID otherwise, with the broker's words in `broker_message`).
    result<void> alter_group_offsets(const std::string& group,
                                     const std::vector<group_offset>& offsets,
                                     std::string* broker_message = nullptr);
    // Per partition of `topic`, the first offset whose record's timestamp is at or after
    // `timestamp_ms` (-1 where there is none).
    result<std::map<int32_t, int64_t>> offsets_for_time(const std::string& topic,
                                                        int64_t timestamp_ms);

  private:
    explicit admin(std::unique_ptr<detail::admin_impl> impl);
    std::unique_ptr<detail::admin_impl> impl_;
};

}  // namespace sluice
