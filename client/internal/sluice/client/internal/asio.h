// The one include of Boost.Asio for the client libraries. <utility> must precede Asio 1.74's
// awaitable.hpp, which uses std::exchange without including it.
#pragma once

#include <exception>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sluice::client {

namespace asio = boost::asio;
template <typename T>
using awaitable = asio::awaitable<T>;

// Completion token for co_spawn. The client's coroutines report errors as values, so an
// exception escaping one is a bug; rethrown from the I/O thread it ends the process loudly
// instead of leaving a dead loop behind (asio::detached would swallow it).
inline void rethrow_escaped(std::exception_ptr e) {
    if (e) {
        std::rethrow_exception(e);
    }
}

// `co_await x.async_op(..., use_ec(ec))`: errors go to `ec` instead of an exception.
inline auto use_ec(boost::system::error_code& ec) {
    return asio::redirect_error(asio::use_awaitable, ec);
}

}  // namespace sluice::client
