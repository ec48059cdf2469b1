// What a listener tells clients about the cluster (Metadata): its brokers and every partition's
// replicas and leader, as the metadata image says. The broker implements it over the image its
// applier last applied; plain values, no wire format. Every call from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/protocol/types.h"

namespace sluice::broker {

struct broker_view {
    node_id_t id{-1};
    std::string host;  // the PLAINTEXT endpoint it registered
    int32_t port = 0;
};

struct partition_view {
    int32_t id = 0;
    node_id_t leader{-1};  // -1: none
    leader_epoch_t leader_epoch{0};
    std::vector<node_id_t> replicas;
    std::vector<node_id_t> isr;
};

// One topic config and where its value comes from (DescribeConfigs).
struct config_view {
    enum class source { topic_override, broker_default };
    std::string name;
    std::string value;
    source from = source::broker_default;
};

class cluster_view {
  public:
    virtual ~cluster_view() = default;
    // The unfenced brokers.
    virtual std::vector<broker_view> brokers() const = 0;
    // The active controller, or -1.
    virtual node_id_t controller() const = 0;
    virtual std::vector<std::string> topic_names() const = 0;
    // A topic's partitions, or nothing if it does not exist.
    virtual std::optional<std::vector<partition_view>> partitions(std::string_view topic) const = 0;
    // Every config of a topic (its overrides, else this broker's defaults), sorted by name, or
    // nothing if it does not exist.
    virtual std::optional<std::vector<config_view>> topic_configs(std::string_view topic) const = 0;
};

}  // namespace sluice::broker
