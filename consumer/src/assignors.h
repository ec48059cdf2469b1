// The partition assignors a group's leader runs (docs/groups.md, "Assignors"), Kafka's three:
//   range               per topic, each member subscribed to it takes a contiguous run of its
//                       partitions (the first ones one more when they do not divide evenly)
//   roundrobin          every subscribed partition in turn to the next member subscribed to its
//                       topic
//   cooperative-sticky  balanced, keeping each member's partitions where it can; a partition
//                       that moves is left out of this round (its owner gives it up and rejoins,
//                       and the next round hands it on), so no partition ever has two owners
//                       (KIP-429)
// Members are ordered by group.instance.id where they have one, then member id, so that static
// members get the same partitions back. Pure functions.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/client/internal/group_requests.h"

namespace sluice::detail {

struct assignor_member {
    std::string member_id;
    std::optional<std::string> instance_id;
    client::subscription_meta subscription;
};

// Member id -> its partitions.
using group_assignment = std::map<std::string, client::partition_map>;

// `partitions`: each subscribed topic's partition count (topics missing are not assigned).
group_assignment assign_range(const std::vector<assignor_member>& members,
                              const std::map<std::string, int32_t>& partitions);
group_assignment assign_roundrobin(const std::vector<assignor_member>& members,
                                   const std::map<std::string, int32_t>& partitions);
group_assignment assign_cooperative_sticky(const std::vector<assignor_member>& members,
                                           const std::map<std::string, int32_t>& partitions);

// By name; nothing for a name that is none of the three.
std::optional<group_assignment> assign(std::string_view assignor,
                                       const std::vector<assignor_member>& members,
                                       const std::map<std::string, int32_t>& partitions);

// Whether `name` is an assignor, and whether it rebalances cooperatively.
bool known_assignor(std::string_view name);
bool cooperative(std::string_view name);

}  // namespace sluice::detail
