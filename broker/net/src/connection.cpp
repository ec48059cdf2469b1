#include "sluice/net/connection.h"

#include <cerrno>
#include <cstring>
#include <system_error>

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>

#include "sluice/core/logging.h"
#include "sluice/net/file_send.h"

namespace sluice::broker {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

// Bytes read from the socket in one go; small frames are cut out of this buffer, larger ones are
// read straight into their own.
constexpr size_t stage_bytes = 16 * 1024;
// Recycled frame buffers kept per connection, and the largest one worth keeping. They are not
// counted in the memory budget, so they are small: an idle connection holds the stage and at
// most these (with max.connections, a bound on idle memory).
constexpr size_t spare_buffers_max = 2;
constexpr size_t spare_buffer_bytes_max = 64 * 1024;
// Frame buffers are allocated in these steps so that similar frames reuse them.
constexpr size_t buffer_step_bytes = 16 * 1024;
// What a response's file range (an open segment file) counts for in the memory budget.
constexpr size_t file_range_charge = 16 * 1024;
// How long, in all, a send of file bytes on the blocking pool waits for a full socket before it
// gives the pool thread back (send_range).
constexpr int pool_socket_waits = 4;
constexpr int pool_socket_wait_ms = 2;

}  // namespace

void connection_list::add(const std::shared_ptr<connection>& c) {
    std::lock_guard lock(mutex_);
    items_.emplace(c.get(), c);
}

void connection_list::remove(const connection* c) {
    std::lock_guard lock(mutex_);
    items_.erase(c);
}

size_t connection_list::size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
}

std::vector<std::shared_ptr<connection>> connection_list::all() const {
    std::lock_guard lock(mutex_);
    std::vector<std::shared_ptr<connection>> out;
    for (const auto& [ptr, weak] : items_) {
        if (auto c = weak.lock()) {
            out.push_back(std::move(c));
        }
    }
    return out;
}

connection::connection(broker_context& ctx, const frame_codec& codec, connection_list& list,
                       asio::ip::tcp::socket socket, std::string peer)
    : ctx_(ctx),
      codec_(codec),
      list_(list),
      socket_(std::move(socket)),
      strand_(socket_.get_executor()),
      peer_(std::move(peer)),
      stage_(stage_bytes),
      reader_wake_(strand_),
      writer_wake_(strand_),
      idle_timer_(strand_),
      last_active_(steady_clock::now()) {}

connection::~connection() {
    for (const auto& r : in_flight_) {
        ctx_.budget.release(r->charged);  // requests whose responses were never written
    }
    release_slot();
    list_.remove(this);
}

void connection::release_slot() {
    if (!slot_released_) {
        slot_released_ = true;
        ctx_.connections.fetch_sub(1, std::memory_order_release);
    }
}

void connection::start() {
    auto self = shared_from_this();
    list_.add(self);
    error_code ec;
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    const auto peer = socket_.remote_endpoint(ec);
    sendfile_ = ec ? true : use_sendfile(ctx_.config.fetch_sendfile, peer.address());
    // Sends on the blocking pool must never block on a full socket (send_range).
    socket_.native_non_blocking(true, ec);
    asio::co_spawn(
        strand_, [self] { return self->read_loop(); }, asio::detached);
    asio::co_spawn(
        strand_, [self] { return self->write_loop(); }, asio::detached);
    asio::co_spawn(
        strand_, [self] { return self->idle_loop(); }, asio::detached);
}

void connection::drain() {
    asio::post(strand_, [self = shared_from_this()] {
        if (self->closed_ || self->draining_) {
            return;
        }
        self->draining_ = true;
        // Ends the pending read (it sees end of stream); writes go on.
        error_code ec;
        self->socket_.shutdown(asio::ip::tcp::socket::shutdown_receive, ec);
        self->reader_wake_.cancel();
        self->writer_wake_.cancel();
    });
}

void connection::close_now() {
    asio::post(strand_, [self = shared_from_this()] { self->close("broker stopping", false); });
}

void connection::close(std::string_view why, bool warn) {
    if (closed_) {
        return;
    }
    closed_ = true;
    // Before the socket closes: a peer that sees the close and connects again must find the
    // slot free, even though this object lives on until its coroutines have ended.
    release_slot();
    if (warn) {
        logging::warn("closing connection from {}: {}", peer_, why);
    } else {
        logging::debug("closing connection from {}: {}", peer_, why);
    }
    error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    if (!offloaded_) {
        socket_.close(ec);
    }
    reader_wake_.cancel();
    writer_wake_.cancel();
    idle_timer_.cancel();
    if (budget_wait_) {
        budget_wait_->set();
    }
    cancel_->cancel();
}

