// One client connection. Three coroutines share the connection's strand (so its state needs no
// lock):
//   reader   reads frames (header, size check against socket.request.max.bytes, the rest into an
//            8-aligned buffer, envelope verification) and queues them, up to
//            queued.max.requests.per.connection frames and
//            queued.max.request.bytes.per.connection bytes; then it stops reading the socket
//            (back-pressure through TCP).
//   handler  takes the frames in order, runs each request to its end and writes its response
//            (one gather write), so responses leave in request order.
//   idle     closes the connection after connections.max.idle.ms without a request.
// A frame over the size limit or an envelope that fails verification closes the connection with
// a WARN line naming the peer and the reason; nothing after such a frame can be trusted.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "async.h"
#include "request.h"

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
    // `socket`'s executor is the connection's strand.
    connection(broker_context& ctx, connection_list& list, boost::asio::ip::tcp::socket socket,
               std::string peer);
    ~connection();

    // Starts the coroutines.
    void start();
    // Any thread. Stops reading; requests already read are answered, then the connection closes.
    void drain();
    // Any thread. Closes at once.
    void close_now();

    const std::string& peer() const { return peer_; }

  private:
    awaitable<void> read_loop();
    awaitable<void> handle_loop();
    awaitable<void> idle_loop();

    // Reads until `staged()` holds at least `n` bytes. False on EOF or error.
    awaitable<bool> fill(size_t n);
    size_t staged() const { return stage_end_ - stage_begin_; }
    frame_buffer take_buffer(size_t size);
    void recycle(frame_buffer b);
    void close(std::string_view why, bool warn);
    void refresh_image();
    // Gives the connection's max.connections slot back; once, at close or destruction.
    void release_slot();

    broker_context& ctx_;
    connection_list& list_;
    boost::asio::ip::tcp::socket socket_;
    executor strand_;
    std::string peer_;

    // Bytes read from the socket but not yet taken into a frame. Small frames are cut out of
    // it (one read for many frames); the bulk of a large frame is read straight into its buffer.
    std::vector<std::byte> stage_;
    size_t stage_begin_ = 0;
    size_t stage_end_ = 0;

    std::deque<request> queue_;
    size_t queued_bytes_ = 0;
    std::vector<frame_buffer> spare_;  // recycled frame buffers

    boost::asio::steady_timer reader_wake_;   // the reader sleeps on it while the queue is full
    boost::asio::steady_timer handler_wake_;  // the handler sleeps on it while the queue is empty
    boost::asio::steady_timer idle_timer_;
    steady_clock::time_point last_active_;
    bool busy_ = false;         // a request is being handled
    bool reader_done_ = false;  // no more frames will be queued
    bool draining_ = false;
    bool closed_ = false;
    bool slot_released_ = false;

    std::shared_ptr<const registry_image> image_;
    std::vector<boost::asio::const_buffer> gather_;  // reused for each response
};

}  // namespace sluice::broker
