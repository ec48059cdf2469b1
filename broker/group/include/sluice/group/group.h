// One consumer group's state under Kafka's classic group protocol (docs/groups.md): its members,
// generation, chosen protocol, assignments and committed offsets, and the rules of JoinGroup,
// SyncGroup, Heartbeat, LeaveGroup and OffsetCommit. A pure state machine: no I/O, no clock of
// its own (every call takes `now_ms`, wall-clock milliseconds), no threads. The coordinator
// (coordinator.h) owns the groups, writes what they ask to __consumer_offsets and wakes the
// requests they park.
//
// States (Kafka's):
//   empty                 no members (offsets may remain)
//   preparing_rebalance   waiting for every member to (re)join, at most the rebalance timeout
//   completing_rebalance  joined; waiting for the leader's assignment (SyncGroup)
//   stable                every member has its assignment
//   dead                  deleted, or its offsets expired; about to be forgotten
//
// Parked requests. A JoinGroup that must wait for the rebalance, and a SyncGroup that must wait
// for the leader's assignment, are parked under a token the caller chose; they come back through
// group_effects with their answers. A member holds at most one parked join and one parked sync: a
// second one (its client gave up on the first) answers the first with REBALANCE_IN_PROGRESS.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/core/group_service.h"

namespace sluice::broker::groups {

enum class group_state { empty, preparing_rebalance, completing_rebalance, stable, dead };

// Kafka's names: "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead".
std::string_view state_name(group_state s);

// The broker's group settings (group.*).
struct group_limits {
    int32_t min_session_timeout_ms = 6000;      // group.min.session.timeout.ms
    int32_t max_session_timeout_ms = 1800000;   // group.max.session.timeout.ms
    int32_t initial_rebalance_delay_ms = 3000;  // group.initial.rebalance.delay.ms
    int32_t max_size = 2147483647;              // group.max.size
};

struct group_member {
    std::string id;
    std::optional<std::string> instance_id;
    std::string client_id;
    std::string client_host;
    int32_t session_timeout_ms = 0;
    int32_t rebalance_timeout_ms = 0;
    std::vector<group_protocol> protocols;
    std::string assignment;
    uint64_t join_token = 0;  // a parked JoinGroup (0: none)
    uint64_t sync_token = 0;  // a parked SyncGroup (0: none)
    int64_t expires_ms = 0;   // the session ends here unless a heartbeat comes

    const std::string* metadata_for(std::string_view protocol) const;
};

struct offset_value {
    int64_t offset = -1;
    int32_t leader_epoch = -1;
    std::string metadata;
    int64_t commit_ms = 0;

    bool operator==(const offset_value&) const = default;
};

// What the coordinator must do after a call.
struct group_effects {
    std::vector<std::pair<uint64_t, join_group_result>> joins;  // parked joins to answer
    std::vector<std::pair<uint64_t, sync_group_result>> syncs;  // parked syncs to answer
    // The group's record changed (stable with new assignments awaiting their write, or empty):
    // write metadata_record(), then call metadata_written().
    bool write_metadata = false;
};

// The persisted part of a group (the value of its record in __consumer_offsets).
struct group_record {
    std::string protocol_type;
    std::string protocol_name;
    int32_t generation = 0;
    std::string leader;
    int64_t state_ms = 0;  // when it entered its state (empty: when the offsets' retention began)
    struct member {
        std::string id;
        std::optional<std::string> instance_id;
        std::string client_id;
        std::string client_host;
        int32_t session_timeout_ms = 0;
        int32_t rebalance_timeout_ms = 0;
        std::string metadata;  // for the chosen protocol
        std::string assignment;
    };
    std::vector<member> members;
};

class group {
  public:
    group(std::string id, const group_limits& limits);

    // A group as its last record says (loaded by a new coordinator): stable with its members
    // (each with a full session ahead from `now_ms`), or empty.
    void load(const group_record& r, int64_t now_ms);
    void load_offset(const topic_partition_id& tp, const offset_value& v);
    void forget_offset(const topic_partition_id& tp);