awaitable<bool> connection::reserve(size_t n) {
    while (!ctx_.budget.try_acquire(n)) {
        auto ev = std::make_shared<async_event>(strand_);
        budget_wait_ = ev;
        ctx_.budget.wake_on_release(ev);
        if (closed_ || draining_) {
            co_return false;
        }
        if (ctx_.budget.try_acquire(n)) {
            break;
        }
        co_await ev->wait_until(steady_clock::time_point::max());
        ev->finish();
        if (closed_ || draining_) {
            co_return false;
        }
    }
    budget_wait_.reset();
    co_return true;
}

frame_buffer connection::take_buffer(size_t size) {
    for (auto it = spare_.begin(); it != spare_.end(); ++it) {
        if (it->capacity >= size) {
            frame_buffer b = std::move(*it);
            spare_.erase(it);
            return b;
        }
    }
    return frame_buffer::with_capacity((size + buffer_step_bytes - 1) / buffer_step_bytes *
                                       buffer_step_bytes);
}

void connection::recycle(frame_buffer b) {
    if (b.words && b.capacity <= spare_buffer_bytes_max && spare_.size() < spare_buffers_max) {
        b.size = 0;
        spare_.push_back(std::move(b));
    }
}

awaitable<bool> connection::fill(size_t n) {
    if (staged() >= n) {
        co_return true;
    }
    if (stage_begin_ > 0) {
        std::memmove(stage_.data(), stage_.data() + stage_begin_, staged());
        stage_end_ -= stage_begin_;
        stage_begin_ = 0;
    }
    while (staged() < n) {
        error_code ec;
        size_t got = co_await socket_.async_read_some(
            asio::buffer(stage_.data() + stage_end_, stage_.size() - stage_end_),
            asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            if (ec != asio::error::eof && !closed_ && !draining_) {
                logging::debug("connection from {}: read: {}", peer_, ec.message());
            }
            co_return false;
        }
        stage_end_ += got;
    }
    co_return true;
}

awaitable<void> connection::read_loop() {
    const auto& cfg = ctx_.config;
    const size_t header_bytes = codec_.header_bytes();
    try {
        while (!closed_ && !draining_) {
            // Back-pressure: stop reading while at the limits (one request always fits).
            while (!closed_ && !draining_ && !in_flight_.empty() &&
                   (in_flight_.size() >= cfg.queued_requests_max ||
                    in_flight_bytes_ >= cfg.queued_request_bytes_max)) {
                co_await wait_timer(reader_wake_, steady_clock::time_point::max());
            }
            if (closed_ || draining_ || !co_await fill(header_bytes)) {
                break;
            }
            auto size = codec_.frame_size({stage_.data() + stage_begin_, header_bytes},
                                          cfg.frame_bytes_max);
            if (const auto* why = std::get_if<std::string>(&size)) {
                close(*why, true);
                break;
            }
            const size_t total = std::get<size_t>(size);
            if (!co_await reserve(total)) {
                break;
            }
            // Gives the reservation back if anything below throws before the request owns it.
            struct hold {
                memory_budget& budget;
                size_t bytes;
                ~hold() {
                    if (bytes > 0) {
                        budget.release(bytes);
                    }
                }
            } held{ctx_.budget, total};
            frame_buffer buf = take_buffer(total);
            buf.size = total;
            const size_t have = std::min(staged(), total);
            std::memcpy(buf.data(), stage_.data() + stage_begin_, have);
            stage_begin_ += have;
            if (have < total) {
                error_code ec;
                co_await asio::async_read(socket_, asio::buffer(buf.data() + have, total - have),
                                          asio::redirect_error(asio::use_awaitable, ec));
                if (ec) {
                    if (!closed_ && !draining_) {
                        logging::debug("connection from {}: closed in the middle of a frame: {}",
                                       peer_, ec.message());
                    }
                    break;
                }
            }
            auto r = std::make_shared<in_flight>();
            r->req.buffer = std::move(buf);  // the bytes stay where they are
            r->req.received = steady_clock::now();
            r->charged = total;
            if (auto bad = codec_.decode(r->req); std::holds_alternative<std::string>(bad)) {
                close(std::get<std::string>(bad), true);
                break;
            }
            held.bytes = 0;  // the request holds it now (in_flight::charged)
            in_flight_bytes_ += total;
            in_flight_.push_back(r);
            last_active_ = r->req.received;
            asio::co_spawn(
                strand_, [self = shared_from_this(), r] { return self->run_request(r); },
                asio::detached);
        }
    } catch (const std::exception& e) {
        logging::error("connection from {}: reader: {}", peer_, e.what());
        close("internal error", false);
    }
    reader_done_ = true;
    writer_wake_.cancel();
}

