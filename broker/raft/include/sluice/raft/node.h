// One member of a Raft quorum, as a pure state machine.
//
// The node does no I/O and reads no clock. Its owner drives it with tick(), step() and the
// proposal calls, and takes what to persist, send and apply with get_ready() (see ready.h for the
// contract). All calls are made from one thread; the node is not thread-safe.
//
// Protocol (docs/raft.md has the full design):
//  - Election with pre-vote: a follower that has not heard from a leader first asks whether it
//    could win, without raising its term; nodes that still hear from a leader refuse. Only with a
//    majority of pre-votes does it raise its term and ask for real votes. A leader that has not
//    been fetched from by a majority within an election timeout steps down (check-quorum).
//  - Replication by fetch: followers and observers pull entries from the leader. The leader
//    answers with entries, a diverging epoch, or a snapshot id; the high watermark rides along.
//    An entry commits when a majority of voters' durable logs hold it and it is of the leader's
//    term; a new leader appends a leader_change entry so that this happens promptly.
//  - Observers are nodes outside the voter set: they fetch and apply, but never vote or campaign.
//  - Voter changes are single-server: one voters entry at a time, in effect once appended.
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sluice/protocol/result.h"
#include "sluice/raft/config.h"
#include "sluice/raft/invariant.h"
#include "sluice/raft/raft_log.h"
#include "sluice/raft/ready.h"

namespace sluice::raft {

class node {
  public:
    // Starts from what the node had durably (an empty persisted_state for a new node), as a
    // follower with no known leader. Requires validate(cfg) to succeed. The application's state
    // machine must be at the snapshot (or empty): committed entries after it are handed out again.
    node(config cfg, persisted_state state);

    // Advances the node's logical clock by one tick.
    void tick();
    // Takes a message addressed to this node. Messages may be late, duplicated or reordered.
    void step(const message& m);

    // Appends application data (leader only). Returns where it went: it is written if the entry
    // committed at that offset has that term (types.h, `proposal`).
    // Errors: not_leader, entry_too_large, uncommitted_entries_max, uncommitted_bytes_max.
    result<proposal> propose(std::string data);
    // Appends a voters entry adding or removing one voter (leader only). Refused while another
    // voter change is uncommitted or before the leader committed an entry of its term. A node
    // may only be added once its fetch position is within fetch_entries_max of the log end.
    result<proposal> propose_add_voter(node_id_t id);
    result<proposal> propose_remove_voter(node_id_t id);

    // The application wrote a snapshot of its state after applying the entries below
    // `id.end_offset` (which must have been handed out in a ready) to a file of `size_bytes`,
    // with the voter set snapshot_voters(id.end_offset); `id.term` must be the term of the entry
    // at id.end_offset - 1. The core drops the log before it and makes the file the node's
    // snapshot through the next ready. Errors: snapshot_out_of_range, snapshot_term_mismatch,
    // snapshot_pending (the file is then not the node's snapshot).
    result<void> compact(snapshot_id id, int64_t size_bytes);
    // The voter set a snapshot ending at `end` must carry: the one in effect there. Requires
    // log().start() <= end <= log().end().
    const std::vector<node_id_t>& snapshot_voters(offset_t end) const {
        return log_.voters_at(end);
    }

    // The file received for the snapshot a ready named in `snap_received` was checked: `ok` if
    // it is that snapshot, whole and undamaged. A good one is installed through the next ready;
    // a bad one (a broken leader, or damage on the way) is dropped, counted in
    // messages_invalid(), and fetched again. A result for any other download is ignored.
    void snapshot_checked(const snapshot_id& id, bool ok);

    // Starts a pre-vote now instead of waiting for the election timeout (voters only).
    void campaign();

    bool has_ready() const;
    ready get_ready();
    // The caller persisted `rd` (and sent and applied it); rd must be the last get_ready().
    void advance(const ready& rd);