    const std::string& id() const { return id_; }
    group_state state() const { return state_; }
    int32_t generation() const { return generation_; }
    const std::string& protocol_type() const { return protocol_type_; }
    const std::string& protocol_name() const { return protocol_name_; }
    const std::string& leader() const { return leader_; }
    const std::map<std::string, group_member>& members() const { return members_; }
    const std::map<topic_partition_id, offset_value>& offsets() const { return offsets_; }
    int64_t state_ms() const { return state_ms_; }

    // JoinGroup. The answer now, or nothing: parked under `token`, answered through `fx`.
    // `new_member_id` is the id a new member gets.
    std::optional<join_group_result> join(const join_group_request& r, uint64_t token,
                                          const std::string& new_member_id, int64_t now_ms,
                                          group_effects& fx);
    // SyncGroup. The answer now, or nothing: parked under `token`. The leader's sync in
    // completing_rebalance sets fx.write_metadata: the assignments take effect (and every
    // parked sync is answered) once metadata_written() says the record was written.
    std::optional<sync_group_result> sync(const sync_group_request& r, uint64_t token,
                                          int64_t now_ms, group_effects& fx);
    // The record metadata_record() returned for `generation` was written (or not: the
    // rebalance starts over).
    void metadata_written(int32_t generation, bool ok, int64_t now_ms, group_effects& fx);
    group_record metadata_record() const;

    group_answer heartbeat(const heartbeat_request& r, int64_t now_ms);
    left_member leave(const leaving_member& m, int64_t now_ms, group_effects& fx);

    // OffsetCommit: whether this member may commit now (a member of the current generation, or,
    // with generation -1 and no member id, nobody while the group has no members). A member's
    // commit also counts as a heartbeat.
    group_answer check_commit(const offset_commit_request& r, int64_t now_ms);
    void commit(const offset_to_commit& o, int64_t now_ms);

    // DeleteGroups: only an empty group; it becomes dead.
    group_answer check_delete() const;
    void mark_dead();

    // Time passes: sessions end, rebalance timeouts and the initial delay run out.
    void tick(int64_t now_ms, group_effects& fx);
    // The offsets whose retention has run out (offsets.retention.minutes): all of an empty
    // consumer group's once it has been empty that long; a group without members' each by its
    // commit time. Their removal is written, then forget_offset() drops each.
    std::vector<topic_partition_id> expired_offsets(int64_t now_ms, int64_t retention_ms) const;

    // The coordinator lost this group (another broker now coordinates it): every parked request
    // is answered NOT_COORDINATOR.
    void unload(group_effects& fx);

  private:
    void prepare_rebalance(int64_t now_ms, group_effects& fx);
    void maybe_complete_join(int64_t now_ms, group_effects& fx);
    void complete_join(int64_t now_ms, group_effects& fx);
    void remove_member(const std::string& member_id, int64_t now_ms, group_effects& fx);
    join_group_result join_answer(const group_member& m) const;
    bool supports(const join_group_request& r) const;
    std::string select_protocol() const;
    bool all_joined() const;
    void set_state(group_state s, int64_t now_ms);
    // Checks the member and its static id: UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID, or none.
    group_answer check_member(const std::string& member_id,
                              const std::optional<std::string>& instance_id) const;

    std::string id_;
    const group_limits& limits_;
    group_state state_ = group_state::empty;
    int64_t state_ms_ = 0;
    int32_t generation_ = 0;
    std::string protocol_type_;
    std::string protocol_name_;
    std::string leader_;
    std::map<std::string, group_member> members_;
    std::map<std::string, std::string> static_members_;  // instance id -> member id
    std::map<topic_partition_id, offset_value> offsets_;
    int64_t rebalance_deadline_ms_ = 0;
    int64_t initial_delay_until_ms_ = 0;  // the first rebalance of an empty group waits this long
    int64_t initial_delay_limit_ms_ = 0;
    // The leader's assignments, awaiting their write (metadata_written).
    std::optional<std::map<std::string, std::string>> pending_assignments_;
};

}  // namespace sluice::broker::groups
