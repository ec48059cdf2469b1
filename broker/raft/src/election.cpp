// Roles, timers and elections: pre-vote, vote, check-quorum.
#include <algorithm>

#include "sluice/raft/invariant.h"
#include "sluice/raft/node.h"

namespace sluice::raft {

void node::become_follower(term_t term, node_id_t leader) {
    SLUICE_RAFT_CHECK(term >= term_);
    if (leader == cfg_.id) {
        // Only a broken peer names this node the leader of a term it does not lead.
        leader = no_node;
    }
    if (term > term_ || leader != leader_) {
        download_.reset();  // a snapshot download belongs to one leader's term
    }
    if (term > term_) {
        term_ = term;
        vote_ = no_node;
    }
    role_ = role::follower;
    leader_ = leader;
    granted_.clear();
    self_elected_ = false;
    replicas_.clear();
    held_.clear();  // their fetchers ask again on their timers
    reset_election_timer();
    leader_contact_elapsed_ = cfg_.election_timeout_ticks;  // until it answers us itself
    // Fetch on the next tick: it tells a new leader we are here and fetches what we miss.
    fetch_elapsed_ = cfg_.fetch_interval_ticks + cfg_.fetch_wait_ticks;
}

void node::follow_hint(node_id_t leader) {
    // Another node of our term names its leader. There is at most one leader per term, so the
    // hint is true or out of date; fetching from it settles which. The election timer keeps
    // running: only an answer from the leader itself proves it is alive.
    if (leader == no_node || leader == cfg_.id || role_ == role::leader) {
        return;
    }
    role_ = role::follower;
    if (leader != leader_) {
        download_.reset();
        leader_contact_elapsed_ = cfg_.election_timeout_ticks;
    }
    leader_ = leader;
    granted_.clear();
    fetch_elapsed_ = cfg_.fetch_interval_ticks + cfg_.fetch_wait_ticks;
}

void node::heard_from_leader() {
    reset_election_timer();
    leader_contact_elapsed_ = 0;
}

bool node::may_campaign() const {
    if (!directory_matches(cfg_.id, cfg_.directory)) {
        return false;  // formatted again: never its old self
    }
    if (is_voter()) {
        return true;
    }
    // Removed by an entry that is not committed yet (as far as this node knows): it may hold
    // entries no remaining voter has (its own removal, appended as leader and kept by a crash),
    // and they would wait for it forever, refused as behind it. So it campaigns until the
    // removal commits, without counting its own vote (Raft dissertation, section 4.2.2).
    const auto last = log_.last_voters_offset();
    if (!last || *last < commit_) {
        return false;
    }
    const auto& before = log_.voters_at(*last);
    return std::find(before.begin(), before.end(), cfg_.id) != before.end();
}

void node::become_pre_candidate() {
    if (!may_campaign()) {
        return;  // observers never campaign
    }
    role_ = role::pre_candidate;
    leader_ = no_node;
    self_elected_ = false;
    download_.reset();
    granted_.assign(1, cfg_.id);
    reset_election_timer();
    if (won(granted_)) {
        become_candidate();
        return;
    }
    for (node_id_t v : log_.voters()) {
        send(v, pre_vote_request{term_ + 1, log_.end(), log_.last_term(), directory_of(v),
                                 cfg_.directory});
    }
}

void node::become_candidate() {
    term_ = term_ + 1;
    vote_ = cfg_.id;
    role_ = role::candidate;
    leader_ = no_node;
    granted_.assign(1, cfg_.id);
    reset_election_timer();
    if (won(granted_)) {
        // A lone voter wins without a message, so nothing waits for its new term to reach the
        // disk: it leads once its vote is durable (advance), or a crash could have it lead the
        // same term again with other entries.
        if (SLUICE_RAFT_MUTANT == 4) {
            become_leader();
            return;
        }
        self_elected_ = true;
        return;
    }
    for (node_id_t v : log_.voters()) {
        send(v, vote_request{term_, log_.end(), log_.last_term(), directory_of(v), cfg_.directory});
    }
}

void node::become_leader() {
    role_ = role::leader;
    leader_ = cfg_.id;
    self_elected_ = false;
    replicas_.clear();
    held_.clear();
    download_.reset();
    quorum_check_elapsed_ = 0;
    uncommitted_bytes_ = 0;
    for (offset_t o = std::max(commit_, log_.start()); o < log_.end(); ++o) {
        uncommitted_bytes_ += static_cast<int64_t>(log_.at(o).data.size());
    }
    // Entries of earlier terms commit only together with one of ours: append one now.
    log_.append(entry{term_, entry_kind::leader_change, {}, {}});
    for (node_id_t v : log_.voters()) {
        send(v, begin_epoch{term_});
    }
    maybe_commit();
}

// A node is in a leader's lease while it heard from that leader within an election timeout.
// Only the leader's own answers count: a hint passed on by others does not, or a dead leader's
// name could keep a quorum from electing a successor.
bool node::in_lease() const {
    return role_ == role::leader ||
           (leader_ != no_node && leader_contact_elapsed_ < cfg_.election_timeout_ticks);
}

bool node::log_up_to_date(offset_t end_offset, term_t last_epoch) const {
    return last_epoch > log_.last_term() ||
           (last_epoch == log_.last_term() && end_offset >= log_.end());
}

bool node::won(const std::vector<node_id_t>& granted) const {
    size_t n = 0;
    for (node_id_t id : granted) {
        n += is_voter(id) ? 1 : 0;
    }
    return n >= majority();
}

// A (pre-)vote request for another directory than ours asks the node this id had before its
// directory was lost (or another one); one from a candidate whose directory is not the one the
// quorum knows comes from a node formatted again, whose old votes may be lost (so it could
// vote for itself twice in a term). Either is refused, and changes nothing here.
bool node::refuse_directories(node_id_t candidate, const directory_id& asked,
                              const directory_id& candidate_directory) const {
    if (SLUICE_RAFT_MUTANT == 5) {
        return false;
    }
    return (asked.known() && asked != cfg_.directory) ||
           !directory_matches(candidate, candidate_directory);
}

void node::on_pre_vote_request(node_id_t from, const pre_vote_request& r) {
    const bool grant = r.term > term_ && !in_lease() &&
                       log_up_to_date(r.end_offset, r.last_epoch) &&
                       !refuse_directories(from, r.voter_directory, r.candidate_directory);
    send(from, pre_vote_response{grant ? r.term : term_, grant, leader_hint(), cfg_.directory});
}

void node::on_pre_vote_response(node_id_t from, const pre_vote_response& r) {
    if (r.granted) {
        // Only voters' grants count, and only those are kept (a flood of others must not grow
        // the list).
        if (role_ == role::pre_candidate && r.term == term_ + 1 && is_voter(from, r.directory)) {
            if (std::find(granted_.begin(), granted_.end(), from) == granted_.end()) {
                granted_.push_back(from);
            }
            if (won(granted_)) {
                become_candidate();
            }
        }
        return;
    }
    if (r.term > term_) {
        become_follower(r.term, r.leader);
        return;
    }
    if (role_ != role::pre_candidate || r.term < term_) {
        return;
    }
    if (r.leader != no_node) {
        follow_hint(r.leader);  // refused because a leader of our term is alive: follow it
        return;
    }
    // A refusal needs no action: the election timer starts the next pre-vote.
}

void node::on_vote_request(node_id_t from, const vote_request& r) {
    // step() has raised our term to r.term if it was newer.
    bool grant = r.term == term_ && (vote_ == no_node || vote_ == from) &&
                 log_up_to_date(r.end_offset, r.last_epoch) &&
                 !refuse_directories(from, r.voter_directory, r.candidate_directory);
    if (grant) {
        vote_ = from;
        reset_election_timer();
        if (role_ == role::pre_candidate) {
            role_ = role::follower;
        }
    }
    send(from, vote_response{term_, grant, leader_hint(), cfg_.directory});
}

void node::on_vote_response(node_id_t from, const vote_response& r) {
    if (role_ != role::candidate) {
        return;
    }
    if (!r.granted || !is_voter(from, r.directory)) {
        // The election timer starts the next pre-vote. Grants of non-voters never count, nor
        // those of a voter's id from another directory (formatted again, its old votes lost).
        return;
    }
    if (std::find(granted_.begin(), granted_.end(), from) == granted_.end()) {
        granted_.push_back(from);
    }
    if (won(granted_)) {
        become_leader();
    }
}

void node::on_begin_epoch(node_id_t from) {
    if (second_leader()) {
        return;
    }
    become_follower(term_, from);
    heard_from_leader();
}

void node::tick_leader() {
    // Check-quorum: a leader that a majority of voters has not fetched from within an election
    // timeout steps down, so a partitioned leader stops taking proposals it can not commit.
    if (!held_.empty()) {
        release_fetches(true);
    }
    if (++quorum_check_elapsed_ < cfg_.election_timeout_ticks) {
        return;
    }
    quorum_check_elapsed_ = 0;
    size_t active = is_voter() ? 1 : 0;
    for (node_id_t v : log_.voters()) {
        auto it = replicas_.find(v);
        if (v != cfg_.id && it != replicas_.end() && it->second.active) {
            ++active;
        }
    }
    for (auto& [id, r] : replicas_) {
        r.active = false;
    }
    if (active < majority()) {
        become_follower(term_, no_node);
    }
}

void node::tick_other() {
    ++election_elapsed_;
    leader_contact_elapsed_ = std::min(leader_contact_elapsed_ + 1, cfg_.election_timeout_ticks);
    // Long polling, a fetch waits at the leader up to fetch_wait_ticks: ask again only after.
    if (role_ != role::candidate &&
        ++fetch_elapsed_ >= cfg_.fetch_interval_ticks + cfg_.fetch_wait_ticks) {
        send_fetch();
    }
    if (election_elapsed_ < election_timeout_) {
        return;
    }
    if (may_campaign()) {
        become_pre_candidate();
    } else {
        // An observer that lost its leader looks for the new one among the voters.
        leader_ = no_node;
        download_.reset();
        reset_election_timer();
    }
}

}  // namespace sluice::raft
