// Runs an io_context until a condition holds, for tests that wait on real timers and sockets:
// they wait for the condition, never for a fixed time.
#pragma once

#include <chrono>

#include <boost/asio/io_context.hpp>

namespace sluice::testing {

// Runs `io` in slices of `slice` until `done()` holds; false if `limit` passed first.
template <typename Pred>
bool run_until(boost::asio::io_context& io, Pred done, std::chrono::milliseconds limit,
               std::chrono::milliseconds slice = std::chrono::milliseconds(5)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        io.run_for(slice);
    }
    return true;
}

}  // namespace sluice::testing
