// Encoding of the consumer-group requests and decoding of their answers (requests.h has the
// conventions), and the consumer protocol: the subscription and assignment a consumer puts in a
// group's opaque member metadata and assignment bytes (FlatBuffers ConsumerSubscription and
// ConsumerAssignment). Pure functions.
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

// A whole answer's error and its words.
struct group_status {
    errc error = errc::none;
    std::string message;
};

// ---- FindCoordinator ----
struct coordinator_meta {
    errc error = errc::none;
    std::string message;
    int32_t node_id = -1;
    std::string host;
    int32_t port = 0;
};
std::unique_ptr<frame::writer> encode_find_coordinator(int32_t id, std::string_view client_id,
                                                       std::string_view group_id);
result<coordinator_meta> decode_find_coordinator(const response& r);

// ---- JoinGroup, SyncGroup, Heartbeat, LeaveGroup ----
struct join_request {
    std::string group_id;
    std::string member_id;
    std::optional<std::string> instance_id;
    int32_t session_timeout_ms = 45000;
    int32_t rebalance_timeout_ms = 300000;
    std::string protocol_type = "consumer";
    std::vector<std::pair<std::string, std::string>> protocols;  // name, metadata
    std::string reason;
};

struct join_member_meta {
    std::string member_id;
    std::optional<std::string> instance_id;
    std::string metadata;
};

struct join_answer {
    errc error = errc::none;
    std::string message;
    int32_t generation = -1;
    std::string protocol_type;
    std::string protocol_name;
    std::string leader;
    std::string member_id;
    std::vector<join_member_meta> members;
};
std::unique_ptr<frame::writer> encode_join_group(int32_t id, std::string_view client_id,
                                                 const join_request& req);
result<join_answer> decode_join_group(const response& r);

struct sync_request {
    std::string group_id;
    int32_t generation = -1;
    std::string member_id;
    std::optional<std::string> instance_id;
    std::string protocol_type;
    std::string protocol_name;
    std::vector<std::pair<std::string, std::string>> assignments;  // member id, assignment
};

struct sync_answer {
    errc error = errc::none;
    std::string message;
    std::string protocol_name;
    std::string assignment;
};
std::unique_ptr<frame::writer> encode_sync_group(int32_t id, std::string_view client_id,
                                                 const sync_request& req);
result<sync_answer> decode_sync_group(const response& r);

struct member_ref {
    std::string group_id;
    int32_t generation = -1;
    std::string member_id;
    std::optional<std::string> instance_id;
};
std::unique_ptr<frame::writer> encode_heartbeat(int32_t id, std::string_view client_id,
                                                const member_ref& m);
result<group_status> decode_heartbeat(const response& r);

std::unique_ptr<frame::writer> encode_leave_group(int32_t id, std::string_view client_id,
                                                  const member_ref& m, std::string_view reason);
// The whole answer's error, else the member's.
result<group_status> decode_leave_group(const response& r);

// ---- OffsetCommit, OffsetFetch ----
struct commit_entry {
    std::string topic;
    int32_t partition = 0;
    int64_t offset = 0;
    int32_t leader_epoch = -1;
    std::string metadata;
};

struct commit_result {
    std::string topic;
    int32_t partition = 0;
    errc error = errc::none;
};

struct commit_answer {
    errc error = errc::none;
    std::string message;
    std::vector<commit_result> partitions;
};
// Entries of one topic must be adjacent. `m.generation` -1 and no member: a commit from outside
// the group.
std::unique_ptr<frame::writer> encode_offset_commit(int32_t id, std::string_view client_id,
                                                    const member_ref& m,
                                                    std::span<const commit_entry> entries);
result<commit_answer> decode_offset_commit(const response& r);

struct committed_meta {
    std::string topic;
    int32_t partition = 0;
    int64_t offset = -1;  // -1: none
    int32_t leader_epoch = -1;
    std::string metadata;
    errc error = errc::none;
};

struct offset_fetch_answer {
    errc error = errc::none;
    std::string message;
    std::vector<committed_meta> partitions;
};
// `partitions` none: every partition the group has an offset for.
std::unique_ptr<frame::writer> encode_offset_fetch(
    int32_t id, std::string_view client_id, std::string_view group_id,
    const std::optional<std::map<std::string, std::vector<int32_t>>>& partitions);
result<offset_fetch_answer> decode_offset_fetch(const response& r);

// ---- ListGroups, DescribeGroups, DeleteGroups ----
struct group_listing_meta {
    std::string group_id;
    std::string protocol_type;
    std::string state;
};
struct list_groups_answer {
    errc error = errc::none;
    std::string message;
    std::vector<group_listing_meta> groups;
};
std::unique_ptr<frame::writer> encode_list_groups(int32_t id, std::string_view client_id);
result<list_groups_answer> decode_list_groups(const response& r);

struct described_member_meta {
    std::string member_id;
    std::optional<std::string> instance_id;
    std::string client_id;
    std::string client_host;
    std::string metadata;
    std::string assignment;
};
struct group_description_meta {
    errc error = errc::none;
    std::string message;
    std::string group_id;
    std::string state;
    std::string protocol_type;
    std::string protocol_name;
    int32_t generation = -1;
    std::vector<described_member_meta> members;
};
std::unique_ptr<frame::writer> encode_describe_groups(int32_t id, std::string_view client_id,
                                                      std::span<const std::string> groups);
result<std::vector<group_description_meta>> decode_describe_groups(const response& r);

struct deleted_group_meta {
    std::string group_id;
    errc error = errc::none;
    std::string message;
};
std::unique_ptr<frame::writer> encode_delete_groups(int32_t id, std::string_view client_id,
                                                    std::span<const std::string> groups);
result<std::vector<deleted_group_meta>> decode_delete_groups(const response& r);

// ---- The consumer protocol ----
using partition_map = std::map<std::string, std::vector<int32_t>>;  // topic -> partitions

struct subscription_meta {
    std::vector<std::string> topics;
    partition_map owned;  // cooperative: what the member holds now
    int32_t generation = -1;
};
std::string encode_subscription(const subscription_meta& s);
// Nothing if the bytes are not a ConsumerSubscription.
std::optional<subscription_meta> decode_subscription(std::string_view bytes);

std::string encode_assignment(const partition_map& partitions);
std::optional<partition_map> decode_assignment(std::string_view bytes);

}  // namespace sluice::client
