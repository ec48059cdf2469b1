// One TCP connection to a broker, with requests pipelined on it.
//
// Many requests may be in flight; the broker answers them in order, so responses are matched to
// the oldest outstanding request and its correlation id is checked (a mismatch is a protocol
// error and closes the connection). Writes are vectored: every queued frame goes out in one
// gather write. Responses are read into a fresh buffer whose frame header sits at offset 0 and
// whose envelope therefore sits at offset 8 of new[]-aligned memory, as frame.h requires.
//
// Lifetime and thread: created, used and closed on the owning client's I/O thread only; shared
// ownership keeps it alive while its loops run. Every request's handler is called exactly once,
// on the I/O thread: with the response, with an empty response once written (requests that get
// no answer: acks=0 produce), or with the error that closed the connection (retriable:
// client_errc::broker_unreachable when the connection broke or could not be made,
// client_errc::timed_out when the oldest written request went unanswered for its timeout).
//
// Bounds: the request queue has none of its own; every user bounds what it puts there (the
// producer max.in.flight.requests.per.connection, the consumer one fetch per broker, the admin
// and metadata calls one at a time). Answers are bounded by frame_bytes_max, checked on the
// header before the frame's memory is allocated.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sluice/client/internal/asio.h"
#include "sluice/client/internal/buffer_pool.h"
#include "sluice/client/internal/config_parse.h"
#include "sluice/protocol/frame.h"

namespace sluice::client {

using clock = std::chrono::steady_clock;

// A received frame. `view` points into `buffer`, which the response keeps alive; copies share
// the buffer. A request without an answer completes with an empty response (no envelope).
struct response {
    std::shared_ptr<std::byte[]> buffer;
    size_t size = 0;
    frame::frame_view view{nullptr, {}};

    const fbs::Envelope* envelope() const { return view.envelope; }
};

using response_handler = std::function<void(result<response>)>;

struct request {
    std::unique_ptr<frame::writer> frame;  // finished; its data chunks must outlive the handler
    int32_t correlation_id = 0;
    bool expects_response = true;
    // From the moment the request is written to the socket to its response; time spent queued
    // in the client (waiting for the connection or for earlier writes) does not count.
    std::chrono::milliseconds timeout{30000};
    response_handler on_done;
    clock::time_point deadline{};  // set when the write starts
};

// How much longer than the timeout it sends along a client waits for the answer to a request
// that the broker bounds itself (a produce's timeout_ms): the broker's answer, even
// REQUEST_TIMED_OUT, then arrives before the client closes the connection for want of one.
inline constexpr std::chrono::milliseconds produce_answer_grace{1000};

struct connection_options {
    std::chrono::milliseconds connect_timeout{10000};  // socket.connection.setup.timeout.ms
    size_t frame_bytes_max = frame::frame_bytes_max_default;
};

// The connection options a client config implies; frame_bytes_max at least `response_bytes_max`
// plus room for the envelope.
connection_options connection_options_for(const client_config& c, size_t response_bytes_max = 0);

class connection : public std::enable_shared_from_this<connection> {
  public:
    enum class state { idle, connecting, open, closed };

    // Bounds of one gather write: frames are taken from the queue until either is reached
    // (always at least one frame).
    static constexpr size_t write_buffers_max = 256;
    static constexpr size_t write_bytes_max = 8u << 20;
    // Bytes asked for per read when the next frame's size is not known yet.
    static constexpr size_t read_chunk_bytes = 64u << 10;

    connection(asio::io_context& io, endpoint ep, connection_options opts);
    ~connection();

    // Connects (resolve + TCP connect within connect_timeout). A second caller, or one that comes
    // while connecting, waits for the first attempt's outcome. On failure the connection is closed
    // and the error is client_errc::broker_unreachable "host:port: reason".
    awaitable<std::error_code> connect();

    // Requests sent before the connection is open wait in the queue.
    void send(request r);

    // Sends a request and waits for its answer (for coroutines; not for acks=0 produce).
    // `build(correlation_id)` returns the finished frame.
    template <typename Build>
    awaitable<result<response>> call(Build build, std::chrono::milliseconds timeout) {
        const int32_t id = next_correlation_id();
        return call_frame(build(id), id, timeout);
    }
    awaitable<result<response>> call_frame(std::unique_ptr<frame::writer> frame, int32_t id,
                                           std::chrono::milliseconds timeout);

    int32_t next_correlation_id() { return next_correlation_id_++ & 0x7fffffff; }

    // Closes the socket and fails every queued and in-flight request with `reason`. Idempotent.
    void close(std::error_code reason);

    state current_state() const { return state_; }
    bool is_open() const { return state_ == state::open; }
    bool is_closed() const { return state_ == state::closed; }
    // The error that closed the connection.
    std::error_code error() const { return error_; }
    // When close() ran (meaningful once closed).
    clock::time_point closed_at() const { return closed_at_; }
    // Why connect() failed, as "host:port: reason"; empty if it did not.
    const std::string& connect_failure() const { return connect_failure_; }
    // Requests queued, being written or awaiting their response.
    size_t in_flight() const { return queue_.size() + writing_.size() + awaiting_.size(); }
    const std::string& address() const { return address_; }

  private:
    awaitable<void> read_loop();
    awaitable<void> write_loop();
    awaitable<void> timeout_loop();
    // Takes the frame in `buf` (header at 0) and completes the oldest awaiting request with it.
    bool deliver(std::shared_ptr<std::byte[]> buf, size_t size);
    std::error_code lost(const boost::system::error_code& ec) const;

    asio::io_context& io_;
    endpoint endpoint_;
    std::string address_;
    connection_options opts_;
    asio::ip::tcp::socket socket_;
    // Answer buffers, used again once their holders let go (a consumer's records may hold them).
    const std::shared_ptr<buffer_pool> buffers_ = buffer_pool::create({});
    asio::ip::tcp::resolver resolver_;
    asio::steady_timer state_signal_;   // cancelled when state_ leaves connecting
    asio::steady_timer write_signal_;   // cancelled when the queue gets a frame
    asio::steady_timer timeout_timer_;  // the oldest request's deadline
    asio::steady_timer connect_timer_;
    state state_ = state::idle;
    std::error_code error_;
    clock::time_point closed_at_{};
    std::string connect_failure_;
    bool connect_timed_out_ = false;
    int32_t next_correlation_id_ = 1;
    std::deque<request> queue_;     // waiting to be written
    std::vector<request> writing_;  // in the current gather write and expecting no answer
    std::deque<request> awaiting_;  // written (or being written), awaiting the answer, in order
};

}  // namespace sluice::client
