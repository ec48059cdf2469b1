// The bookkeeping of one partition replica, as a pure state machine: its log end, what of it is
// durable, its high watermark, and, while it leads, its followers' positions and the ISR. The
// partition (an I/O shell around a partition_log, on its strand) feeds it events, with the time
// as an input (no clock is read here), and it decides when the high watermark moves, which
// acknowledgements complete, which waiting fetches wake, and which ISR change to ask the
// controller for (docs/replication.md).
//
// Positions. A replica holds its log end; in fsync mode what counts is the durable end (a
// follower fetches again only once what it appended is fsynced, so its fetch offset is durable
// too). Acks=1 completes at the leader's own position; acks=all at the high watermark.
//
// The high watermark of a leader is the smallest position among the members of its maximal ISR:
// the committed ISR plus any replica a pending expansion adds (Kafka's rule, so that an expansion
// the controller has not yet committed already counts the new member). A follower's position is
// unknown (and holds the high watermark back) until it fetches from this leader. The leader's
// high watermark never goes back. A follower's is the leader's, as its fetch answers report it,
// capped at its own log end.
//
// The ISR (Kafka's rules): a member that has not been caught up to the leader's log end for
// replica.lag.time.max.ms is proposed for removal; a replica whose position reached the high
// watermark and the start of the current leader epoch, and was caught up within the lag, is
// proposed for addition. One proposal is
// in flight at a time; it carries the partition epoch it was made against, and ends when the
// metadata image shows a newer partition epoch or the controller refuses it.
//
// Threading: not thread-safe; the owner calls it from the partition's strand only. Callbacks run
// inside these calls and must not call back into the same object (they post elsewhere).
// Bounds: at most one durability request is in flight; ack waiters are bounded by the requests
// in flight over all connections, fetch waiters by the fetches in flight (one per connection);
// one follower entry per replica.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "sluice/protocol/errc.h"
#include "sluice/protocol/types.h"

namespace sluice::broker {

// Something waiting for new data in a partition (a long-polling fetch). Implementations are
// thread-safe: wake() is called from the partition's strand, the waiter lives elsewhere.
class wakeup {
  public:
    virtual ~wakeup() = default;
    virtual void wake() = 0;
    // True once waking is pointless (already woken, or the fetch finished): it may be dropped.
    virtual bool done() const = 0;
};

// A partition's replicas as the metadata image gives them.
struct replica_assignment {
    node_id_t self{-1};
    std::vector<node_id_t> replicas;
    std::vector<node_id_t> isr;
    int32_t partition_epoch = 0;
    int32_t min_insync = 1;  // min.insync.replicas
};

// A follower's position as the leader knows it.
struct follower_position {
    node_id_t id{-1};
    offset_t end{-1};  // -1: it has not fetched from this leader yet
    std::chrono::steady_clock::time_point last_caught_up{};
    std::chrono::steady_clock::time_point last_fetch{};
    offset_t leader_end_at_last_fetch{-1};
};

// An ISR change to ask the controller for (AlterPartition).
struct isr_proposal {
    std::vector<node_id_t> isr;
    int32_t partition_epoch = 0;  // the partition epoch it was made against
    friend bool operator==(const isr_proposal&, const isr_proposal&) = default;
};

class partition_state {
  public:
    using time_point = std::chrono::steady_clock::time_point;
    // Completion of an acknowledgement wait: errc::none, or why it will never complete.
    using ack_callback = std::function<void(errc)>;

    // A replica opens following nobody, at its checkpointed high watermark (at most `log_end`).
    partition_state(offset_t log_end, offset_t high_watermark, bool fsync_mode);
    // A replica that leads alone (one replica, min.insync.replicas 1): the single-broker case.
    partition_state(offset_t log_end, bool fsync_mode);

    offset_t high_watermark() const { return hw_; }
    offset_t log_end() const { return end_; }
    // This replica's position: the log end, or in fsync mode the end of what is durable.
    offset_t local_end() const { return fsync_ ? durable_ : end_; }
    bool fsync_mode() const { return fsync_; }
    bool leading() const { return leading_; }

    // ---- The local log ----

    // An append succeeded and the log now ends at `end`.
    void appended(offset_t end);
    // Fsync mode: the offset to ask durability for now (everything below it), if something is
    // not yet durable and no request is in flight; marks a request in flight.
    std::optional<offset_t> take_durable_request();
    // The request for everything below `end` completed.
    void durable(offset_t end);
    // The request failed: its appends are not known durable. Every ack waiter fails with `e`,
    // and so does every later wait beyond what is known durable: the log has failed (storage
    // refuses appends until it is reopened), so no further durability request is made.
    void durable_failed(errc e);
    // A follower's log was cut back to `end` (truncation by epoch). The high watermark is at
    // most the new end.
    void truncated(offset_t end);
    // A follower's log was emptied to start again at `at`, which may lie past the old end (its
    // leader's log starts there).
    void restarted(offset_t at);

    // ---- Roles ----

