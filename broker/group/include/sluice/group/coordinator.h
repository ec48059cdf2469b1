// The group coordinator (docs/groups.md): the groups whose __consumer_offsets partition this
// broker leads, their rebalances, and their committed offsets, written to that partition.
//
// Where groups live. A group belongs to partition partition_for(id) of __consumer_offsets, which
// is created (compacted) on the first FindCoordinator. Its coordinator is that partition's leader:
// the coordinator follows leadership, never the other way round. On the first request for a
// partition it newly leads (a new leader epoch) it loads that partition's groups and offsets from
// the log, answering COORDINATOR_LOAD_IN_PROGRESS meanwhile; it reads once the high watermark has
// reached the start of its epoch (everything a previous leader acknowledged is then below it).
// A partition it no longer leads answers NOT_COORDINATOR, and its groups' parked requests get
// that answer too.
//
// Writes. A group's record (after its leader's assignment, and when it empties) and committed
// offsets are appended with acks=all; a commit is answered, and an assignment handed out, only
// once written. Appends are issued from the coordinator's strand, so they reach the log in the
// order the state changed.
//
// Threading. Every group lives on the coordinator's strand; requests hop there and back. A
// JoinGroup or SyncGroup that must wait is parked in its group (group.h) and woken through an
// async_event on the asking connection's executor. A timer (every 100 ms) ends sessions and
// rebalances, drops partitions no longer led, and (every offsets.retention.check.interval.ms)
// removes expired offsets.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "sluice/core/async.h"
#include "sluice/core/cluster_view.h"
#include "sluice/core/group_service.h"
#include "sluice/core/partition_service.h"
#include "sluice/core/topic_admin.h"
#include "sluice/group/group.h"
#include "sluice/group/group_records.h"
#include "sluice/storage/clock.h"

namespace sluice::broker {

// What a coordinator reads back from a partition of __consumer_offsets (coordinator.cpp).
struct group_log_replay;

struct group_coordinator_config {
    int32_t offsets_partitions = 50;                        // offsets.topic.num.partitions
    int16_t offsets_replication = 3;                        // offsets.topic.replication.factor
    int32_t offsets_segment_bytes = 104857600;              // offsets.topic.segment.bytes
    int64_t offsets_retention_ms = 7 * 24 * 3600 * 1000LL;  // offsets.retention.minutes
    int64_t retention_check_ms = 600000;                    // offsets.retention.check.interval.ms
    int32_t commit_timeout_ms = 5000;                       // offsets.commit.timeout.ms
    groups::group_limits limits;
};

class group_coordinator final : public group_service {
  public:
    // `cluster` names the brokers and the partitions' leaders (FindCoordinator); `blocking` is
    // where the log is read while loading.
    group_coordinator(boost::asio::io_context& io, group_coordinator_config config,
                      partition_service& replicas, topic_admin& admin, const cluster_view& cluster,
                      executor blocking, storage::clock& time = storage::system_clock());
    ~group_coordinator() override;

    // Starts the timer. stop() ends it and answers every parked request (the broker is going).
    void start();
    void stop();

    awaitable<coordinator_answer> find_coordinator(std::string&& group_id) override;
    awaitable<join_group_result> join_group(join_group_request&& req,
                                            std::shared_ptr<cancel_token> cancel) override;
    awaitable<sync_group_result> sync_group(sync_group_request&& req,
                                            std::shared_ptr<cancel_token> cancel) override;
    awaitable<group_answer> heartbeat(heartbeat_request&& req) override;
    awaitable<leave_group_result> leave_group(leave_group_request&& req) override;
    awaitable<offset_commit_result> commit_offsets(offset_commit_request&& req) override;
    awaitable<offset_fetch_result> fetch_offsets(offset_fetch_request&& req) override;
    awaitable<list_groups_result> list_groups(std::vector<std::string>&& states) override;
    awaitable<std::vector<group_description>> describe_groups(
        std::vector<std::string>&& ids) override;
    awaitable<std::vector<deleted_group>> delete_groups(std::vector<std::string>&& ids) override;

  private:
    struct waiter;
    struct shard;
    struct route;

    // On the strand: the group's partition, led and loaded, or why not (NOT_COORDINATOR,
    // COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE). Starts a load when due.
    route locate(const std::string& group_id);
    awaitable<void> load(int32_t partition, leader_epoch_t epoch);
    // Reads [start, end) of the partition into `out`; why not, if it could not.
    awaitable<std::optional<std::string>> read_log(int32_t partition, int64_t start, int64_t end,
                                                   group_log_replay& out);
    // Puts what a load replayed in place, if the partition still awaits it at `epoch`.
    void install(int32_t partition, leader_epoch_t epoch, group_log_replay& r);
    // Appends `records` to the partition with acks=all; the error a client should see (none,
    // NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, INVALID_COMMIT_OFFSET_SIZE, ...).
    awaitable<group_answer> append(int32_t partition, std::vector<groups::record_to_write> records);
    // A JoinGroup or SyncGroup: `start(token, wait)` on the strand gives the answer now, or
    // nothing (the group parked it under `token`, and set `wait`). Then the answer (`answer` of
    // the waiter) once the group gives it; nothing if none came by `wait` plus a grace.
    template <typename Result, typename Start>
    awaitable<std::optional<Result>> answer_or_wait(Start start, Result waiter::*answer,
                                                    std::shared_ptr<cancel_token> cancel);
    // Answers the parked requests `fx` names.
    void answer_parked(groups::group_effects& fx);
    // Answers parked requests and starts the write a group asked for.
    void apply(int32_t partition, groups::group& g, groups::group_effects& fx);
    awaitable<void> write_metadata(int32_t partition, std::string group_id);
    void unload(shard& s);
    awaitable<void> tick_loop();
    void tick();
    // Removes expired offsets, and empty groups left without any, partition by partition.
    awaitable<void> expire_offsets();
    awaitable<void> expire_partition(int32_t partition);
    int64_t now_ms() const { return time_.now().value(); }
    std::string new_member_id(const std::string& client_id);

    group_coordinator_config config_;
    partition_service& replicas_;
    topic_admin& admin_;
    const cluster_view& cluster_;
    executor blocking_;
    storage::clock& time_;
    executor strand_;
    boost::asio::steady_timer timer_;
    // On the strand.
    std::map<int32_t, std::unique_ptr<shard>> shards_;
    std::map<uint64_t, std::shared_ptr<waiter>> parked_;
    uint64_t next_token_ = 1;
    uint64_t member_counter_ = 0;
    bool creating_topic_ = false;
    bool expiring_ = false;  // expire_offsets() runs
    // Groups with commits appended but not yet applied, and how many: expiry and deletion wait.
    std::map<std::string, int, std::less<>> commits_writing_;
    bool stopped_ = false;
    steady_clock::time_point next_expiry_check_{};
};

}  // namespace sluice::broker
