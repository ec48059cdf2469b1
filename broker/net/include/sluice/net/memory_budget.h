// One bound on the bytes of requests and responses held across the whole broker
// (queued.max.request.bytes): a request frame is reserved before its body is read and released
// once its response is written; a response is charged when it is built (without waiting, since
// the work is done) and released once written. While the budget is spent, readers wait, so the
// broker stops reading sockets and TCP pushes back on clients; every held byte is released
// without needing more input (responses are written, stalled writes time out), so waiting
// readers always resume.
//
// Threading: any thread. The hot path is two atomic operations; the waiter list's mutex is taken
// only when someone waits or was waiting.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "sluice/core/async.h"

namespace sluice::broker {

class memory_budget {
  public:
    explicit memory_budget(size_t max_bytes) : max_(max_bytes) {}

    // Reserves `n` bytes if they fit; false otherwise.
    bool try_acquire(size_t n);
    // Reserves `n` bytes whether or not they fit (a response already built).
    void charge(size_t n);
    void release(size_t n);
    // Wakes `ev` at the next release. Register, then try_acquire again, then wait on `ev`: a
    // release between the first try and the wait is then never missed.
    void wake_on_release(std::shared_ptr<async_event> ev);

    size_t max() const { return max_; }
    size_t used() const { return used_.load(std::memory_order_relaxed); }
    // The most ever held at once, for tests and metrics.
    size_t peak() const { return peak_.load(std::memory_order_relaxed); }

  private:
    void note_peak(size_t now);

    const size_t max_;
    std::atomic<size_t> used_{0};
    std::atomic<size_t> peak_{0};
    std::atomic<size_t> waiting_{0};
    std::mutex mutex_;
    std::vector<std::shared_ptr<async_event>> waiters_;
};

}  // namespace sluice::broker