awaitable<void> connection::run_request(std::shared_ptr<in_flight> r) {
    try {
        request_context rc{ctx_, strand_, peer_, fetch_rotation_, cancel_};
        r->result = co_await codec_.handle(rc, r->req);
    } catch (const std::exception& e) {
        logging::error("connection from {}: handling a request: {}", peer_, e.what());
        r->result = handler_result{nullptr, "internal error"};
    }
    if (r->result.reply) {
        // The response's bytes are held until written; fetched records are not among them
        // (they are sent from the segment files), but each file range counts as
        // file_range_charge, so the budget also bounds the files that queued responses hold.
        const auto& reply = *r->result.reply;
        const size_t bytes = reply.writer.size_bytes() - reply.writer.external_bytes() +
                             reply.files.size() * file_range_charge;
        ctx_.budget.charge(bytes);
        r->charged += bytes;
        r->response_bytes = bytes;
        in_flight_bytes_ += bytes;
    }
    r->done = true;
    writer_wake_.cancel();
}

awaitable<bool> connection::write_all(std::vector<asio::const_buffer>& buffers, bool more) {
    // Written piece by piece so that the idle check sees progress (or its absence).
    size_t index = 0;
    while (index < buffers.size()) {
        error_code ec;
        size_t n =
            co_await socket_.async_send(std::span(buffers).subspan(index), more ? MSG_MORE : 0,
                                        asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            close(fmt::format("write: {}", ec.message()), false);
            co_return false;
        }
        last_active_ = steady_clock::now();
        while (n > 0 && index < buffers.size()) {
            const size_t take = std::min(n, buffers[index].size());
            buffers[index] += take;
            n -= take;
            if (buffers[index].size() == 0) {
                ++index;
            }
        }
    }
    co_return true;
}

awaitable<bool> connection::write_response(response& reply) {
    gather_.clear();
    size_t next_file = 0;
    for (const auto& part : reply.writer.parts()) {
        if (part.external == 0) {
            gather_.emplace_back(part.bytes.data(), part.bytes.size());
            continue;
        }
        // MSG_MORE: the file's bytes follow at once, so the envelope need not go out in a
        // packet of its own (the socket has TCP_NODELAY).
        if (!gather_.empty() && !co_await write_all(gather_, true)) {
            co_return false;
        }
        gather_.clear();
        if (next_file >= reply.files.size() || reply.files[next_file].length != part.external) {
            close("internal error: a response's file ranges do not match its parts", true);
            co_return false;
        }
        const storage::file_range& range = reply.files[next_file];
        ++next_file;
        if (!co_await send_range(range)) {
            co_return false;
        }
    }
    co_return gather_.empty() || co_await write_all(gather_);
}

