// What the active controller decides, as pure functions of the metadata image: the records that
// create or delete topics, place their replicas, register, fence and unfence brokers, and move
// leadership. The shell proposes the records; apply_batch makes them true on every node.
// docs/controller.md describes the rules.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sluice/controller/metadata_image.h"
#include "sluice/core/topic_admin.h"

namespace sluice::controller {

// One log entry's records, with what to answer its requester.
struct planned_batch {
    broker::topic_result result;
    std::vector<metadata_record> records;  // empty if refused (result.error set) or validate-only
};

struct topic_defaults {
    int32_t partitions = 1;          // num.partitions
    int16_t replication_factor = 1;  // default.replication.factor
    int32_t partitions_max = 10000;  // per topic
    // Partition replicas one broker may hold (max.partitions).
    int32_t partitions_per_broker_max = 10000;
    // Why a topic's config overrides are invalid, or nothing (the broker's topic config rules).
    std::function<std::optional<std::string>(const config_map&)> config_problem;
    // unclean.leader.election.enable, for topics that do not set it.
    bool unclean_leader_election = false;
};

// Replica lists for `count` new partitions with `rf` replicas each over the unfenced brokers:
// each new leader goes to the broker leading fewest partitions, each follower to one holding
// fewest replicas (ties: the lowest id), so leaders and replicas spread evenly. Nothing if fewer
// than `rf` brokers are unfenced.
std::optional<std::vector<std::vector<node_id_t>>> place_partitions(const metadata_image& image,
                                                                    int32_t count, int16_t rf);

// One batch per request, in order; each sees the ones before it as done.
std::vector<planned_batch> plan_create_topics(
    const metadata_image& image, std::span<const broker::create_topic_request> requests,
    const topic_defaults& defaults, bool validate_only, const std::function<uuid()>& new_id);

std::vector<planned_batch> plan_delete_topics(const metadata_image& image,
                                              std::span<const std::string> names);

// Grows a topic to `total` partitions.
planned_batch plan_add_partitions(const metadata_image& image, std::string_view topic,
                                  int32_t total, const topic_defaults& defaults,
                                  bool validate_only);

// Sets (value) or removes (no value) config overrides of a topic, checked against `defaults`.
planned_batch plan_alter_configs(const metadata_image& image, std::string_view topic,
                                 const std::map<std::string, std::optional<std::string>>& changes,
                                 const topic_defaults& defaults, bool validate_only);

// A broker (re)registers. The same incarnation again changes nothing (no records); a new
// incarnation replaces the old registration, whose partitions first lose it as leader. After an
// unclean shutdown (`clean_shutdown` false: the process died, and with it perhaps the page cache
// that held what it had acknowledged), it also leaves every ISR in which another member stays,
// so that it cannot lead before it has caught up and been added back (the idea of KIP-966).
std::vector<metadata_record> plan_register(const metadata_image& image, node_id_t id,
                                           const uuid& incarnation, std::vector<endpoint> endpoints,
                                           std::string rack, bool clean_shutdown);

// Fences `id` (session expired, or a controlled shutdown finished) and elects new leaders for the
// partitions it led: the first other ISR member that is unfenced, or none (leader -1).
std::vector<metadata_record> plan_fence(const metadata_image& image, node_id_t id);

// Unfences `id` and makes it leader of the partitions that have none and hold it in their ISR.
std::vector<metadata_record> plan_unfence(const metadata_image& image, node_id_t id);

// Moves leadership away from `id` where another ISR member can take it (controlled shutdown);
// partitions with no other candidate keep it until it is fenced.
std::vector<metadata_record> plan_move_leaders_away(const metadata_image& image, node_id_t id);

// Unclean leader elections: each partition with no leader and no unfenced ISR member whose topic
// allows it (unclean.leader.election.enable, else `defaults`) gets its first unfenced replica as
// leader and sole ISR member. What the old ISR held beyond that replica's log is lost: the old
// members truncate to the new leader's log when they return.
std::vector<metadata_record> plan_unclean_elections(const metadata_image& image,
                                                    const topic_defaults& defaults);

using broker::election_result;

struct election_plan {
    std::vector<election_result> results;  // sorted by topic and partition
    std::vector<metadata_record> records;  // one PartitionChange per partition that moves
};

// Preferred leader elections (Kafka's ElectLeaders, type PREFERRED) for every partition of
// `topics` (all topics if empty): each whose preferred replica (the first) is unfenced, in the ISR
// and not leading gets it as leader. Answers per partition: none (elected), ELECTION_NOT_NEEDED
// (it leads already), PREFERRED_LEADER_NOT_AVAILABLE (fenced or out of the ISR), and
// UNKNOWN_TOPIC_OR_PARTITION for a topic that does not exist.
election_plan plan_preferred_elections(const metadata_image& image,
                                       const std::vector<std::string>& topics);

// Automatic leader rebalance (auto.leader.rebalance.enable): the preferred elections of each
// broker whose share of the partitions it prefers but does not lead is above `imbalance`
// (leader.imbalance.per.broker.percentage / 100), where the preferred replica can lead.
std::vector<metadata_record> plan_rebalance(const metadata_image& image, double imbalance);

// A partition leader asks to change its ISR (AlterPartition), as of the leader and partition
// epochs it knows.
struct isr_change {
    node_id_t leader{-1};
    uuid topic_id;
    int32_t partition = 0;
    leader_epoch_t leader_epoch{0};
    int32_t partition_epoch = 0;
    std::vector<node_id_t> isr;
};

struct isr_change_plan {
    errc error = errc::none;
    std::string message;
    std::vector<metadata_record> records;  // empty: refused, or the ISR is that already
};

// Checks `c` against the image (Kafka's rules): UNKNOWN_TOPIC_OR_PARTITION; NOT_LEADER_OR_FOLLOWER
// if the asker does not lead it; FENCED_LEADER_EPOCH if its leader epoch is not the current one;
// INVALID_UPDATE_VERSION if its partition epoch is not (another change came first: the leader
// learns it from the image and asks again); INVALID_REQUEST for an ISR that is empty, names a
// replica twice, names a non-replica or leaves the leader out; INELIGIBLE_REPLICA if it adds a
// broker that is fenced (KIP-841). Else one PartitionChange of the ISR, which raises the
// partition epoch.
isr_change_plan plan_isr_change(const metadata_image& image, const isr_change& c);

// A topic found on a broker's disk from before the metadata log (its topic.checkpoint), to be
// adopted: its id, partitions (each with the leader epoch its log is at) and config overrides.
struct imported_topic {
    std::string name;
    uuid id;
    std::vector<leader_epoch_t> epochs;  // one per partition
    config_map configs;
};

// One batch adopting `topics` with every partition on broker `id`, which leads each at its
// epoch; topics whose name or id the image has already are left out (nothing if none is left).
std::vector<metadata_record> plan_import(const metadata_image& image, node_id_t id,
                                         std::span<const imported_topic> topics);

}  // namespace sluice::controller
