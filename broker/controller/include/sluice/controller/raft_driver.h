// Drives one Raft node (broker/raft/) with real time, disk and peers: the shell the core was
// written for (docs/raft.md).
//
// Everything runs on one executor, which the driver never leaves: a timer ticks the node; frames
// from peers are decoded and stepped; after each of these, every ready is handled in ready.h's
// order: persisted through raft_storage (fsynced before it returns), then its messages are
// encoded (snapshot chunks filled in from the snapshot file) and handed to `send`, then the
// snapshot to restore and the committed entries go to the state machine, then the node
// advances, and last a snapshot file received whole is checked and the node told
// (snapshot_checked). The persisting blocks the executor, so it must be the controller's own
// (one thread of its own), never a network thread of the broker.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "sluice/controller/raft_storage.h"
#include "sluice/raft/config.h"
#include "sluice/raft/node.h"

namespace sluice::controller {

// What the driver hands committed state to. Called on the driver's executor.
class state_machine {
  public:
    virtual ~state_machine() = default;
    // The state is replaced by a snapshot from the leader, now the storage's snapshot
    // (raft_storage::read_snapshot_data() reads it).
    virtual void restore(const raft::snapshot& snap) = 0;
    // One committed entry at `offset` (every kind: data, leader changes, voter sets), in order.
    virtual void apply(offset_t offset, const raft::entry& e) = 0;
    // The term, the known leader or this node's role changed.
    virtual void on_leadership(const raft::leadership&) {}
};

class raft_driver {
  public:
    struct options {
        raft::config raft;
        std::chrono::milliseconds tick{50};
        std::string cluster_id;
    };
    // Hands one encoded frame to the transport for peer `to`; it may be dropped (Raft resends).
    using send_fn = std::function<void(node_id_t to, std::vector<std::byte> frame)>;

    // Starts from `state` (what raft_storage::open found). Call start() to begin ticking.
    raft_driver(boost::asio::any_io_executor ex, options opts, raft_storage& storage,
                raft::persisted_state state, send_fn send, state_machine& sm);
    ~raft_driver();
    raft_driver(const raft_driver&) = delete;
    raft_driver& operator=(const raft_driver&) = delete;

    // From the executor only.
    void start();
    void stop();
    // A frame from a peer. A frame that does not decode, or names another cluster, is dropped
    // and counted; the core drops (and counts) messages it finds invalid.
    void receive(std::span<const std::byte> frame);
    // Appends data if this node leads; where it went, or why not (raft::node::propose; a stopped
    // driver: operation_canceled, or its failure). `appended`, if given, learns where it went
    // before the node's ready is handled, so before the entry can be applied.
    result<raft::proposal> propose(std::string data,
                                   const std::function<void(const raft::proposal&)>& appended = {});
    // The state machine wrote its snapshot after the entries below id.end_offset to a file of
    // `size_bytes` through raft_storage::begin_snapshot() (raft::node::compact).
    result<void> compact(raft::snapshot_id id, int64_t size_bytes);
    // Starts a pre-vote now (raft::node::campaign).
    void campaign();

    const raft::node& node() const { return node_; }
    uint64_t frames_dropped() const { return frames_dropped_; }
    // Set once persisting failed: the node stops (it no longer knows what its disk holds), and
    // the state machine hears that it leads nothing.
    const std::error_code& failure() const { return failure_; }

  private:
    void arm();
    void drain();
    // Stops the node for good: its disk failed (persist before send can not be kept).
    void fail(std::error_code ec);
    // A fetch_snapshot_response the core sent gets its bytes from the snapshot file (ready.h).
    result<void> fill_snapshot_chunk(raft::message& m);

    boost::asio::any_io_executor ex_;
    options opts_;
    raft_storage& storage_;
    raft::node node_;
    send_fn send_;
    state_machine& sm_;
    boost::asio::steady_timer timer_;
    bool running_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // false once destroyed
    uint64_t frames_dropped_ = 0;
    std::error_code failure_;
};

}  // namespace sluice::controller
