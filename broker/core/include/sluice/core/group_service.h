// What a listener asks of the group coordinator (docs/groups.md): Kafka's classic group protocol
// (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and the group admin and offset
// APIs, as plain values with no wire format, so that a Kafka-protocol listener can drive the same
// coordinator. Member metadata and assignments are opaque bytes here.
//
// The shape leaves room for Kafka's server-side assignment (KIP-848, ConsumerGroupHeartbeat):
// that protocol would be a second group kind beside `classic` behind this interface, sharing the
// offsets and the __consumer_offsets partitions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sluice/core/async.h"
#include "sluice/protocol/errc.h"

namespace sluice::broker {

// The internal topic that holds every group's state and committed offsets.
inline constexpr std::string_view consumer_offsets_topic = "__consumer_offsets";

struct coordinator_answer {
    errc error = errc::none;
    std::string message;
    int32_t node_id = -1;
    std::string host;
    int32_t port = 0;
};

struct group_protocol {
    std::string name;      // for consumers, the assignor ("range", "cooperative-sticky")
    std::string metadata;  // opaque bytes
};

struct join_group_request {
    std::string group_id;
    std::string member_id;                   // empty: a new member
    std::optional<std::string> instance_id;  // group.instance.id: a static member
    std::string client_id;
    std::string client_host;
    int32_t session_timeout_ms = 0;
    int32_t rebalance_timeout_ms = -1;  // -1: the session timeout
    std::string protocol_type;
    std::vector<group_protocol> protocols;  // in order of preference
    std::string reason;
};

struct join_group_member {
    std::string member_id;
    std::optional<std::string> instance_id;
    std::string metadata;  // for the chosen protocol
};

struct join_group_result {
    errc error = errc::none;
    std::string message;
    int32_t generation = -1;
    std::string protocol_type;
    std::string protocol_name;
    std::string leader;
    std::string member_id;
    std::vector<join_group_member> members;  // the leader's answer only
};

struct member_assignment {
    std::string member_id;
    std::string assignment;
};

struct sync_group_request {
    std::string group_id;
    int32_t generation = -1;
    std::string member_id;
    std::optional<std::string> instance_id;
    std::string protocol_type;                   // empty: not checked
    std::string protocol_name;                   // empty: not checked
    std::vector<member_assignment> assignments;  // the leader's only
};

struct sync_group_result {
    errc error = errc::none;
    std::string message;
    std::string protocol_type;
    std::string protocol_name;
    std::string assignment;
};

struct heartbeat_request {
    std::string group_id;
    int32_t generation = -1;
    std::string member_id;
    std::optional<std::string> instance_id;
};

struct group_answer {
    errc error = errc::none;
    std::string message;
};

struct leaving_member {
    std::string member_id;
    std::optional<std::string> instance_id;
    std::string reason;
};

struct leave_group_request {
    std::string group_id;
    std::vector<leaving_member> members;
};

struct left_member {
    std::string member_id;
    std::optional<std::string> instance_id;
    errc error = errc::none;
};

struct leave_group_result {
    errc error = errc::none;
    std::string message;
    std::vector<left_member> members;
};

struct offset_to_commit {
    std::string topic;
    int32_t partition = 0;
    int64_t offset = 0;
    int32_t leader_epoch = -1;
    std::string metadata;
};

struct offset_commit_request {
    std::string group_id;
    int32_t generation = -1;  // -1 with no member id: from outside the group (while it is empty)
    std::string member_id;
    std::optional<std::string> instance_id;
    std::vector<offset_to_commit> offsets;
};

struct offset_commit_result {
    errc error = errc::none;  // the whole request's; each partition's in `errors`
    std::string message;
    std::vector<errc> errors;  // one per offset, in order
};

struct topic_partition_id {
    std::string topic;
    int32_t partition = 0;
    auto operator<=>(const topic_partition_id&) const = default;
};

struct committed_offset {
    std::string topic;
    int32_t partition = 0;
    int64_t offset = -1;  // -1: none
    int32_t leader_epoch = -1;
    std::string metadata;
    errc error = errc::none;
};

struct offset_fetch_request {
    std::string group_id;
    std::optional<std::vector<topic_partition_id>> partitions;  // none: every one it has
};

struct offset_fetch_result {
    errc error = errc::none;
    std::string message;
    std::vector<committed_offset> offsets;
};

struct group_listing {
    std::string group_id;
    std::string protocol_type;
    std::string state;
};

struct list_groups_result {
    errc error = errc::none;
    std::string message;
    std::vector<group_listing> groups;
};

struct described_member {
    std::string member_id;
    std::optional<std::string> instance_id;
    std::string client_id;
    std::string client_host;
    std::string metadata;    // for the chosen protocol
    std::string assignment;  // empty until the group is stable
};

struct group_description {
    errc error = errc::none;
    std::string message;
    std::string group_id;
    std::string state;
    std::string protocol_type;
    std::string protocol_name;
    int32_t generation = -1;
    std::vector<described_member> members;
};

struct deleted_group {
    std::string group_id;
    errc error = errc::none;
    std::string message;
};

class group_service {
  public:
    virtual ~group_service() = default;

    // Each from any coroutine; the argument is an rvalue so that no temporary lives in the
    // caller's co_await (async.h). A JoinGroup or SyncGroup may wait for the rebalance to
    // complete, at most its rebalance timeout (or until `cancel`, when the asker is gone).
    virtual awaitable<coordinator_answer> find_coordinator(std::string&& group_id) = 0;
    virtual awaitable<join_group_result> join_group(join_group_request&& req,
                                                    std::shared_ptr<cancel_token> cancel) = 0;
    virtual awaitable<sync_group_result> sync_group(sync_group_request&& req,
                                                    std::shared_ptr<cancel_token> cancel) = 0;
    virtual awaitable<group_answer> heartbeat(heartbeat_request&& req) = 0;
    virtual awaitable<leave_group_result> leave_group(leave_group_request&& req) = 0;
    virtual awaitable<offset_commit_result> commit_offsets(offset_commit_request&& req) = 0;
    virtual awaitable<offset_fetch_result> fetch_offsets(offset_fetch_request&& req) = 0;
    virtual awaitable<list_groups_result> list_groups(std::vector<std::string>&& states) = 0;
    virtual awaitable<std::vector<group_description>> describe_groups(
        std::vector<std::string>&& ids) = 0;
    virtual awaitable<std::vector<deleted_group>> delete_groups(std::vector<std::string>&& ids) = 0;
};

}  // namespace sluice::broker
