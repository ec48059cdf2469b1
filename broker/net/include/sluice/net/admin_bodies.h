// The admin request and answer bodies of the native protocol (CreateTopics, DeleteTopics,
// CreatePartitions, IncrementalAlterConfigs, DescribeQuorum, ElectLeaders) to and from the core's
// plain types (topic_admin.h). The client listener reads them from clients; the controller listener
// carries the same bodies from a broker to the active controller, so both read and write them here.
//
// Reading is lenient about absent fields (a missing name reads as empty, which the controller
// refuses with a reason); a vector longer than `list_max`, or strings adding up to more than
// `decoded_bytes_max`, are refused, with `*why` set. Writing keeps a key named twice
// (duplicate_config, duplicate_key) named twice, so the active controller refuses it as the
// broker that forwarded it would have.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sluice/core/topic_admin.h"
#include "sluice/fbs/sluice_generated.h"

namespace sluice::broker::bodies {

template <typename T>
using off = flatbuffers::Offset<T>;
using builder = flatbuffers::FlatBufferBuilder;

// The most entries a decoded list may hold, and the most bytes of names, keys and values one
// request may decode to (a hostile frame cannot make a huge one: its strings may be shared).
inline constexpr size_t list_max = 100000;
inline constexpr size_t decoded_bytes_max = 16u << 20;

std::optional<std::vector<create_topic_request>> read(const fbs::CreateTopicsRequest& r,
                                                      std::string* why);
std::optional<std::vector<std::string>> read(const fbs::DeleteTopicsRequest& r, std::string* why);
std::optional<std::vector<partition_count_request>> read(const fbs::CreatePartitionsRequest& r,
                                                         std::string* why);
std::optional<std::vector<config_change_request>> read(const fbs::IncrementalAlterConfigsRequest& r,
                                                       std::string* why);
// A null vector reads as empty.
std::optional<std::vector<topic_result>> read(
    const flatbuffers::Vector<off<fbs::TopicResult>>* results, std::string* why);
std::optional<quorum_status> read(const fbs::DescribeQuorumResponse& r, std::string* why);
// The topics of a preferred election (empty: all); another election type is refused.
std::optional<std::vector<std::string>> read(const fbs::ElectLeadersRequest& r, std::string* why);
std::optional<std::vector<election_result>> read(const fbs::ElectLeadersResponse& r,
                                                 std::string* why);

off<fbs::CreateTopicsRequest> write(builder& b, const std::vector<create_topic_request>& topics,
                                    bool validate_only);
off<fbs::DeleteTopicsRequest> write(builder& b, const std::vector<std::string>& names);
off<fbs::CreatePartitionsRequest> write(builder& b,
                                        const std::vector<partition_count_request>& topics,
                                        bool validate_only);
off<fbs::IncrementalAlterConfigsRequest> write(builder& b,
                                               const std::vector<config_change_request>& topics,
                                               bool validate_only);
off<flatbuffers::Vector<off<fbs::TopicResult>>> write(builder& b,
                                                      const std::vector<topic_result>& results);
off<fbs::DescribeQuorumResponse> write(builder& b, const quorum_status& q);
off<fbs::ElectLeadersRequest> write_election(builder& b, const std::vector<std::string>& topics);
off<fbs::ElectLeadersResponse> write(builder& b, const std::vector<election_result>& results);

}  // namespace sluice::broker::bodies
