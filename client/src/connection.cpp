#include "sluice/client/internal/connection.h"

#include <cctype>
#include <cstring>

#include <fmt/format.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "sluice/client/errc.h"

namespace sluice::client {
namespace {

// "Connection refused" -> "connection refused", to read well after a colon.
std::string lower_first(std::string s) {
    if (!s.empty()) {
        s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
    }
    return s;
}

}  // namespace

connection_options connection_options_for(const client_config& c, size_t response_bytes_max) {
    connection_options o;
    o.connect_timeout = std::chrono::milliseconds(c.socket_connection_setup_timeout_ms);
    o.frame_bytes_max = std::max(frame::frame_bytes_max_default, response_bytes_max + (1u << 20));
    return o;
}

connection::connection(asio::io_context& io, endpoint ep, connection_options opts)
    : io_(io),
      endpoint_(std::move(ep)),
      address_(endpoint_.text()),
      opts_(opts),
      socket_(io),
      resolver_(io),
      state_signal_(io, clock::time_point::max()),
      write_signal_(io, clock::time_point::max()),
      timeout_timer_(io, clock::time_point::max()),
      connect_timer_(io) {}

connection::~connection() = default;

awaitable<std::error_code> connection::connect() {
    auto self = shared_from_this();
    boost::system::error_code ec;
    if (state_ != state::idle) {
        while (state_ == state::connecting) {
            co_await state_signal_.async_wait(use_ec(ec));
        }
        co_return state_ == state::open ? std::error_code{} : error_;
    }
    state_ = state::connecting;
    connect_timer_.expires_after(opts_.connect_timeout);
    connect_timer_.async_wait([self](const boost::system::error_code& e) {
        if (!e && self->state_ == state::connecting) {
            self->connect_timed_out_ = true;
            self->resolver_.cancel();
            boost::system::error_code ignored;
            self->socket_.close(ignored);
        }
    });
    auto endpoints = co_await resolver_.async_resolve(endpoint_.host,
                                                      std::to_string(endpoint_.port), use_ec(ec));
    if (!ec && state_ == state::connecting) {
        co_await asio::async_connect(socket_, endpoints, use_ec(ec));
    }
    connect_timer_.cancel();
    if (state_ != state::connecting) {
        co_return error_;  // closed meanwhile
    }
    if (ec || connect_timed_out_) {
        const std::string why = connect_timed_out_
                                    ? fmt::format("connection setup timed out after {} ms",
                                                  opts_.connect_timeout.count())
                                    : lower_first(ec.message());
        connect_failure_ = fmt::format("{}: {}", address_, why);
        close(make_client_error(client_errc::broker_unreachable, connect_failure_));
        co_return error_;
    }
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    state_ = state::open;
    state_signal_.cancel();
    asio::co_spawn(io_, read_loop(), rethrow_escaped);
    asio::co_spawn(io_, write_loop(), rethrow_escaped);
    asio::co_spawn(io_, timeout_loop(), rethrow_escaped);
    co_return std::error_code{};
}

void connection::send(request r) {
    // The timeout starts when the request is written (write_loop), not while it waits here for
    // the connection or for earlier writes: the client's own queueing never times it out.
    r.deadline = clock::time_point::max();
    if (state_ == state::closed) {
        asio::post(io_, [h = std::move(r.on_done), e = error_]() { h(e); });
        return;
    }
    queue_.push_back(std::move(r));
    write_signal_.cancel();
}

awaitable<result<response>> connection::call_frame(std::unique_ptr<frame::writer> frame, int32_t id,
                                                   std::chrono::milliseconds timeout) {
    auto initiate = [this, &frame, id, timeout](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        request r;
        r.frame = std::move(frame);
        r.correlation_id = id;
        r.timeout = timeout;
        // Resumes the coroutine from a fresh handler rather than inside the loop that completed
        // the request.
        r.on_done = [h, ex = io_.get_executor()](result<response> res) {
            asio::post(ex, [h, res = std::move(res)]() mutable { (*h)(std::move(res)); });
        };
        send(std::move(r));
    };
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(result<response>)>(
        initiate, asio::use_awaitable);
}

void connection::close(std::error_code reason) {
    if (state_ == state::closed) {
        return;
    }
    state_ = state::closed;
    error_ = reason;
    closed_at_ = clock::now();
    boost::system::error_code ignored;
    resolver_.cancel();
    socket_.close(ignored);
    state_signal_.cancel();
    write_signal_.cancel();
    timeout_timer_.cancel();
    connect_timer_.cancel();
    // Handlers may send again (on another connection) or close other things: take every request
    // out first, then complete them, oldest first.
    std::deque<request> awaiting = std::move(awaiting_);
    std::vector<request> writing = std::move(writing_);
    std::deque<request> queued = std::move(queue_);
    awaiting_.clear();
    writing_.clear();
    queue_.clear();
    for (request& r : awaiting) {
        r.on_done(reason);
    }
    for (request& r : writing) {
        r.on_done(reason);
    }
    for (request& r : queued) {
        r.on_done(reason);
    }
}

std::error_code connection::lost(const boost::system::error_code& ec) const {
    return make_client_error(
        client_errc::broker_unreachable,
        fmt::format("{}: connection lost: {}", address_, lower_first(ec.message())));
}

awaitable<void> connection::write_loop() {
    auto self = shared_from_this();
    std::vector<asio::const_buffer> buffers;
    boost::system::error_code ec;
    while (state_ == state::open) {
        if (queue_.empty()) {
            co_await write_signal_.async_wait(use_ec(ec));
            continue;
        }
        buffers.clear();
        size_t bytes = 0;
        while (!queue_.empty() && (buffers.empty() || (buffers.size() < write_buffers_max &&
                                                       bytes < write_bytes_max))) {
            request& r = queue_.front();
            r.deadline = clock::now() + r.timeout;
            for (frame::bytes_view b : r.frame->buffers()) {
                buffers.emplace_back(b.data(), b.size());
            }
            bytes += r.frame->size_bytes();
            // Awaiting before the write completes: the answer may be read before this loop
            // resumes.
            if (r.expects_response) {
                awaiting_.push_back(std::move(r));
            } else {
                writing_.push_back(std::move(r));
            }
            queue_.pop_front();
        }
        timeout_timer_.cancel();  // re-armed for the oldest written request's deadline
        co_await asio::async_write(socket_, buffers, use_ec(ec));
        if (state_ != state::open) {
            co_return;  // closed meanwhile; close() completed everything
        }
        if (ec) {
            close(lost(ec));
            co_return;
        }
        std::vector<request> written = std::move(writing_);
        writing_.clear();
        for (request& r : written) {
            r.on_done(response{});
        }
    }
}

awaitable<void> connection::read_loop() {
    auto self = shared_from_this();
    std::vector<std::byte> stage(read_chunk_bytes);
    size_t begin = 0;
    size_t end = 0;
    boost::system::error_code ec;
    while (state_ == state::open) {
        while (end - begin < frame::header_size) {
            if (begin > 0) {
                std::memmove(stage.data(), stage.data() + begin, end - begin);
                end -= begin;
                begin = 0;
            }
            const size_t n = co_await socket_.async_read_some(
                asio::buffer(stage.data() + end, stage.size() - end), use_ec(ec));
            if (state_ != state::open) {
                co_return;
            }
            if (ec) {
                close(lost(ec));
                co_return;
            }
            end += n;
        }
        auto h = frame::parse_header(frame::bytes_view(stage.data() + begin, frame::header_size),
                                     opts_.frame_bytes_max);
        if (!h) {
            close(make_client_error(
                client_errc::protocol_error,
                fmt::format("{}: bad frame header: {}", address_, h.error().message())));
            co_return;
        }
        const size_t total = h.value().total();
        // new[] memory (the pool's too) is aligned for any scalar, so the envelope at offset 8
        // is 8-aligned.
        std::shared_ptr<std::byte[]> buf = buffers_->get(total);
        const size_t have = std::min(total, end - begin);
        std::memcpy(buf.get(), stage.data() + begin, have);
        begin += have;
        if (begin == end) {
            begin = end = 0;
        }
        if (have < total) {
            co_await asio::async_read(socket_, asio::buffer(buf.get() + have, total - have),
                                      use_ec(ec));
            if (state_ != state::open) {
                co_return;
            }
            if (ec) {
                close(lost(ec));
                co_return;
            }
        }
        if (!deliver(std::move(buf), total)) {
            co_return;
        }
    }
}

bool connection::deliver(std::shared_ptr<std::byte[]> buf, size_t size) {
    auto view = frame::parse(frame::bytes_view(buf.get(), size));
    if (!view) {
        close(make_client_error(client_errc::protocol_error,
                                fmt::format("{}: invalid response frame", address_)));
        return false;
    }
    if (awaiting_.empty()) {
        close(make_client_error(client_errc::protocol_error,
                                fmt::format("{}: response without a request", address_)));
        return false;
    }
    const int32_t id = view.value().envelope->correlation_id();
    if (id != awaiting_.front().correlation_id) {
        close(make_client_error(client_errc::protocol_error,
                                fmt::format("{}: response correlation id {}, expected {}", address_,
                                            id, awaiting_.front().correlation_id)));
        return false;
    }
    request r = std::move(awaiting_.front());
    awaiting_.pop_front();
    r.frame.reset();
    r.on_done(response{std::move(buf), size, view.value()});
    return state_ == state::open;
}

awaitable<void> connection::timeout_loop() {
    auto self = shared_from_this();
    boost::system::error_code ec;
    while (state_ == state::open) {
        const request* oldest = !awaiting_.empty()  ? &awaiting_.front()
                                : !writing_.empty() ? &writing_.front()
                                : !queue_.empty()   ? &queue_.front()
                                                    : nullptr;
        if (oldest == nullptr) {
            timeout_timer_.expires_at(clock::time_point::max());
        } else if (clock::now() >= oldest->deadline) {
            close(make_client_error(
                client_errc::timed_out,
                fmt::format("{}: no response within {} ms", address_, oldest->timeout.count())));
            co_return;
        } else {
            timeout_timer_.expires_at(oldest->deadline);
        }
        co_await timeout_timer_.async_wait(use_ec(ec));
    }
}

}  // namespace sluice::client
