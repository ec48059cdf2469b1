// Small Asio pieces the broker is built from: the executor type, hopping onto another strand, a
// one-shot event that a coroutine can wait for with a deadline, and a mutex for coroutines that
// share one strand.
//
// Every executor in the broker is a strand of the one io_context (typed as any_io_executor):
// each connection has one, each partition has one, and topic administration has one. The one
// exception is the blocking pool (background.threads), where work that may wait on the disk runs
// through run_on() and resumes on the caller's strand.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "sluice/core/partition_state.h"

namespace sluice::broker {

using executor = boost::asio::any_io_executor;
template <typename T>
using awaitable = boost::asio::awaitable<T>;
using steady_clock = std::chrono::steady_clock;

// Runs `f()` on `ex` (a strand) and resumes the calling coroutine on its own executor with the
// result. `f` runs to completion in one go on `ex`, so everything it touches that `ex` owns is
// safe. References captured by `f` stay valid: the caller is suspended until it returns.
//
// GCC 12 may destroy a temporary of a co_await full-expression twice (seen with a lambda that
// captures a shared_ptr, passed inside a loop). So a callable that owns anything must be a
// named local passed as an lvalue; only trivially destructible callables may be temporaries.
// The same rule holds for every co_await in the broker.
template <typename F>
awaitable<std::invoke_result_t<std::remove_reference_t<F>&>> run_on(const executor& ex, F&& f) {
    using fn = std::remove_reference_t<F>;
    static_assert(std::is_lvalue_reference_v<F> || std::is_trivially_destructible_v<fn>,
                  "pass a callable that owns resources as a named lvalue (see above)");
    using R = std::invoke_result_t<fn&>;
    return boost::asio::co_spawn(
        ex, [f = fn(std::forward<F>(f))]() mutable -> awaitable<R> { co_return f(); },
        boost::asio::use_awaitable);
}

// Waits on `timer` until it expires at `deadline` or is cancelled; never throws.
inline awaitable<void> wait_timer(boost::asio::steady_timer& timer,
                                  steady_clock::time_point deadline) {
    boost::system::error_code ec;
    timer.expires_at(deadline);
    co_await timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
}

// A one-shot event: set() from any thread; one coroutine on the owner executor waits for it
// with a deadline. It is the wakeup a partition holds for a long-polling fetch, and the latch
// that a produce waiting for acknowledgements sleeps on.
class async_event final : public wakeup, public std::enable_shared_from_this<async_event> {
  public:
    explicit async_event(executor owner) : owner_(owner), timer_(owner) {}

    // Any thread. The first call wakes the waiter.
    void set() {
        if (!set_.exchange(true, std::memory_order_acq_rel)) {
            boost::asio::post(owner_, [self = shared_from_this()] { self->timer_.cancel(); });
        }
    }
    bool is_set() const { return set_.load(std::memory_order_acquire); }

    // The waiter is no longer interested; holders may drop the event.
    void finish() { finished_.store(true, std::memory_order_release); }

    void wake() override { set(); }
    bool done() const override {
        return set_.load(std::memory_order_acquire) || finished_.load(std::memory_order_acquire);
    }

    // On the owner executor: returns once set() was called or at `deadline`; says which.
    awaitable<bool> wait_until(steady_clock::time_point deadline) {
        // set() posts the cancel to this executor, so it cannot slip in between this check
        // and the start of the wait.
        if (!is_set()) {
            co_await wait_timer(timer_, deadline);
        }
        co_return is_set();
    }

  private:
    executor owner_;
    boost::asio::steady_timer timer_;  // touched on owner_ only
    std::atomic<bool> set_{false};
    std::atomic<bool> finished_{false};
};

// Lets the owner of requests (a connection) end their waits early when it closes: a long poll or
// an acknowledgement wait registers its event here and stops waiting once cancel() was called.
// Thread-safe.
class cancel_token {
  public:
    // Any thread. Wakes every registered event; later add() calls refuse.
    void cancel() {
        std::vector<std::weak_ptr<async_event>> events;
        {
            std::lock_guard lock(mutex_);
            cancelled_ = true;
            events.swap(events_);
        }
        for (auto& w : events) {
            if (auto e = w.lock()) {
                e->set();
            }
        }
    }
    bool cancelled() const {
        std::lock_guard lock(mutex_);
        return cancelled_;
    }
    // Registers `e` to be set by cancel(); false (and `e` untouched) if already cancelled.
    bool add(const std::shared_ptr<async_event>& e) {
        std::lock_guard lock(mutex_);
        if (cancelled_) {
            return false;
        }
        std::erase_if(events_, [](const std::weak_ptr<async_event>& w) { return w.expired(); });
        events_.push_back(e);
        return true;
    }

  private:
    mutable std::mutex mutex_;
    bool cancelled_ = false;
    std::vector<std::weak_ptr<async_event>> events_;
};

// A mutex for coroutines that all run on one strand: lock() suspends instead of blocking the
// thread. Used to run topic administration (create, delete) one operation at a time even
// though each operation suspends while it waits for partitions' strands.
class strand_mutex {
  public:
    explicit strand_mutex(executor ex) : ex_(ex) {}

    // On the strand.
    awaitable<void> lock() {
        if (!locked_) {
            locked_ = true;
            co_return;
        }
        auto t = std::make_shared<boost::asio::steady_timer>(ex_);
        waiters_.push_back(t);
        co_await wait_timer(*t, steady_clock::time_point::max());
        // unlock() handed the lock over without releasing it.
    }

    // On the strand.
    void unlock() {
        if (waiters_.empty()) {
            locked_ = false;
            return;
        }
        auto next = std::move(waiters_.front());
        waiters_.pop_front();
        next->cancel();
    }

  private:
    executor ex_;
    bool locked_ = false;
    std::deque<std::shared_ptr<boost::asio::steady_timer>> waiters_;
};

}  // namespace sluice::broker
