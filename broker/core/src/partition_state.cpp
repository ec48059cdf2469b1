#include "sluice/core/partition_state.h"

#include <algorithm>
#include <cassert>

namespace sluice::broker {

partition_state::partition_state(offset_t log_end, offset_t high_watermark, bool fsync_mode)
    : hw_(std::min(high_watermark, log_end)),
      end_(log_end),
      durable_(log_end),
      fsync_(fsync_mode) {}

partition_state::partition_state(offset_t log_end, bool fsync_mode)
    : partition_state(log_end, log_end, fsync_mode) {
    const node_id_t self{-1};
    become_leader({self, {self}, {self}, 0, 1}, time_point{});
}

void partition_state::appended(offset_t end) {
    assert(end >= end_);
    end_ = end;
    if (!fsync_) {
        durable_ = end;
    }
    wake_all(end_waiters_, end_prune_at_);
    positions_changed();
}

std::optional<offset_t> partition_state::take_durable_request() {
    if (!fsync_ || durable_in_flight_ || durable_ >= end_ || durable_error_ != errc::none) {
        return std::nullopt;
    }
    durable_in_flight_ = true;
    return end_;
}

void partition_state::durable(offset_t end) {
    durable_in_flight_ = false;
    durable_ = std::max(durable_, std::min(end, end_));
    positions_changed();
}

void partition_state::durable_failed(errc e) {
    durable_in_flight_ = false;
    durable_error_ = e;
    fail_acks(e);
}

void partition_state::truncated(offset_t end) {
    end_ = std::min(end_, end);
    durable_ = std::min(durable_, end_);
    hw_ = std::min(hw_, end_);
    fail_local_acks();
}

void partition_state::restarted(offset_t at) {
    // An empty log: nothing in it waits for an fsync.
    end_ = at;
    durable_ = at;
    hw_ = std::min(hw_, at);
    fail_local_acks();
}

void partition_state::fail_local_acks() {
    // Only a follower's fetcher waits here (for its appends' fsync); the offsets it waited for
    // are gone, so it fetches again.
    auto local = std::move(local_acks_);
    local_acks_.clear();
    for (auto& [target, done] : local) {
        done(errc::offset_out_of_range);
    }
}

void partition_state::become_leader(const replica_assignment& a, time_point now) {
    leading_ = true;
    self_ = a.self;
    replicas_ = a.replicas;
    isr_ = a.isr;
    partition_epoch_ = a.partition_epoch;
    min_insync_ = a.min_insync;
    epoch_start_ = end_;
    pending_.reset();
    followers_.clear();
    set_followers(now);
    positions_changed();
}

void partition_state::update_assignment(const replica_assignment& a, time_point now) {
    const auto old_isr = isr_;
    replicas_ = a.replicas;
    isr_ = a.isr;
    min_insync_ = a.min_insync;
    if (pending_ && a.partition_epoch > pending_->proposal.partition_epoch) {
        pending_.reset();  // the image decided it, one way or the other
    }
    partition_epoch_ = a.partition_epoch;
    if (!leading_) {
        return;
    }
    set_followers(now);
    for (auto& f : followers_) {
        const bool was_in = std::find(old_isr.begin(), old_isr.end(), f.id) != old_isr.end();
        if (in_isr(f.id) && !was_in) {
            // A member the controller added counts as caught up from now.
            f.last_caught_up = std::max(f.last_caught_up, now);
        } else if (!in_isr(f.id) && was_in) {
            // One the controller took out (fenced, or back from an unclean shutdown) may have
            // lost what it had: only its fetches from now on count (a position from before
            // would let the expansion rule add it back at once).
            f = follower_position{f.id};
        }
    }
    positions_changed();
}

void partition_state::become_follower() {
    leading_ = false;
    pending_.reset();
    followers_.clear();
    abort_all(errc::not_leader_or_follower);
}

void partition_state::leader_high_watermark(offset_t hw) {
    if (leading_) {
        return;
    }
    // Below its own log end a follower's high watermark names records an earlier leader
    // committed, which every later in-sync leader holds: it never goes back (but truncation).
    hw_ = std::max(hw_, std::min(hw, end_));
}

errc partition_state::check_acks_all() const {
    if (leading_ && isr_too_small()) {
        return errc::not_enough_replicas;
    }
    return errc::none;
}

void partition_state::follower_fetched(node_id_t id, offset_t fetch_offset, time_point now) {
    if (!leading_) {
        return;
    }
    follower_position* f = follower(id);
    if (f == nullptr) {
        return;
    }
    // Kafka's lastCaughtUpTime: caught up now if it asked for our log end; caught up as of its
    // previous fetch if it asked for what our log end was then.
    if (fetch_offset >= end_) {
        f->last_caught_up = std::max(f->last_caught_up, now);
    } else if (fetch_offset >= f->leader_end_at_last_fetch) {
        f->last_caught_up = std::max(f->last_caught_up, f->last_fetch);
    }
    f->leader_end_at_last_fetch = end_;
    f->last_fetch = now;
    f->end = std::min(fetch_offset, end_);
    positions_changed();
}

std::optional<isr_proposal> partition_state::propose_isr(time_point now,
                                                         std::chrono::milliseconds lag_max) {
    if (!leading_ || pending_) {
        return std::nullopt;
    }
    std::vector<node_id_t> kept;
    bool shrink = false;
    for (node_id_t m : isr_) {
        const follower_position* f = m == self_ ? nullptr : follower(m);
        if (m != self_ && (f == nullptr || now - f->last_caught_up > lag_max)) {
            shrink = true;
        } else {
            kept.push_back(m);
        }
    }
    if (shrink) {
        if (std::find(kept.begin(), kept.end(), self_) == kept.end()) {
            kept.insert(kept.begin(), self_);  // a leader is always in its own ISR
        }
        pending_ = pending_change{{kept, partition_epoch_}, {}};
        return pending_->proposal;
    }
    std::vector<node_id_t> added;
    for (const auto& f : followers_) {
        // Caught up recently, not only once: a follower that stopped fetching keeps its last
        // position, which may still reach the high watermark (Kafka's isCaughtUp).
        if (!in_isr(f.id) && f.end >= offset_t{0} && f.end >= hw_ && f.end >= epoch_start_ &&
            now - f.last_caught_up <= lag_max) {
            added.push_back(f.id);
        }
    }
    if (added.empty()) {
        return std::nullopt;
    }
    std::vector<node_id_t> grown;
    for (node_id_t r : replicas_) {
        if (in_isr(r) || r == self_ || std::find(added.begin(), added.end(), r) != added.end()) {
            grown.push_back(r);
        }
    }
    pending_ = pending_change{{grown, partition_epoch_}, std::move(added)};
    return pending_->proposal;
}

void partition_state::isr_proposal_failed(const isr_proposal& p) {
    if (!pending_ || pending_->proposal != p) {
        return;
    }
    pending_.reset();
    positions_changed();  // members it would have added no longer hold the high watermark
}

void partition_state::wait_for_local(offset_t target, ack_callback done) {
    if (local_end() >= target) {
        done(errc::none);
        return;
    }
    if (durable_error_ != errc::none) {
        done(durable_error_);
        return;
    }
    // Targets come from appends in log order, so they never decrease; the queue relies on it.
    assert(local_acks_.empty() || local_acks_.back().first <= target);
    local_acks_.emplace_back(target, std::move(done));
}

void partition_state::wait_for_hw(offset_t target, ack_callback done) {
    if (hw_ >= target) {
        done(isr_too_small() ? errc::not_enough_replicas_after_append : errc::none);
        return;
    }
    if (durable_error_ != errc::none) {
        done(durable_error_);
        return;
    }
    assert(hw_acks_.empty() || hw_acks_.back().first <= target);
    hw_acks_.emplace_back(target, std::move(done));
}

void partition_state::add_waiter(std::shared_ptr<wakeup> w) {
    add_to(waiters_, prune_at_, std::move(w));
}

void partition_state::add_end_waiter(std::shared_ptr<wakeup> w) {
    add_to(end_waiters_, end_prune_at_, std::move(w));
}

void partition_state::add_to(std::vector<std::shared_ptr<wakeup>>& list, size_t& prune_at,
                             std::shared_ptr<wakeup> w) {
    if (list.size() >= prune_at) {
        std::erase_if(list, [](const auto& x) { return x->done(); });
        prune_at = std::max(waiters_prune_min, list.size() * 2);
    }
    list.push_back(std::move(w));
}

void partition_state::wake_all(std::vector<std::shared_ptr<wakeup>>& list, size_t& prune_at) {
    if (list.empty()) {
        return;
    }
    auto ws = std::move(list);
    list.clear();
    prune_at = waiters_prune_min;
    for (auto& w : ws) {
        if (!w->done()) {
            w->wake();
        }
    }
}

void partition_state::abort_all(errc e) {
    fail_acks(e);
    wake_all(waiters_, prune_at_);
    wake_all(end_waiters_, end_prune_at_);
}

void partition_state::fail_acks(errc e) {
    auto local = std::move(local_acks_);
    auto hw = std::move(hw_acks_);
    local_acks_.clear();
    hw_acks_.clear();
    for (auto& [target, done] : local) {
        done(e);
    }
    for (auto& [target, done] : hw) {
        done(e);
    }
}

void partition_state::set_followers(time_point now) {
    std::vector<follower_position> next;
    for (node_id_t r : replicas_) {
        if (r == self_) {
            continue;
        }
        if (const follower_position* f = follower(r)) {
            next.push_back(*f);
            continue;
        }
        follower_position f;
        f.id = r;
        if (in_isr(r)) {
            f.last_caught_up = now;  // a member keeps its place until it has had time to fetch
        }
        next.push_back(f);
    }
    followers_ = std::move(next);
}

void partition_state::positions_changed() {
    const offset_t local = local_end();
    if (!local_acks_.empty() && local_acks_.front().first <= local) {
        std::vector<ack_callback> ready;
        while (!local_acks_.empty() && local_acks_.front().first <= local) {
            ready.push_back(std::move(local_acks_.front().second));
            local_acks_.pop_front();
        }
        for (auto& done : ready) {
            done(errc::none);
        }
    }
    if (!leading_) {
        return;
    }
    offset_t candidate = local;
    for (const auto& f : followers_) {
        const bool counted =
            in_isr(f.id) || (pending_ && std::find(pending_->added.begin(), pending_->added.end(),
                                                   f.id) != pending_->added.end());
        if (counted) {
            candidate = std::min(candidate, f.end);
        }
    }
    advance_hw(candidate);
}

void partition_state::advance_hw(offset_t to) {
    if (to <= hw_) {
        return;
    }
    hw_ = to;
    if (hw_acks_.empty() && waiters_.empty()) {
        return;  // the common case of an append nobody waits on
    }
    const errc outcome = isr_too_small() ? errc::not_enough_replicas_after_append : errc::none;
    std::vector<ack_callback> ready;
    while (!hw_acks_.empty() && hw_acks_.front().first <= hw_) {
        ready.push_back(std::move(hw_acks_.front().second));
        hw_acks_.pop_front();
    }
    for (auto& done : ready) {
        done(outcome);
    }
    wake_all(waiters_, prune_at_);
}

follower_position* partition_state::follower(node_id_t id) {
    for (auto& f : followers_) {
        if (f.id == id) {
            return &f;
        }
    }
    return nullptr;
}

bool partition_state::in_isr(node_id_t id) const {
    return std::find(isr_.begin(), isr_.end(), id) != isr_.end();
}

}  // namespace sluice::broker
