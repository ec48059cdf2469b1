// The cluster metadata log on one node (docs/controller.md): a Raft node, voter or observer, run
// by raft_driver over raft_storage in the node's metadata directory; the image its committed
// entries build (one metadata batch per entry, metadata_image.h); snapshots of that image taken
// every `snapshot_bytes` of applied entries; and the fate of every batch this node proposed.
//
// Everything happens on one executor, the controller's own thread (raft_driver blocks it to
// fsync): every call, every callback. Images go to subscribers as shared pointers to immutable
// values, so they may be handed to other threads.
//
// A proposal is decided by the committed entry at its offset (raft::proposal): that entry has
// the proposal's term (written), or not (lost: another leader's entry won). When the term moves
// on before that entry is seen, or a snapshot covers the offset first, or the node stops, the
// outcome is unknown: the proposal may still be committed by the next leader, or not. So every
// proposal is decided, and soon.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "sluice/controller/metadata_image.h"
#include "sluice/controller/raft_driver.h"
#include "sluice/controller/raft_storage.h"
#include "sluice/protocol/result.h"

namespace sluice::controller {

// How a proposed batch ended.
enum class proposal_outcome {
    written,   // committed at its offset and applied
    refused,   // committed, but the image refused it (a damaged or misplanned batch)
    lost,      // another entry was committed at its offset
    unknown,   // a snapshot covered its offset first
    rejected,  // never appended: not the leader, too large, too many uncommitted, stopped
};

std::string_view outcome_name(proposal_outcome o) noexcept;

struct proposal_result {
    proposal_outcome outcome = proposal_outcome::rejected;
    offset_t offset{-1};    // where it was appended (all but rejected)
    std::string detail;     // refused: why; rejected: the error
    std::error_code error;  // rejected: why (raft::errc::not_leader, entry_too_large, ...)
};

class metadata_log final : private state_machine {
  public:
    struct options {
        raft_driver::options driver;
        // Take a snapshot after this many bytes of entries applied since the last one
        // (metadata.log.max.record.bytes.between.snapshots).
        int64_t snapshot_bytes = 20 << 20;
    };
    using image_ptr = std::shared_ptr<const metadata_image>;
    using done_fn = std::function<void(proposal_result)>;

    struct opened {
        std::unique_ptr<metadata_log> log;  // null when `problem` is set
        std::string problem;                // the node must not start; says why
    };
    // Opens the metadata directory `dir` (raft_storage::open) and loads its snapshot.
    static result<opened> open(boost::asio::any_io_executor ex, storage::file_system& fs,
                               const std::filesystem::path& dir, options opts,
                               raft_driver::send_fn send);

    ~metadata_log() override;
    metadata_log(const metadata_log&) = delete;
    metadata_log& operator=(const metadata_log&) = delete;

    // From the executor only, from here on.
    void start();
    void stop();
    void receive(std::span<const std::byte> frame) { driver_->receive(frame); }
    // Starts an election now (a one-voter quorum need not wait for its election timeout).
    void campaign();

    // Appends one batch if this node leads; `done` is called exactly once, later, on the
    // executor (never from inside propose).
    void propose(const std::vector<metadata_record>& batch, done_fn done);

    const boost::asio::any_io_executor& executor() const { return ex_; }
    // The committed image, as of image()->end_offset().
    const image_ptr& image() const { return image_; }
    const raft::node& node() const { return driver_->node(); }
    // How often the node ticks (its ticks measure replica_statuses()).
    std::chrono::milliseconds tick_interval() const { return opts_.driver.tick; }
    const std::error_code& failure() const { return driver_->failure(); }
    // It stopped following the log for good: its disk failed, or a snapshot did not load. It
    // applies and publishes nothing more.
    bool halted() const { return halted_ || bool(driver_->failure()); }
    // Batches refused by the image or undecodable, since the start (each is logged).
    uint64_t entries_refused() const { return entries_refused_; }
    uint64_t snapshots_taken() const { return snapshots_taken_; }

    // Called on the executor with each new committed image, at most once per drain of the node
    // (entries applied together are published together), and with the image there is at start.
    void on_image(std::function<void(const image_ptr&)> f) {
        image_subscribers_.push_back(std::move(f));
    }
    // Called on the executor when the term, leader or this node's role changed.
    void on_leadership(std::function<void(const raft::leadership&)> f) {
        leadership_subscribers_.push_back(std::move(f));
    }

  private:
    metadata_log(boost::asio::any_io_executor ex, options opts,
                 std::unique_ptr<raft_storage> storage, raft::persisted_state state,
                 image_ptr image, raft_driver::send_fn send);

    // state_machine
    void restore(const raft::snapshot& snap) override;
    void apply(offset_t offset, const raft::entry& e) override;
    void on_leadership(const raft::leadership& l) override;

    void decide(offset_t offset, proposal_result r);
    void publish_soon();
    void snapshot_soon();

    struct pending {
        term_t term;
        done_fn done;
    };

    boost::asio::any_io_executor ex_;
    options opts_;
    std::unique_ptr<raft_storage> storage_;
    image_ptr image_;
    std::unique_ptr<raft_driver> driver_;  // after storage_ and image_: it refers to both
    std::map<offset_t, pending> pending_;
    std::vector<std::function<void(const image_ptr&)>> image_subscribers_;
    std::vector<std::function<void(const raft::leadership&)>> leadership_subscribers_;
    term_t applied_term_{0};  // of the last entry applied
    int64_t bytes_since_snapshot_ = 0;
    bool publish_posted_ = false;
    bool snapshot_posted_ = false;
    bool failure_logged_ = false;
    bool halted_ = false;
    uint64_t entries_refused_ = 0;
    uint64_t snapshots_taken_ = 0;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// A metadata snapshot's bytes: the image's records in batches (metadata_records.h), each framed
// by its length (u32, big endian), of at most 1,000 records and 64 MiB.
//
// Writes `image` as the snapshot `id` with `voters` through storage.begin_snapshot(); returns
// the file's size, for node::compact().
result<int64_t> write_snapshot_image(raft_storage& storage, const metadata_image& image,
                                     const raft::snapshot_id& id,
                                     const std::vector<node_id_t>& voters);
// The image the snapshot `snap` on storage's disk holds, read a batch at a time, or a null
// image and why it does not load (a damaged or hostile file, a version this one does not read).
std::pair<metadata_log::image_ptr, std::string> load_snapshot_image(raft_storage& storage,
                                                                    const raft::snapshot& snap);

}  // namespace sluice::controller