    node_id_t id() const { return cfg_.id; }
    term_t term() const { return term_; }
    node_id_t vote() const { return vote_; }
    role current_role() const { return role_; }
    node_id_t leader() const { return leader_; }
    leadership current_leadership() const { return {term_, leader_, role_}; }
    // The high watermark as this node knows it: entries below it are committed.
    offset_t high_watermark() const { return commit_; }
    // Committed entries below this were handed out to apply.
    offset_t applied() const { return applied_; }
    const raft_log& log() const { return log_; }
    const std::vector<node_id_t>& voters() const { return log_.voters(); }
    // In the voter set, with the directory the quorum was formatted with (config).
    bool is_voter() const { return is_voter(cfg_.id, cfg_.directory); }
    // The durable log end offset as the node knows it (entries below were persisted).
    offset_t stable_end() const { return stable_end_; }
    // Messages dropped because messages_max were waiting.
    uint64_t messages_dropped() const { return messages_dropped_; }

    // What a leader knows of one replica that fetches from it (DescribeQuorum).
    struct replica_status {
        node_id_t id = no_node;
        bool voter = false;
        offset_t match{0};  // its log matches ours and is durable below this
        // Ticks since it last fetched, and since a fetch of it was at our log end; -1: never,
        // under this leadership.
        int64_t ticks_since_fetch = -1;
        int64_t ticks_since_caught_up = -1;
    };
    // Leader only (empty otherwise): every voter but this one, and the observers it tracks,
    // by id.
    std::vector<replica_status> replica_statuses() const;
    // Messages dropped because they could not be right: invalid on their face (invalid_reason)
    // or impossible in this node's state (a second leader of its term, a truncation of
    // committed entries). Each means a broken or hostile peer; none aborts the node.
    uint64_t messages_invalid() const { return messages_invalid_; }

  private:
    // Per-replica bookkeeping of a leader.
    struct replica {
        offset_t match{0};    // its log matches ours and is durable below this
        bool active = false;  // fetched since the last check-quorum
        // ticks_ at its last fetch, and at its last fetch from our log end; -1: never.
        int64_t fetched_at = -1;
        int64_t caught_up_at = -1;
    };
    // A snapshot being received in chunks (its bytes go straight to the ready).
    struct download {
        snapshot_id id;
        int64_t received = 0;     // bytes of it handed to the application so far
        int64_t size_bytes = -1;  // as the first chunk said; -1: no chunk yet
        std::vector<node_id_t> voters;
        // Every byte received: the next ready asks for its check (snap_received, `handed`
        // from then on), and it waits for snapshot_checked().
        bool complete = false;
        bool handed = false;
    };

    // Roles (election.cpp).
    void become_follower(term_t term, node_id_t leader);
    void become_pre_candidate();
    void become_candidate();
    void become_leader();
    void follow_hint(node_id_t leader);
    void heard_from_leader();
    bool in_lease() const;
    node_id_t leader_hint() const { return in_lease() ? leader_ : no_node; }
    bool log_up_to_date(offset_t end_offset, term_t last_epoch) const;
    bool refuse_directories(node_id_t candidate, const directory_id& asked,
                            const directory_id& candidate_directory) const;
    bool won(const std::vector<node_id_t>& granted) const;
    // A voter, or a node whose removal from the voters is not committed yet.
    bool may_campaign() const;
    void on_pre_vote_request(node_id_t from, const pre_vote_request& r);
    void on_pre_vote_response(node_id_t from, const pre_vote_response& r);
    void on_vote_request(node_id_t from, const vote_request& r);
    void on_vote_response(node_id_t from, const vote_response& r);
    void on_begin_epoch(node_id_t from);
    void tick_leader();
    void tick_other();

    // Leader side of replication (leader.cpp).
    // `held`: the answer to a fetch held for a long poll (its arrival was counted then; it is
    // not held again); else a fetch that just arrived, which may be held.
    void on_fetch_request(node_id_t from, const fetch_request& r, bool held = false);
    // Answers the held fetches: all of them, or (`expired_only`) those whose wait is over.
    void release_fetches(bool expired_only);
    void on_fetch_snapshot_request(node_id_t from, const fetch_snapshot_request& r);
    replica* track(node_id_t id);
    void maybe_commit();
    void set_commit(offset_t c);
    result<proposal> append_checked(entry e);
    bool voter_change_allowed() const;

