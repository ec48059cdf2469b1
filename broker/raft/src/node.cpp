// Construction, dispatch of ticks and messages, and the Ready/Advance bookkeeping.
#include "sluice/raft/node.h"

#include <algorithm>
#include <utility>

#include "sluice/raft/invariant.h"

namespace sluice::raft {
namespace {

// The node a message names as the leader of its term, if its sender knows one.
node_id_t leader_named_by(const message& m) {
    if (std::holds_alternative<begin_epoch>(m.body)) {
        return m.from;
    }
    if (const auto* r = std::get_if<fetch_response>(&m.body)) {
        return r->error == fetch_error::none ? m.from : r->leader;
    }
    if (const auto* r = std::get_if<fetch_snapshot_response>(&m.body)) {
        return r->found ? m.from : r->leader;
    }
    if (const auto* r = std::get_if<vote_response>(&m.body)) {
        return r->leader;
    }
    return no_node;
}

}  // namespace

node::node(config cfg, persisted_state state) : cfg_(std::move(cfg)), log_(cfg_.bootstrap_voters) {
    SLUICE_RAFT_CHECK(validate(cfg_).has_value());
    random_state_ = cfg_.random_seed ^ (static_cast<uint64_t>(cfg_.id.value()) << 32);
    if (state.snap) {
        log_.reset(state.snap->id, state.snap->voters);
        snapshot_ = std::move(state.snap);
    }
    for (entry& e : state.entries) {
        log_.append(std::move(e));
    }
    term_ = state.hard.term;
    vote_ = state.hard.vote;
    // A crash can keep entries of a term whose hard state did not reach the disk. The node was
    // in that term, and no vote of it was ever sent (the vote was not durable), so it may
    // resume the term without a vote.
    if (log_.last_term() > term_) {
        term_ = log_.last_term();
        vote_ = no_node;
    }
    // The recorded commit point is a lower bound that never passes the log durable before the
    // ready that wrote it (commit_floor_); a disk that lost more than that still must not make
    // it pass the log found here. The rest is learnt again from the leader.
    commit_ = std::clamp(state.hard.commit, log_.start(), log_.end());
    applied_ = log_.start();
    handed_hard_ = state.hard;
    handed_end_ = unstable_from_ = stable_end_ = log_.end();
    commit_floor_ = log_.end();
    rewrite_floor_ = offset_t::max();
    reset_election_timer();
    leader_contact_elapsed_ = cfg_.election_timeout_ticks;
    handed_leadership_ = current_leadership();
}

void node::tick() {
    ++ticks_;
    if (role_ == role::leader) {
        tick_leader();
    } else {
        tick_other();
    }
}

void node::step(const message& m) {
    if (m.to != cfg_.id || m.from == cfg_.id) {
        return;
    }
    if (invalid_reason(m, cfg_.voters_max)) {
        ++messages_invalid_;
        return;
    }
    const term_t t = term_of(m);
    // Pre-votes never change a term; votes are refused without a term change while this node
    // still hears from a leader, which is what keeps a rejoining node from deposing it.
    if (const auto* r = std::get_if<pre_vote_request>(&m.body)) {
        on_pre_vote_request(m.from, *r);
        return;
    }
    if (const auto* r = std::get_if<pre_vote_response>(&m.body)) {
        on_pre_vote_response(m.from, *r);
        return;
    }
    if (const auto* r = std::get_if<vote_request>(&m.body)) {
        // A request for another directory, or from a candidate formatted again, is refused
        // before its term is taken: it changes nothing here.
        if (t > term_ && (in_lease() ||
                          refuse_directories(m.from, r->voter_directory, r->candidate_directory))) {
            send(m.from, vote_response{term_, false, leader_hint(), cfg_.directory});
            return;
        }
        if (t > term_) {
            become_follower(t, no_node);
        }
        on_vote_request(m.from, *r);
        return;
    }
    if (t > term_) {
        become_follower(t, leader_named_by(m));
    } else if (t < term_) {
        // A stale peer: answer its requests so that it learns the newer term, drop the rest.
        if (const auto* r = std::get_if<fetch_request>(&m.body)) {
            send(m.from, fetch_response{term_, leader_hint(), fetch_error::fenced_epoch,
                                        r->fetch_offset, r->last_fetched_epoch, commit_});
        } else if (const auto* s = std::get_if<fetch_snapshot_request>(&m.body)) {
            send(m.from, fetch_snapshot_response{term_, leader_hint(), s->id, false});
        }
        return;
    }
    std::visit(
        [&](const auto& b) {
            using T = std::decay_t<decltype(b)>;
            if constexpr (std::is_same_v<T, vote_response>) {
                on_vote_response(m.from, b);
            } else if constexpr (std::is_same_v<T, begin_epoch>) {
                on_begin_epoch(m.from);
            } else if constexpr (std::is_same_v<T, fetch_request>) {
                on_fetch_request(m.from, b);
            } else if constexpr (std::is_same_v<T, fetch_response>) {
                on_fetch_response(m.from, b);
            } else if constexpr (std::is_same_v<T, fetch_snapshot_request>) {
                on_fetch_snapshot_request(m.from, b);
            } else if constexpr (std::is_same_v<T, fetch_snapshot_response>) {
                on_fetch_snapshot_response(m.from, b);
            }
        },
        m.body);
}

bool node::second_leader() {
    if (role_ != role::leader) {
        return false;
    }
    ++messages_invalid_;
    return true;
}

void node::campaign() {
    if (role_ != role::leader) {
        become_pre_candidate();
    }
}

bool node::has_ready() const {
    if (ready_out_) {
        return false;
    }
    return current_hard_state() != handed_hard_ || handed_leadership_ != current_leadership() ||
           pending_snapshot_.has_value() || pending_chunk_.has_value() ||
           (download_ && download_->complete && !download_->handed) ||
           unstable_from_ < log_.end() || unstable_from_ < handed_end_ || !messages_.empty() ||
           applied_ < commit_;
}

ready node::get_ready() {
    SLUICE_RAFT_CHECK(!ready_out_);
    ready rd;
    const hard_state hs = current_hard_state();
    if (hs != handed_hard_) {
        rd.hard = hs;
        handed_hard_ = hs;
    }
    if (handed_leadership_ != current_leadership()) {
        rd.leader = current_leadership();
        handed_leadership_ = *rd.leader;
    }
    if (pending_chunk_) {
        rd.snap_chunk = std::move(pending_chunk_);
        pending_chunk_.reset();
    }
    if (download_ && download_->complete && !download_->handed) {
        download_->handed = true;  // only this download's check counts
        rd.snap_received = snapshot{download_->id, download_->voters, download_->size_bytes};
    }
    if (pending_snapshot_) {
        rd.snap = std::move(pending_snapshot_);
        rd.restore_snapshot = pending_restore_;
        pending_snapshot_.reset();
        pending_restore_ = false;
    }
    if (unstable_from_ < handed_end_) {
        rd.truncate_to = unstable_from_;
    }
    rd.entries_offset = std::max(unstable_from_, log_.start());
    for (offset_t o = rd.entries_offset; o < log_.end(); ++o) {
        rd.entries.push_back(log_.at(o));
    }
    rd.messages = std::move(messages_);
    messages_.clear();
    SLUICE_RAFT_CHECK(applied_ >= log_.start());
    const offset_t apply_end = std::min(commit_, applied_ + cfg_.apply_entries_max);
    rd.committed_offset = applied_;
    for (offset_t o = applied_; o < apply_end; ++o) {
        rd.committed.push_back(log_.at(o));
    }
    applied_ = std::max(applied_, apply_end);
    rd.log_end_offset = log_.end();
    handed_end_ = unstable_from_ = log_.end();
    rewrite_floor_ = offset_t::max();
    ready_out_ = true;
    return rd;
}

void node::advance(const ready& rd) {
    SLUICE_RAFT_CHECK(ready_out_);
    ready_out_ = false;
    // Entries rewritten after this ready was taken are not durable in their new form.
    stable_end_ = std::min(rd.log_end_offset, rewrite_floor_);
    commit_floor_ = stable_end_;
    maybe_commit();
    if (self_elected_ && role_ == role::candidate && handed_hard_.term == term_ &&
        handed_hard_.vote == cfg_.id) {
        become_leader();  // its term and vote are durable now
    }
}

void node::send(node_id_t to, message_body body) {
    if (to == cfg_.id || to == no_node) {
        return;
    }
    if (static_cast<int64_t>(messages_.size()) >= cfg_.messages_max) {
        ++messages_dropped_;
        return;
    }
    messages_.push_back(message{cfg_.id, to, std::move(body)});
}

void node::reset_election_timer() {
    election_elapsed_ = 0;
    const auto base = static_cast<uint64_t>(cfg_.election_timeout_ticks);
    election_timeout_ = static_cast<int32_t>(base + next_random() % base);
}

bool node::is_voter(node_id_t id) const {
    const auto& v = log_.voters();
    return std::binary_search(v.begin(), v.end(), id);
}

directory_id node::directory_of(node_id_t id) const {
    for (const auto& [voter, dir] : cfg_.voter_directories) {
        if (voter == id) {
            return dir;
        }
    }
    return {};
}

bool node::directory_matches(node_id_t id, const directory_id& dir) const {
    if (SLUICE_RAFT_MUTANT == 5) {
        return true;
    }
    const directory_id named = directory_of(id);
    return !named.known() || named == dir;  // a node not named is not checked
}

uint64_t node::next_random() {
    // splitmix64: small, fast, and the same on every platform.
    uint64_t z = (random_state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

}  // namespace sluice::raft
