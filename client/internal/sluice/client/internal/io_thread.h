// The background thread every admin, producer and consumer owns: one io_context, run by one
// thread, on which all network state of that client lives (connections, metadata, the producer's
// sender, the consumer's fetcher). Nothing of that state is touched from other threads; user
// threads hand work over with post() or run().
#pragma once

#include <exception>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include "sluice/client/internal/asio.h"

namespace sluice::client {

class io_thread {
  public:
    io_thread();
    ~io_thread();  // join()
    io_thread(const io_thread&) = delete;
    io_thread& operator=(const io_thread&) = delete;

    asio::io_context& context() { return io_; }
    bool in_this_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

    // Lets the thread end once no work is left (every coroutine finished, every timer and socket
    // operation done) and waits for it. The caller must first make every loop on the thread stop
    // (close sockets, cancel timers). Must not be called from the I/O thread. Idempotent.
    void join();

    // Runs the coroutine `make()` returns on the I/O thread and blocks the caller until it is
    // done. Must not be called from the I/O thread (it would wait for itself).
    template <typename T, typename F>
    T run(F make) {
        std::promise<T> done;
        std::future<T> f = done.get_future();
        asio::co_spawn(
            io_,
            [&done, &make]() -> awaitable<void> {
                if constexpr (std::is_void_v<T>) {
                    co_await make();
                    done.set_value();
                } else {
                    done.set_value(co_await make());
                }
            },
            [&done](std::exception_ptr e) {
                if (e) {
                    done.set_exception(e);
                }
            });
        return f.get();
    }

    // Runs `f()` on the I/O thread and returns its value to the caller, which waits. Must not be
    // called from the I/O thread.
    template <typename F>
    auto call(F f) -> decltype(f()) {
        using T = decltype(f());
        std::promise<T> done;
        asio::post(io_, [&] {
            if constexpr (std::is_void_v<T>) {
                f();
                done.set_value();
            } else {
                done.set_value(f());
            }
        });
        return done.get_future().get();
    }

  private:
    asio::io_context io_{1};
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
    std::thread thread_;
};

}  // namespace sluice::client