    // This replica leads from `now`, at a new leader epoch: every follower's position is unknown
    // until it fetches, and each ISR member counts as caught up at `now`.
    void become_leader(const replica_assignment& a, time_point now);
    // The image changed the replicas or the ISR while this replica leads at the same epoch.
    void update_assignment(const replica_assignment& a, time_point now);
    // This replica follows (or its broker is fenced): every ack waiter fails with
    // NOT_LEADER_OR_FOLLOWER, and the followers' positions are forgotten.
    void become_follower();

    // ---- Following ----

    // The leader's high watermark, from a fetch answer.
    void leader_high_watermark(offset_t hw);

    // ---- Leading ----

    // NOT_ENOUGH_REPLICAS when the ISR is smaller than min.insync.replicas (an acks=all produce
    // then appends nothing), else none.
    errc check_acks_all() const;
    // A follower fetched at `fetch_offset` and was served (its log matches this one below it).
    // Fetches from replicas not in the assignment are ignored.
    void follower_fetched(node_id_t id, offset_t fetch_offset, time_point now);
    // The ISR change to ask for now, if one is due and none is in flight; marks it in flight.
    std::optional<isr_proposal> propose_isr(time_point now, std::chrono::milliseconds lag_max);
    // Proposal `p` failed (refused, or no answer): a later propose_isr may ask again. Ignored
    // unless `p` is the one in flight (an image may have ended it, and a newer one be asked).
    void isr_proposal_failed(const isr_proposal& p);
    bool isr_proposal_pending() const { return pending_.has_value(); }

    const std::vector<node_id_t>& isr() const { return isr_; }
    // Whether `id` is one of this leader's followers.
    bool is_follower(node_id_t id) const {
        return std::any_of(followers_.begin(), followers_.end(),
                           [id](const follower_position& f) { return f.id == id; });
    }
    const std::vector<follower_position>& followers() const { return followers_; }

    // ---- Waits ----

    // Acks=1: calls `done(errc::none)` once this replica's position reaches `target`.
    void wait_for_local(offset_t target, ack_callback done);
    // Acks=all: calls `done` once the high watermark reaches `target`: with errc::none, or
    // NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR is then smaller than min.insync.replicas.
    void wait_for_hw(offset_t target, ack_callback done);
    // Registers a fetch waiter, woken (once) when the high watermark next moves (consumers), or
    // when the log end next moves (followers).
    void add_waiter(std::shared_ptr<wakeup> w);
    void add_end_waiter(std::shared_ptr<wakeup> w);

    // The partition closes, is deleted, or loses leadership: every ack waiter fails with `e`,
    // every fetch waiter wakes (it then finds out why).
    void abort_all(errc e);

    size_t ack_waiters() const { return local_acks_.size() + hw_acks_.size(); }
    size_t fetch_waiters() const { return waiters_.size() + end_waiters_.size(); }

  private:
    using ack_queue = std::deque<std::pair<offset_t, ack_callback>>;
    struct pending_change {
        isr_proposal proposal;
        std::vector<node_id_t> added;  // counted in the maximal ISR meanwhile
    };

    // One entry per replica but self, keeping the ones that exist; a new ISR member counts as
    // caught up at `now`.
    void set_followers(time_point now);
    // Recomputes the leader's high watermark from the positions; completes local acks.
    void positions_changed();
    void advance_hw(offset_t to);
    void fail_acks(errc e);
    void fail_local_acks();
    static void add_to(std::vector<std::shared_ptr<wakeup>>& list, size_t& prune_at,
                       std::shared_ptr<wakeup> w);
    static void wake_all(std::vector<std::shared_ptr<wakeup>>& list, size_t& prune_at);
    follower_position* follower(node_id_t id);
    // The committed ISR is smaller than min.insync.replicas.
    bool isr_too_small() const { return isr_.size() < size_t(std::max(min_insync_, 1)); }
    bool in_isr(node_id_t id) const;

    offset_t hw_;
    offset_t end_;
    offset_t durable_;
    bool fsync_;
    bool durable_in_flight_ = false;
    errc durable_error_ = errc::none;  // set once a durability request failed

    bool leading_ = false;
    node_id_t self_{-1};
    std::vector<node_id_t> replicas_;
    std::vector<node_id_t> isr_;
    int32_t partition_epoch_ = 0;
    int32_t min_insync_ = 1;
    offset_t epoch_start_{0};                   // the log end when this leadership began
    std::vector<follower_position> followers_;  // every replica but self
    std::optional<pending_change> pending_;

    ack_queue local_acks_;
    ack_queue hw_acks_;
    std::vector<std::shared_ptr<wakeup>> waiters_;
    std::vector<std::shared_ptr<wakeup>> end_waiters_;
    // add_waiter drops finished waiters when a list reaches this size, then doubles it.
    size_t prune_at_ = waiters_prune_min;
    size_t end_prune_at_ = waiters_prune_min;
    static constexpr size_t waiters_prune_min = 16;
};

}  // namespace sluice::broker
