#include "connection.h"

#include <cstring>

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "sluice/broker/logging.h"
#include "sluice/protocol/byte_order.h"

namespace sluice::broker {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

// Bytes read from the socket in one go; small frames are cut out of this buffer.
constexpr size_t stage_bytes = 64 * 1024;
// Recycled frame buffers kept per connection, and the largest one worth keeping.
constexpr size_t spare_buffers_max = 4;
constexpr size_t spare_buffer_bytes_max = 8u << 20;
// Frame buffers are allocated in these steps so that similar frames reuse them.
constexpr size_t buffer_step_bytes = 16 * 1024;

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

connection::connection(broker_context& ctx, connection_list& list, asio::ip::tcp::socket socket,
                       std::string peer)
    : ctx_(ctx),
      list_(list),
      socket_(std::move(socket)),
      strand_(socket_.get_executor()),
      peer_(std::move(peer)),
      stage_(stage_bytes),
      reader_wake_(strand_),
      handler_wake_(strand_),
      idle_timer_(strand_),
      last_active_(steady_clock::now()) {}

connection::~connection() {
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
    asio::co_spawn(
        strand_, [self] { return self->read_loop(); }, asio::detached);
    asio::co_spawn(
        strand_, [self] { return self->handle_loop(); }, asio::detached);
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
        self->handler_wake_.cancel();
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
    socket_.close(ec);
    reader_wake_.cancel();
    handler_wake_.cancel();
    idle_timer_.cancel();
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

void connection::refresh_image() {
    if (!image_ || image_->version != ctx_.registry.version()) {
        image_ = ctx_.registry.snapshot();
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
    const size_t frame_max = size_t(cfg.socket_request_max_bytes);
    const size_t queue_max = size_t(cfg.queued_max_requests_per_connection);
    const size_t queue_bytes_max = size_t(cfg.queued_max_request_bytes_per_connection);
    try {
        while (!closed_ && !draining_) {
            // Back-pressure: stop reading while the queue is full (one frame always fits).
            while (!closed_ && !draining_ && !queue_.empty() &&
                   (queue_.size() >= queue_max || queued_bytes_ >= queue_bytes_max)) {
                co_await wait_timer(reader_wake_, steady_clock::time_point::max());
            }
            if (closed_ || draining_ || !co_await fill(frame::header_size)) {
                break;
            }
            frame::bytes_view head(stage_.data() + stage_begin_, frame::header_size);
            auto h = frame::parse_header(head, frame_max);
            if (!h) {
                if (h.error() == errc::message_too_large) {
                    close(fmt::format("frame of {} bytes exceeds socket.request.max.bytes ({})",
                                      4 + uint64_t(load_be<uint32_t>(head.data())), frame_max),
                          true);
                } else {
                    close("invalid frame header", true);
                }
                break;
            }
            const size_t total = h.value().total();
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
            auto view = frame::parse(buf.bytes());
            if (!view) {
                close("frame envelope failed verification", true);
                break;
            }
            request r;
            r.envelope = view.value().envelope;
            r.data = buf.bytes().subspan(size_t(view.value().data.data() - buf.data()),
                                         view.value().data.size());
            r.buffer = std::move(buf);  // the bytes stay where they are
            queued_bytes_ += total;
            queue_.push_back(std::move(r));
            last_active_ = steady_clock::now();
            handler_wake_.cancel();
        }
    } catch (const std::exception& e) {
        logging::error("connection from {}: reader: {}", peer_, e.what());
        close("internal error", false);
    }
    reader_done_ = true;
    handler_wake_.cancel();
}

awaitable<void> connection::handle_loop() {
    try {
        while (!closed_) {
            while (!closed_ && queue_.empty() && !reader_done_) {
                co_await wait_timer(handler_wake_, steady_clock::time_point::max());
            }
            if (closed_ || queue_.empty()) {
                break;
            }
            request req = std::move(queue_.front());
            queue_.pop_front();
            queued_bytes_ -= req.buffer.size;
            reader_wake_.cancel();
            busy_ = true;
            refresh_image();
            request_context rc{ctx_, strand_, image_, peer_};
            handler_result res = co_await handle_request(rc, req);
            if (res.reply && !closed_) {
                gather_.clear();
                for (auto b : res.reply->writer.buffers()) {
                    gather_.emplace_back(b.data(), b.size());
                }
                error_code ec;
                co_await asio::async_write(socket_, gather_,
                                           asio::redirect_error(asio::use_awaitable, ec));
                if (ec) {
                    close(fmt::format("write: {}", ec.message()), false);
                    break;
                }
            }
            busy_ = false;
            last_active_ = steady_clock::now();
            recycle(std::move(req.buffer));
            if (!res.close_reason.empty()) {
                close(res.close_reason, true);
                break;
            }
        }
    } catch (const std::exception& e) {
        logging::error("connection from {}: handling a request: {}", peer_, e.what());
    }
    close(draining_ ? "drained" : "peer closed the connection", false);
}

awaitable<void> connection::idle_loop() {
    const int64_t idle_ms = ctx_.config.connections_max_idle_ms;
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
        if (busy_ || !queue_.empty()) {
            deadline = now + idle;  // a long poll or a slow write is not idleness
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
