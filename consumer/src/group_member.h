// A consumer's membership of its group (docs/clients.md, "Consumer groups"), on the consumer's
// I/O thread: it finds the coordinator, joins (as the leader, it runs the assignor), syncs,
// heartbeats every heartbeat.interval.ms, and rejoins when the coordinator says the group
// rebalances, when the subscription changes, or (the leader) when a subscribed topic's partition
// count or a pattern's matches change.
//
// The poll thread owns the assignment: the member tells it what to give up and what it got
// through events, which poll() takes (take_events) and acts on (callbacks, commits, positions).
//   eager (range, roundrobin)   before it joins again the member asks the poll thread to revoke
//                               everything and waits until it has (revoked()), so a partition's
//                               old owner has committed before any new owner starts
//   cooperative-sticky          it joins holding its partitions; after the sync it revokes only
//                               those the assignment took away, and then joins once more so that
//                               they can move (KIP-429)
// A member that lost its place (its session ended, a newer generation fenced it) reports its
// partitions lost (no commit is possible) and joins as a new member. A fatal answer (a static
// member fenced by another with its group.instance.id, a protocol the group does not share)
// reaches poll() as an error.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "assignors.h"
#include "sluice/client/internal/cluster.h"
#include "sluice/client/internal/group_requests.h"
#include "sluice/consumer/consumer.h"
#include "topic_pattern.h"

namespace sluice::detail {

struct group_event {
    enum class kind { revoke, assign, lose, fail };
    kind what = kind::assign;
    std::vector<topic_partition> partitions;  // revoke, lose: those; assign: the new ones
    std::vector<topic_partition> assignment;  // assign: the whole assignment now
    std::error_code error;                    // fail
    uint64_t revoke_id = 0;                   // revoke: what revoked() answers with
};

class group_member {
  public:
    // `wake` wakes a poll() waiting for records, so that it takes the events.
    group_member(client::cluster& c, const consumer_config& config, std::function<void()> wake);

    // ---- I/O thread ----
    // A new subscription: topics, or a pattern over every topic name. Rejoins.
    void subscribe(std::vector<std::string> topics, std::optional<std::string> pattern);
    // Leaves the group (unless static) and stops; owned partitions are lost to the poll side.
    void unsubscribe();
    // The poll thread gave up the partitions of the revoke event `revoke_id`. Only the answer
    // to the latest revoke counts: one to a revoke overtaken by a loss is ignored.
    void revoked(uint64_t revoke_id);
    void stop();
    // Leaves the group (a static member does not: its session keeps its place) and stops.
    client::awaitable<void> leave();

    // Commits for the current generation; an error if the member is not in a stable
    // generation (REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID, ...) or per partition.
    client::awaitable<std::error_code> commit(std::vector<client::commit_entry> entries,
                                              client::clock::time_point deadline);
    client::awaitable<result<std::vector<client::committed_meta>>> committed(
        client::partition_map partitions, client::clock::time_point deadline);

    // ---- poll thread ----
    std::vector<group_event> take_events();

  private:
    client::awaitable<void> run();
    // An open connection to the coordinator, finding it if need be.
    client::awaitable<result<std::shared_ptr<client::connection>>> coordinator(
        client::clock::time_point deadline);
    // One join and sync; false if it has to be tried again.
    client::awaitable<bool> join_and_sync();
    client::awaitable<result<client::join_answer>> send_join(
        std::shared_ptr<client::connection> conn, const std::vector<std::string>& topics);
    client::awaitable<result<client::sync_answer>> send_sync(
        std::shared_ptr<client::connection> conn, const client::sync_request& req);
    // The longest a JoinGroup or SyncGroup may wait for its answer.
    std::chrono::milliseconds rebalance_wait() const;
    // Takes the assignment a sync returned: events for the poll thread. Always true.
    // `subscription_seq`: subscription_seq_ when the join went out.
    bool take_assignment(const std::string& bytes, uint64_t subscription_seq);
    // Whether the subscription takes in `topic`; the partitions of `m` it does not.
    bool wants(const std::string& topic) const;
    client::partition_map unwanted(const client::partition_map& m) const;
    client::awaitable<void> heartbeat();
    // The topics the subscription names now (a pattern: the matching topics in the metadata).
    client::awaitable<std::vector<std::string>> subscribed_topics();
    // The leader's assignment of `members`.
    client::awaitable<result<std::vector<std::pair<std::string, std::string>>>> assign_members(
        const client::join_answer& joined);
    // Answers that mean the coordinator moved or is not ready: find it again.
    bool coordinator_error(errc e);
    void push(group_event e);
    // Asks the poll thread to give up `partitions`; the member waits for its revoked().
    void ask_revoke(const client::partition_map& partitions);
    void lose_all();
    // A fatal error: poll() returns it, the owned partitions are lost, the member stops.
    void fail(std::error_code ec);
    // The error poll() returns for a fatal answer `e` of the coordinator.
    std::error_code fatal_error(errc e, const std::string& message) const;
    void wake_loop();
    client::awaitable<void> sleep(std::chrono::milliseconds d);

    client::cluster& cluster_;
    const consumer_config& config_;
    std::function<void()> wake_poll_;
    const bool cooperative_;

    // I/O thread.
    std::vector<std::string> topics_;
    std::optional<topic_pattern> pattern_;
    bool subscribed_ = false;
    uint64_t subscription_seq_ = 0;  // counts subscribe() calls
    bool running_ = false;
    bool stopped_ = false;
    bool rejoin_ = true;
    uint64_t revoke_pending_ = 0;  // the revoke whose revoked() the member waits for; 0: none
    uint64_t last_revoke_ = 0;
    int32_t coordinator_id_ = -1;
    std::shared_ptr<client::connection> coordinator_conn_;  // the member's own (coordinator())
    std::string member_id_;
    int32_t generation_ = -1;
    std::string protocol_;
    client::partition_map owned_;
    // The leader's view at its last assignment: each subscribed topic's partition count.
    std::map<std::string, int32_t> assigned_counts_;
    bool leader_ = false;
    client::clock::time_point next_heartbeat_{};
    client::clock::time_point next_metadata_check_{};
    std::unique_ptr<client::asio::steady_timer> signal_;

    // Events for the poll thread.
    std::mutex mutex_;
    std::deque<group_event> events_;
};

}  // namespace sluice::detail