    // Follower side of replication (follower.cpp).
    void send_fetch();
    node_id_t fetch_target();
    void on_fetch_response(node_id_t from, const fetch_response& r);
    void on_fetch_snapshot_response(node_id_t from, const fetch_snapshot_response& r);
    // True if it appended (and fetched again).
    bool accept_entries(const fetch_response& r);
    // False (and counted) if `d` would cut committed entries: a broken leader.
    bool truncate_diverging(const epoch_end& d);
    void install_snapshot(snapshot s);
    // Queues downloaded bytes for the next ready (after any still queued for the same file).
    void queue_chunk(const snapshot_id& id, int64_t position, const std::string& bytes);
    void truncate_log(offset_t from);
    // Drops queued fetch requests that name a log end past `end` (the log was cut to it).
    void drop_fetches_past(offset_t end);

    // Shared plumbing (node.cpp).
    void send(node_id_t to, message_body body);
    void reset_election_timer();
    bool is_voter(node_id_t id) const;
    // In the voter set, and `dir` may be its directory: whose vote counts.
    bool is_voter(node_id_t id, const directory_id& dir) const {
        return is_voter(id) && directory_matches(id, dir);
    }
    // config::voter_directories: the directory named for `id` (unknown if none), and whether
    // `dir` may be `id`'s (any, if `id` is not named).
    directory_id directory_of(node_id_t id) const;
    bool directory_matches(node_id_t id, const directory_id& dir) const;
    // True (and counted invalid) if this node leads: a message that only a follower of this
    // term's leader can get came from a second leader of the term, a broken peer.
    bool second_leader();
    size_t majority() const { return log_.voters().size() / 2 + 1; }
    // The commit point written is never above commit_floor_: a crash that keeps the hard state
    // and loses this ready's log writes (separate files) can not leave it pointing past
    // entries that are committed and durable.
    hard_state current_hard_state() const {
        return {term_, SLUICE_RAFT_MUTANT == 3 ? no_node : vote_, std::min(commit_, commit_floor_)};
    }
    uint64_t next_random();

    config cfg_;
    raft_log log_;
    role role_ = role::follower;
    term_t term_{0};
    node_id_t vote_ = no_node;
    node_id_t leader_ = no_node;
    offset_t commit_{0};
    offset_t applied_{0};

    int32_t election_elapsed_ = 0;
    int32_t election_timeout_ = 0;  // randomized in [election_timeout_ticks, 2x)
    int32_t fetch_elapsed_ = 0;
    int32_t leader_contact_elapsed_ = 0;  // since the leader itself last answered us
    int32_t quorum_check_elapsed_ = 0;
    int64_t ticks_ = 0;  // since the start: a clock for replica_statuses()
    uint64_t random_state_ = 0;

    std::vector<node_id_t> granted_;  // votes or pre-votes of the current campaign
    bool self_elected_ = false;       // a lone voter won; it leads once its vote is durable

    std::map<node_id_t, replica> replicas_;  // leader only
    // Leader only: fetches held for a long poll, each with the tick its wait ends.
    struct held_fetch {
        fetch_request request;
        int64_t until = 0;
    };
    std::map<node_id_t, held_fetch> held_;
    int64_t uncommitted_bytes_ = 0;  // leader only: data bytes in [commit_, log end)
    size_t discovery_next_ = 0;      // round robin over voters while the leader is unknown
    std::optional<download> download_;

    std::optional<snapshot> snapshot_;  // the latest snapshot, served to lagging followers

    // Ready bookkeeping.
    bool ready_out_ = false;        // a ready was handed out and not yet advanced
    hard_state handed_hard_;        // the hard state as of the last ready
    leadership handed_leadership_;  // as of the last ready (or of the start)
    // Entries below this are durable as of the last advance() and were not replaced since (a
    // truncation lowers it to its cut, a snapshot that resets the log to the old commit point).
    offset_t commit_floor_{0};
    offset_t handed_end_{0};     // durable log end once every handed-out ready is persisted
    offset_t unstable_from_{0};  // entries at or above this were not yet handed out
    offset_t stable_end_{0};     // the durable log matches ours below this
    offset_t rewrite_floor_{0};  // lowest offset rewritten since the ready out was taken
    std::optional<snapshot> pending_snapshot_;
    bool pending_restore_ = false;
    std::optional<snapshot_chunk> pending_chunk_;  // downloaded bytes for the next ready
    std::vector<message> messages_;
    uint64_t messages_dropped_ = 0;
    uint64_t messages_invalid_ = 0;
};

}  // namespace sluice::raft
