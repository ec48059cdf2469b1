// The partitions a broker holds, as one immutable value: topic name -> partitions by id. The
// replica manager publishes a new one whenever a topic is added or removed; readers keep the one
// they read for as long as they use its partitions.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/partition.h"
#include "sluice/protocol/types.h"

namespace sluice::broker {

struct partition_image {
    uint64_t version = 0;
    // Index = partition id; null where this broker holds no replica of the partition.
    std::map<std::string, std::vector<std::shared_ptr<partition>>, std::less<>> topics;

    const std::vector<std::shared_ptr<partition>>* find(std::string_view topic) const {
        auto it = topics.find(topic);
        return it == topics.end() ? nullptr : &it->second;
    }
    partition* find(std::string_view topic, partition_id_t p) const {
        const auto* parts = find(topic);
        if (parts == nullptr || p.value() < 0 || size_t(p.value()) >= parts->size()) {
            return nullptr;
        }
        return (*parts)[size_t(p.value())].get();
    }
};

}  // namespace sluice::broker
