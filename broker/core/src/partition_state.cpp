#include "sluice/core/partition_state.h"

#include <algorithm>
#include <cassert>

namespace sluice::broker {

partition_state::partition_state(offset_t log_end, bool fsync_mode)
    : hw_(log_end), end_(log_end), fsync_(fsync_mode) {}

void partition_state::appended(offset_t end) {
    assert(end >= end_);
    end_ = end;
    if (!fsync_) {
        advance_hw(end);
    }
}

std::optional<offset_t> partition_state::take_durable_request() {
    if (!fsync_ || durable_in_flight_ || hw_ >= end_ || durable_error_ != errc::none) {
        return std::nullopt;
    }
    durable_in_flight_ = true;
    return end_;
}

void partition_state::durable(offset_t end) {
    durable_in_flight_ = false;
    advance_hw(std::min(end, end_));
}

void partition_state::durable_failed(errc e) {
    durable_in_flight_ = false;
    durable_error_ = e;
    fail_acks(e);
}

void partition_state::fail_acks(errc e) {
    auto acks = std::move(acks_);
    acks_.clear();
    for (auto& [target, done] : acks) {
        done(e);
    }
}

void partition_state::wait_for_hw(offset_t target, ack_callback done) {
    if (hw_ >= target) {
        done(errc::none);
        return;
    }
    if (durable_error_ != errc::none) {
        done(durable_error_);
        return;
    }
    // Targets come from appends in log order, so they never decrease; advance_hw relies on it.
    assert(acks_.empty() || acks_.back().first <= target);
    acks_.emplace_back(target, std::move(done));
}

void partition_state::add_waiter(std::shared_ptr<wakeup> w) {
    if (waiters_.size() >= prune_at_) {
        std::erase_if(waiters_, [](const auto& x) { return x->done(); });
        prune_at_ = std::max(waiters_prune_min, waiters_.size() * 2);
    }
    waiters_.push_back(std::move(w));
}

void partition_state::abort_all(errc e) {
    fail_acks(e);
    auto ws = std::move(waiters_);
    waiters_.clear();
    for (auto& w : ws) {
        w->wake();
    }
}

void partition_state::advance_hw(offset_t to) {
    if (to <= hw_) {
        return;
    }
    if (acks_.empty() && waiters_.empty()) {
        hw_ = to;  // the common case of an append nobody waits on
        return;
    }
    hw_ = to;
    std::vector<ack_callback> ready;
    while (!acks_.empty() && acks_.front().first <= hw_) {
        ready.push_back(std::move(acks_.front().second));
        acks_.pop_front();
    }
    auto ws = std::move(waiters_);
    waiters_.clear();
    prune_at_ = waiters_prune_min;
    for (auto& done : ready) {
        done(errc::none);
    }
    for (auto& w : ws) {
        if (!w->done()) {
            w->wake();
        }
    }
}

}  // namespace sluice::broker
