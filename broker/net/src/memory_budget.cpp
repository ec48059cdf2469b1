#include "sluice/net/memory_budget.h"

namespace sluice::broker {

bool memory_budget::try_acquire(size_t n) {
    size_t cur = used_.load();
    while (cur + n <= max_) {
        if (used_.compare_exchange_weak(cur, cur + n)) {
            note_peak(cur + n);
            return true;
        }
    }
    return false;
}

void memory_budget::charge(size_t n) {
    note_peak(used_.fetch_add(n) + n);
}

// The waiter registers (waiting_) and then tries again; the releaser frees (used_) and then looks
// for waiters. Both orders are sequentially consistent, so one of the two sees the other: either
// the retry finds the bytes or the release finds the waiter.
void memory_budget::release(size_t n) {
    used_.fetch_sub(n);
    if (waiting_.load() == 0) {
        return;
    }
    std::vector<std::shared_ptr<async_event>> woken;
    {
        std::lock_guard lock(mutex_);
        woken.swap(waiters_);
        waiting_.store(0);
    }
    for (auto& ev : woken) {
        ev->set();
    }
}

void memory_budget::wake_on_release(std::shared_ptr<async_event> ev) {
    std::lock_guard lock(mutex_);
    waiters_.push_back(std::move(ev));
    waiting_.store(waiters_.size());
}

void memory_budget::note_peak(size_t now) {
    size_t peak = peak_.load(std::memory_order_relaxed);
    while (now > peak && !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
}

}  // namespace sluice::broker
