// The APIs of the native protocol and the versions this build speaks. Broker and clients share
// this table: the broker answers ApiVersions from it and refuses anything outside it with
// errc::unsupported_version; a client picks the highest version both sides know.
#pragma once

#include <array>
#include <cstdint>

#include "sluice/fbs/sluice_generated.h"

namespace sluice::api {

struct version_range {
    fbs::ApiKey key;
    int16_t min_version;
    int16_t max_version;
};

inline constexpr std::array<version_range, 23> supported{{
    {fbs::ApiKey::Produce, 0, 0},
    {fbs::ApiKey::Fetch, 0, 0},
    {fbs::ApiKey::ListOffsets, 0, 0},
    {fbs::ApiKey::Metadata, 0, 0},
    {fbs::ApiKey::ApiVersions, 0, 0},
    {fbs::ApiKey::CreateTopics, 0, 0},
    {fbs::ApiKey::DeleteTopics, 0, 0},
    {fbs::ApiKey::DescribeConfigs, 0, 0},
    {fbs::ApiKey::CreatePartitions, 0, 0},
    {fbs::ApiKey::ElectLeaders, 0, 0},
    {fbs::ApiKey::IncrementalAlterConfigs, 0, 0},
    {fbs::ApiKey::DescribeQuorum, 0, 0},
    {fbs::ApiKey::InitProducerId, 0, 0},
    {fbs::ApiKey::FindCoordinator, 0, 0},
    {fbs::ApiKey::JoinGroup, 0, 0},
    {fbs::ApiKey::SyncGroup, 0, 0},
    {fbs::ApiKey::Heartbeat, 0, 0},
    {fbs::ApiKey::LeaveGroup, 0, 0},
    {fbs::ApiKey::OffsetCommit, 0, 0},
    {fbs::ApiKey::OffsetFetch, 0, 0},
    {fbs::ApiKey::ListGroups, 0, 0},
    {fbs::ApiKey::DescribeGroups, 0, 0},
    {fbs::ApiKey::DeleteGroups, 0, 0},
}};

// The range for `key`, or nullptr for an API this build does not have.
constexpr const version_range* find(fbs::ApiKey key) {
    for (const auto& r : supported) {
        if (r.key == key) {
            return &r;
        }
    }
    return nullptr;
}

// ListOffsets' special timestamps, as in Kafka.
inline constexpr int64_t latest_timestamp = -1;
inline constexpr int64_t earliest_timestamp = -2;

// Produce acks, as in Kafka.
inline constexpr int16_t acks_none = 0;
inline constexpr int16_t acks_leader = 1;
inline constexpr int16_t acks_all = -1;

}  // namespace sluice::api
