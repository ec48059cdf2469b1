// Carries the controller listener's frames over TCP (Raft messages and the brokers' requests to
// the active controller, and their answers): a listener for peers' frames and one outbound
// connection per configured peer, all on the controller's executor (no locks). Every connection
// carries frames both ways: a node with no listener (a broker that is not a controller) gets its
// answers on the connection it opened, and the receiver routes frames for a node it has no
// endpoint for back over the inbound connection that node's frames came on (route()).
//
// Raft resends everything on timers, so the transport never retries a frame: a frame to a peer
// that is connecting waits (at most frames_queued_max of them and queued_bytes_max bytes, the
// oldest dropped first); a broken connection, or a connect or write that takes longer than
// io_timeout (a peer that vanished without a reset), drops what it held, and the next send after
// reconnect_backoff connects again (frames sent meanwhile are dropped: they would be stale).
// Inbound frames are checked against frame_bytes_max from their header before anything is read;
// a bad header closes that connection only. frame_bytes_max must be above the Raft config's
// fetch_bytes_max and snapshot_chunk_bytes_max plus the envelope, or large answers never pass.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "sluice/protocol/types.h"

namespace sluice::controller {

class raft_transport {
  public:
    struct options {
        size_t frame_bytes_max = 16u << 20;
        size_t frames_queued_max = 1024;
        size_t queued_bytes_max = 64u << 20;
        std::chrono::milliseconds reconnect_backoff{100};
        std::chrono::milliseconds io_timeout{5000};
    };
    // The frame, and the inbound connection it came on (0: an outbound one), for route().
    using frame_fn = std::function<void(std::span<const std::byte> frame, uint64_t link)>;

    raft_transport(boost::asio::any_io_executor ex, options opts, frame_fn on_frame);

    // Called (posted, on the executor) when the connection to a configured peer fails or could
    // not be made: what was sent to it may be lost.
    void on_peer_down(std::function<void(node_id_t)> f) { on_down_ = std::move(f); }
    ~raft_transport();
    raft_transport(const raft_transport&) = delete;
    raft_transport& operator=(const raft_transport&) = delete;

    // Listens on `at` (port 0: any free one) and returns the bound endpoint.
    boost::asio::ip::tcp::endpoint listen(const boost::asio::ip::tcp::endpoint& at);
    // A new endpoint for a known peer drops its connection and what it held.
    void set_peer(node_id_t id, boost::asio::ip::tcp::endpoint at);
    // Frames for `id`, which has no configured endpoint, go over inbound connection `link` (the
    // latest one it sent on). A configured peer's frames always take its outbound connection,
    // so no inbound connection can claim a voter's traffic.
    void route(node_id_t id, uint64_t link);
    // Queues one frame for `to`: over its outbound connection, or its routed inbound one;
    // dropped if `to` is neither.
    void send(node_id_t to, std::vector<std::byte> frame);
    void close();

    uint64_t frames_dropped() const { return frames_dropped_; }

  private:
    struct peer;
    struct inbound;
    void start_connect(peer& p);
    void start_write(peer& p);
    void reset(peer& p);
    void arm_deadline(peer& p);
    void accept();
    // Reads frames from `s` until it fails; `link` names an inbound connection (0: outbound).
    void read(std::shared_ptr<boost::asio::ip::tcp::socket> s, uint64_t link);
    void write_inbound(const std::shared_ptr<inbound>& in);
    // Drops the oldest queued frames until `more` bytes fit.
    void make_room(std::deque<std::vector<std::byte>>& queue, size_t& queued_bytes, size_t more);

    boost::asio::any_io_executor ex_;
    options opts_;
    frame_fn on_frame_;
    std::function<void(node_id_t)> on_down_;
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
    boost::asio::steady_timer accept_retry_;  // after a failed accept (out of descriptors)
    std::map<int32_t, std::unique_ptr<peer>> peers_;
    std::map<uint64_t, std::shared_ptr<inbound>> inbound_;  // open inbound connections
    std::map<int32_t, uint64_t> routes_;                    // node -> inbound connection
    uint64_t next_link_ = 1;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    uint64_t frames_dropped_ = 0;
};

}  // namespace sluice::controller