awaitable<bool> connection::send_range(const storage::file_range& range) {
    uint64_t pos = range.position;
    uint64_t left = range.length;
    const int in = range.f->native_handle();
    bool zero_copy = sendfile_ && in >= 0;  // a file without a descriptor is copied
    bool from_cache = !zero_copy;           // copying: from this strand while pages are cached
    while (left > 0) {
        if (closed_) {
            co_return false;  // e.g. closed while this coroutine waited for the socket
        }
        // Read in the same strand turn that sets offloaded_: close() leaves this descriptor
        // open until the pool's call has returned.
        const int out = socket_.native_handle();
        // On the pool, which also waits for a full socket there, briefly (a reader that keeps
        // up drains it in well under that), which saves a round trip through the strand for
        // each socket buffer. close() shuts the socket down, which ends the wait at once.
        auto offload = [&range, in, out, pos, left, zero_copy] {
            const socket_waits waits{pool_socket_waits, pool_socket_wait_ms};
            return zero_copy ? sendfile_range(out, in, pos, left, waits)
                             : copy_range(out, *range.f, pos, left, waits);
        };
        send_step s;
        if (from_cache) {
            // Pages the page cache holds are sent from here, without the two hops through the
            // pool; from the first one it lacks, the pool sends the rest of the range.
            s = copy_cached(out, *range.f, pos, std::min(left, cached_turn_bytes));
            from_cache = !s.not_cached;
        }
        if (!from_cache && s.sent == 0) {
            offloaded_ = true;
            s = co_await run_on(ctx_.blocking, offload);
            offloaded_ = false;
            if (closed_) {
                error_code ec;
                socket_.close(ec);  // close() left it open while the pool used its descriptor
                co_return false;
            }
        }
        if (s.sent > 0) {
            last_active_ = steady_clock::now();
            (zero_copy ? ctx_.sendfile_bytes : ctx_.copied_bytes)
                .fetch_add(s.sent, std::memory_order_relaxed);
        }
        pos += s.sent;
        left -= s.sent;
        if (left == 0) {
            break;
        }
        if (from_cache && s.sent == cached_turn_bytes) {
            // A whole turn's worth: the others on this thread go first.
            co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
            continue;
        }
        if (s.read_error) {
            // Cut under the fetch (a truncation), or the disk failed: the frame cannot be
            // completed.
            close(s.read_error == make_error_code(errc::corrupt_message)
                      ? "a segment file ended inside a fetched range (truncated meanwhile)"
                      : fmt::format("reading fetched records: {}", s.read_error.message()),
                  true);
            co_return false;
        }
        if (s.socket_error == EAGAIN || s.socket_error == EWOULDBLOCK) {
            error_code ec;
            co_await socket_.async_wait(asio::ip::tcp::socket::wait_write,
                                        asio::redirect_error(asio::use_awaitable, ec));
            if (ec) {
                close(fmt::format("write: {}", ec.message()), false);
                co_return false;
            }
        } else if (zero_copy && s.sent == 0 &&
                   (s.socket_error == EINVAL || s.socket_error == ENOSYS ||
                    s.socket_error == EOPNOTSUPP)) {
            // This file system or socket cannot sendfile: this connection reads and sends.
            logging::info("{}: sendfile not supported here ({}); reading and sending instead",
                          peer_, std::system_category().message(s.socket_error));
            zero_copy = sendfile_ = false;
        } else if (s.socket_error != 0) {
            close(fmt::format("write: {}", std::system_category().message(s.socket_error)), false);
            co_return false;
        }
    }
    co_return true;
}

awaitable<void> connection::write_loop() {
    try {
        while (!closed_) {
            while (!closed_ && (in_flight_.empty() ? !reader_done_ : !in_flight_.front()->done)) {
                co_await wait_timer(writer_wake_, steady_clock::time_point::max());
            }
            if (closed_ || in_flight_.empty()) {
                break;
            }
            std::shared_ptr<in_flight> r = in_flight_.front();
            if (r->result.reply) {
                writing_ = true;
                const bool ok = co_await write_response(*r->result.reply);
                writing_ = false;
                if (!ok) {
                    break;
                }
            }
            in_flight_.pop_front();
            ctx_.budget.release(r->charged);
            r->result.reply.reset();
            last_active_ = steady_clock::now();
            in_flight_bytes_ -= r->req.buffer.size + r->response_bytes;
            recycle(std::move(r->req.buffer));
            reader_wake_.cancel();
            if (!r->result.close_reason.empty()) {
                close(r->result.close_reason, true);
                break;
            }
        }
    } catch (const std::exception& e) {
        logging::error("connection from {}: writing a response: {}", peer_, e.what());
    }
    close(draining_ ? "drained" : "peer closed the connection", false);
}

awaitable<void> connection::idle_loop() {
    const int64_t idle_ms = ctx_.config.idle_ms;
    if (idle_ms < 0) {
        co_return;
    }
    const auto idle = std::chrono::milliseconds(idle_ms);
    auto deadline = last_active_ + idle;
    while (!closed_) {
        co_await wait_timer(idle_timer_, deadline);
        if (closed_) {
            break;
        }
        auto now = steady_clock::now();
        if (writing_ && now >= last_active_ + idle) {
            // The client has stopped reading: its responses would pin memory forever.
            logging::warn(
                "closing connection from {}: a response write made no progress for {} ms "
                "(connections.max.idle.ms)",
                peer_, idle_ms);
            close("write stalled", false);
        } else if (!writing_ && (!in_flight_.empty() || budget_wait_)) {
            // A long poll, a slow append or a wait for the memory budget is not idleness.
            deadline = now + idle;
        } else if (now >= last_active_ + idle) {
            logging::info("closing connection from {}: idle for {} ms (connections.max.idle.ms)",
                          peer_, idle_ms);
            close("idle", false);
        } else {
            deadline = last_active_ + idle;
        }
    }
}

}  // namespace sluice::broker
