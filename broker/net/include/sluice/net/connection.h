// One client connection, generic over its listener's frame codec. Three coroutines and one per
// request in flight share the connection's strand (so its state needs no lock):
//   reader   reads frames (the codec's header, the size check against socket.request.max.bytes,
//            a reservation in the broker's memory budget (queued.max.request.bytes, waiting while
//            it is spent), the rest into an 8-aligned buffer, the codec's decode) and starts each
//            request as it
//            arrives, in order, while fewer than queued.max.requests.per.connection requests and
//            queued.max.request.bytes.per.connection bytes are in flight; then it stops reading
//            the socket (back-pressure through TCP).
//   request  one coroutine per request runs it to its end (codec.handle).
//   writer   writes the responses in request order, as the oldest one completes; so appends of
//            request N+1 need not wait for request N's acknowledgement (pipelining), while the
//            client still sees answers in order. A response's own bytes go in gather writes; the
//            fetched records it names (file ranges) go from the segment files to the socket on
//            the blocking pool (the pages may have to come from disk), with sendfile or read
//            and sent (fetch.sendfile, file_send.h), waiting on the strand whenever the socket
//            is full.
//   idle     closes the connection after connections.max.idle.ms without a request, or when a
//            response write has made no progress for that long (a client that stopped reading).
// Requests start in arrival order on this strand, and a produce posts all of its appends before
// it first suspends (replica_manager.h), so requests append to a shared partition in order.
// A frame the codec rejects closes the connection with a WARN line naming the peer and the
// reason; nothing after such a frame can be trusted.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "sluice/core/async.h"
#include "sluice/net/codec.h"
#include "sluice/net/request.h"

namespace sluice::broker {

class connection;

// Every open connection, for shutdown. Touched at accept, at close and at shutdown only, never on
// the produce or fetch path, so a plain mutex guards it.
class connection_list {
  public:
    void add(const std::shared_ptr<connection>& c);
    void remove(const connection* c);
    std::vector<std::shared_ptr<connection>> all() const;
    // Connection objects that still exist (their coroutines may still be ending).
    size_t size() const;

  private:
    mutable std::mutex mutex_;
    std::map<const connection*, std::weak_ptr<connection>> items_;
};

class connection : public std::enable_shared_from_this<connection> {
  public:
    // `socket`'s executor is the connection's strand. `codec` outlives the connection.
    connection(broker_context& ctx, const frame_codec& codec, connection_list& list,
               boost::asio::ip::tcp::socket socket, std::string peer);
    ~connection();

    // Starts the coroutines.
    void start();
    // Any thread. Stops reading; requests already read are answered, then the connection closes.
    void drain();
    // Any thread. Closes at once.
    void close_now();

    const std::string& peer() const { return peer_; }

  private:
    // A request from its arrival to its response's write.
    struct in_flight {
        request req;
        handler_result result;
        bool done = false;
        size_t charged = 0;         // bytes held in the broker's memory budget for it
        size_t response_bytes = 0;  // counted in in_flight_bytes_ too
    };

    awaitable<void> read_loop();
    awaitable<void> run_request(std::shared_ptr<in_flight> r);
    awaitable<void> write_loop();
    awaitable<void> idle_loop();
    // Writes `buffers` fully, noting progress for the idle check. False on error. `more`: more
    // bytes follow at once (MSG_MORE), so TCP may hold these back to fill a packet.
    awaitable<bool> write_all(std::vector<boost::asio::const_buffer>& buffers, bool more = false);
    // Writes a whole response: its parts in order, file ranges through send_range.
    awaitable<bool> write_response(response& reply);
    // Sends one file range from the blocking pool: with sendfile, or read and sent (fetch.sendfile,
    // and always for a file without a descriptor). False on error (the connection is closed).
    awaitable<bool> send_range(const storage::file_range& range);

    // Reserves `n` bytes of the broker's memory budget, waiting while it is spent. False if
    // the connection closed meanwhile.
    awaitable<bool> reserve(size_t n);
    // Reads until `staged()` holds at least `n` bytes. False on EOF or error.
    awaitable<bool> fill(size_t n);
    size_t staged() const { return stage_end_ - stage_begin_; }
    frame_buffer take_buffer(size_t size);
    void recycle(frame_buffer b);
    void close(std::string_view why, bool warn);
    // Gives the connection's max.connections slot back; once, at close or destruction.
    void release_slot();

    broker_context& ctx_;
    const frame_codec& codec_;
    connection_list& list_;
    boost::asio::ip::tcp::socket socket_;
    executor strand_;
    std::string peer_;

    // Bytes read from the socket but not yet taken into a frame. Small frames are cut out of
    // it (one read for many frames); the bulk of a large frame is read straight into its buffer.
    std::vector<std::byte> stage_;
    size_t stage_begin_ = 0;
    size_t stage_end_ = 0;

    // Requests in arrival order, from their start to their response's write, and the bytes of
    // their frames and built responses (queued.max.request.bytes.per.connection).
    std::deque<std::shared_ptr<in_flight>> in_flight_;
    size_t in_flight_bytes_ = 0;
    std::vector<frame_buffer> spare_;  // recycled frame buffers
    size_t fetch_rotation_ = 0;        // request_context::fetch_rotation

    boost::asio::steady_timer reader_wake_;  // the reader sleeps on it while at the limits
    boost::asio::steady_timer writer_wake_;  // the writer sleeps on it until the oldest is done
    boost::asio::steady_timer idle_timer_;
    steady_clock::time_point last_active_;  // the last request read or response byte written
    bool writing_ = false;                  // a response write is in progress
    // A send runs on the blocking pool with the socket's descriptor: close() then only shuts
    // the socket down (which ends the send), and send_range closes it once back, so that the
    // descriptor cannot be reused under the pool's call.
    bool offloaded_ = false;
    // fetch.sendfile for this peer: sendfile, or read and send (auto: on loopback).
    bool sendfile_ = true;
    bool reader_done_ = false;  // no more frames will be read
    bool draining_ = false;
    bool closed_ = false;
    bool slot_released_ = false;
    std::shared_ptr<async_event> budget_wait_;  // set while the reader waits for the budget
    // Cancelled at close: the requests still running stop waiting (long polls, acknowledgements).
    std::shared_ptr<cancel_token> cancel_ = std::make_shared<cancel_token>();

    std::vector<boost::asio::const_buffer> gather_;  // reused for each response
};

}  // namespace sluice::broker
