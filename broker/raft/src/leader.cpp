// The leader's side of replication: answering fetches, counting commitment, taking proposals.
#include <algorithm>
#include <optional>
#include <utility>

#include "sluice/raft/errc.h"
#include "sluice/raft/invariant.h"
#include "sluice/raft/node.h"

namespace sluice::raft {

node::replica* node::track(node_id_t id) {
    auto it = replicas_.find(id);
    if (it != replicas_.end()) {
        return &it->second;
    }
    if (!is_voter(id)) {
        const auto observers = std::count_if(replicas_.begin(), replicas_.end(),
                                             [&](const auto& kv) { return !is_voter(kv.first); });
        if (observers >= cfg_.observers_max) {
            return nullptr;  // served, but not tracked
        }
    }
    return &replicas_[id];
}

std::vector<node::replica_status> node::replica_statuses() const {
    std::vector<replica_status> out;
    if (role_ != role::leader) {
        return out;
    }
    auto since = [&](int64_t at) { return at < 0 ? int64_t{-1} : ticks_ - at; };
    for (node_id_t v : log_.voters()) {
        if (v != cfg_.id && !replicas_.contains(v)) {
            out.push_back({v, true, offset_t{0}, -1, -1});
        }
    }
    for (const auto& [id, r] : replicas_) {
        if (id != cfg_.id) {
            out.push_back({id, is_voter(id), r.match, since(r.fetched_at), since(r.caught_up_at)});
        }
    }
    std::sort(out.begin(), out.end(),
              [](const replica_status& a, const replica_status& b) { return a.id < b.id; });
    return out;
}

void node::on_fetch_request(node_id_t from, const fetch_request& r, bool held) {
    if (role_ != role::leader) {
        send(from, fetch_response{term_, leader_hint(), fetch_error::not_leader, r.fetch_offset,
                                  r.last_fetched_epoch, commit_});
        return;
    }
    // A held fetch's arrival was counted (check-quorum, DescribeQuorum's times, its match).
    replica* rep = held ? nullptr : track(from);
    // A newer fetch of a node takes the place of the one held for it (and keeps its deadline,
    // so fetches that keep coming are still answered in time); a late copy of an older one is
    // answered and leaves the held one alone.
    std::optional<int64_t> held_until;
    if (!held) {
        if (auto it = held_.find(from); it != held_.end() &&
                                        r.fetch_offset >= it->second.request.fetch_offset &&
                                        r.high_watermark >= it->second.request.high_watermark) {
            held_until = it->second.until;
            held_.erase(it);
        }
    }
    if (rep != nullptr) {
        rep->active = true;
        rep->fetched_at = ticks_;
        if (r.fetch_offset >= log_.end()) {
            rep->caught_up_at = ticks_;
        }
    }
    fetch_response resp{term_,  cfg_.id, fetch_error::none, r.fetch_offset, r.last_fetched_epoch,
                        commit_};
    // Where does the fetcher's log stop agreeing with ours? (KRaft's validation: the epoch it
    // last fetched must end, in our log, at or after its fetch offset.)
    std::optional<epoch_end> ours;
    if (r.fetch_offset >= log_.start()) {
        ours = log_.end_offset_for_epoch(r.last_fetched_epoch);
    }
    if (!ours) {
        if (!snapshot_) {
            ++messages_invalid_;  // below a log start that no snapshot explains: not our log
            return;
        }
        resp.snapshot = snapshot_->id;
        send(from, std::move(resp));
        return;
    }
    if (ours->epoch != r.last_fetched_epoch || ours->end_offset < r.fetch_offset) {
        resp.diverging = *ours;
        send(from, std::move(resp));
        return;
    }
    // The fetcher's log equals ours below fetch_offset, and is durable there: it sent this
    // request only after persisting.
    if (rep != nullptr && r.fetch_offset > rep->match) {
        rep->match = r.fetch_offset;
        maybe_commit();
        if (role_ != role::leader) {
            return;  // we just committed our own removal
        }
    }
    // Nothing new for it: held until an entry is appended, the commit point moves, or the wait
    // is over. Only tracked fetchers (voters, observers up to observers_max): held_ stays
    // bounded.
    if (!held && rep != nullptr && cfg_.fetch_wait_ticks > 0 && r.fetch_offset == log_.end() &&
        r.high_watermark >= commit_ && !held_.contains(from)) {
        const int64_t until = ticks_ + cfg_.fetch_wait_ticks;
        held_[from] = held_fetch{r, held_until ? std::min(*held_until, until) : until};
        return;
    }
    resp.high_watermark = commit_;
    int64_t bytes = 0;
    for (offset_t o = r.fetch_offset;
         o < log_.end() && static_cast<int64_t>(resp.entries.size()) < cfg_.fetch_entries_max;
         ++o) {
        const entry& e = log_.at(o);
        const auto size = static_cast<int64_t>(e.data.size());
        if (!resp.entries.empty() && bytes + size > cfg_.fetch_bytes_max) {
            break;
        }
        bytes += size;
        resp.entries.push_back(e);
    }
    send(from, std::move(resp));
}

void node::release_fetches(bool expired_only) {
    if (role_ != role::leader) {
        held_.clear();
        return;
    }
    std::vector<std::pair<node_id_t, fetch_request>> due;
    for (auto it = held_.begin(); it != held_.end();) {
        if (!expired_only || it->second.until <= ticks_) {
            due.emplace_back(it->first, it->second.request);
            it = held_.erase(it);
        } else {
            ++it;
        }
    }
    for (const auto& [from, r] : due) {
        if (role_ == role::leader) {
            on_fetch_request(from, r, true);
        }
    }
}

void node::on_fetch_snapshot_request(node_id_t from, const fetch_snapshot_request& r) {
    if (role_ != role::leader) {
        send(from, fetch_snapshot_response{term_, leader_hint(), r.id, false});
        return;
    }
    if (replica* rep = track(from); rep != nullptr) {
        rep->active = true;
    }
    fetch_snapshot_response resp{term_, cfg_.id, r.id, false};
    if (snapshot_ && snapshot_->id == r.id && r.position_bytes >= 0 &&
        r.position_bytes <= snapshot_->size_bytes) {
        // The caller fills in the chunk from the snapshot's file when it sends (ready.h).
        resp.found = true;
        resp.position_bytes = r.position_bytes;
        resp.size_bytes = snapshot_->size_bytes;
        resp.voters = snapshot_->voters;
    }
    send(from, std::move(resp));
}

void node::maybe_commit() {
    if (role_ != role::leader) {
        return;
    }
    // The largest offset below which a majority of voters' durable logs match ours. Our own
    // copy counts only once persisted (stable_end_).
    std::vector<offset_t> positions;
    for (node_id_t v : log_.voters()) {
        if (v == cfg_.id) {
            positions.push_back(SLUICE_RAFT_MUTANT == 2 ? log_.end() : stable_end_);
        } else {
            auto it = replicas_.find(v);
            positions.push_back(it == replicas_.end() ? offset_t{0} : it->second.match);
        }
    }
    std::sort(positions.begin(), positions.end(), std::greater<>());
    const offset_t candidate = positions[majority() - 1];
    // Only an entry of our own term commits by counting (Raft, section 5.4.2).
    if (candidate > commit_ && log_.term_at(candidate - 1) == term_) {
        set_commit(candidate);
    }
    // A leader that removed itself leads until the removal commits, then resigns.
    const auto last_voters = log_.last_voters_offset();
    if (!is_voter() && (!last_voters || *last_voters < commit_)) {
        become_follower(term_, no_node);
    }
}

void node::set_commit(offset_t c) {
    SLUICE_RAFT_CHECK(c > commit_ && c <= log_.end());
    if (role_ == role::leader) {
        for (offset_t o = std::max(commit_, log_.start()); o < c; ++o) {
            uncommitted_bytes_ -= static_cast<int64_t>(log_.at(o).data.size());
        }
    }
    commit_ = c;
    if (role_ == role::leader && !held_.empty()) {
        release_fetches(false);  // the held fetches learn the new commit point
    }
}

result<proposal> node::append_checked(entry e) {
    if (role_ != role::leader) {
        return errc::not_leader;
    }
    const auto size = static_cast<int64_t>(e.data.size());
    if (size > cfg_.entry_bytes_max) {
        return errc::entry_too_large;
    }
    if (log_.end() - commit_ >= cfg_.uncommitted_entries_max) {
        return errc::uncommitted_entries_max;
    }
    if (uncommitted_bytes_ + size > cfg_.uncommitted_bytes_max) {
        return errc::uncommitted_bytes_max;
    }
    e.term = term_;
    const offset_t at = log_.end();
    uncommitted_bytes_ += size;
    log_.append(std::move(e));
    release_fetches(false);  // the held fetches get the new entry
    return proposal{at, term_};
}

result<proposal> node::propose(std::string data) {
    return append_checked(entry{term_, entry_kind::data, std::move(data), {}});
}

bool node::voter_change_allowed() const {
    // One change at a time, and not before the leader committed an entry of its own term: an
    // earlier leader's uncommitted change could otherwise still be overwritten (the
    // single-server change fix described on the Raft mailing list in 2015).
    const auto last = log_.last_voters_offset();
    return (SLUICE_RAFT_MUTANT == 1 || log_.term_at(commit_ - 1) == term_) &&
           (!last || *last < commit_);
}

result<proposal> node::propose_add_voter(node_id_t id) {
    if (role_ != role::leader) {
        return errc::not_leader;
    }
    if (!voter_change_allowed()) {
        return errc::voter_change_pending;
    }
    if (is_voter(id)) {
        return errc::already_voter;
    }
    std::vector<node_id_t> voters = log_.voters();
    if (static_cast<int64_t>(voters.size()) >= cfg_.voters_max) {
        return errc::voters_max;
    }
    // A voter that must first fetch the whole log would stall commitment meanwhile.
    auto it = replicas_.find(id);
    if (it == replicas_.end() || log_.end() - it->second.match > cfg_.fetch_entries_max) {
        return errc::voter_not_caught_up;
    }
    voters.push_back(id);
    std::sort(voters.begin(), voters.end());
    auto r = append_checked(entry{term_, entry_kind::voters, {}, std::move(voters)});
    maybe_commit();
    return r;
}

result<proposal> node::propose_remove_voter(node_id_t id) {
    if (role_ != role::leader) {
        return errc::not_leader;
    }
    if (!voter_change_allowed()) {
        return errc::voter_change_pending;
    }
    if (!is_voter(id)) {
        return errc::not_voter;
    }
    std::vector<node_id_t> voters = log_.voters();
    if (voters.size() == 1) {
        return errc::last_voter;
    }
    voters.erase(std::find(voters.begin(), voters.end(), id));
    auto r = append_checked(entry{term_, entry_kind::voters, {}, std::move(voters)});
    maybe_commit();
    return r;
}

result<void> node::compact(snapshot_id id, int64_t size_bytes) {
    if (pending_snapshot_) {
        return errc::snapshot_pending;
    }
    if (id.end_offset <= log_.start() || id.end_offset > applied_ || size_bytes < 1) {
        return errc::snapshot_out_of_range;
    }
    if (log_.term_at(id.end_offset - 1) != id.term) {
        return errc::snapshot_term_mismatch;
    }
    // Handed-out committed entries were handed out together with (or after) their own
    // persistence, so nothing below the snapshot waits to be written.
    SLUICE_RAFT_CHECK(unstable_from_ >= id.end_offset);
    snapshot s{id, log_.voters_at(id.end_offset), size_bytes};
    log_.compact(id.end_offset);
    snapshot_ = s;
    pending_snapshot_ = std::move(s);
    pending_restore_ = false;
    return success();
}

}  // namespace sluice::raft
