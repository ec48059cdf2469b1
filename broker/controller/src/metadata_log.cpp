#include "sluice/controller/metadata_log.h"

#include <fmt/format.h>
#include <boost/asio/post.hpp>

#include "sluice/core/logging.h"
#include "sluice/protocol/byte_order.h"
#include "sluice/protocol/errc.h"
#include "sluice/raft/errc.h"

namespace sluice::controller {

namespace logging = broker::logging;

std::string_view outcome_name(proposal_outcome o) noexcept {
    switch (o) {
        case proposal_outcome::written:
            return "written";
        case proposal_outcome::refused:
            return "refused";
        case proposal_outcome::lost:
            return "lost";
        case proposal_outcome::unknown:
            return "unknown";
        case proposal_outcome::rejected:
            return "rejected";
    }
    return "?";
}

namespace {

// A snapshot's batches (metadata_log.h): written and read one at a time.
constexpr size_t snapshot_batch_records = 1000;
constexpr int64_t snapshot_batch_bytes_max = 64 << 20;

}  // namespace

// A snapshot that does not load was CRC-checked on disk and comes from a leader's own image, so
// this means a broken leader or a version this one does not read: the callers never go on with
// an empty image, which would drop every topic.
std::pair<metadata_log::image_ptr, std::string> load_snapshot_image(raft_storage& storage,
                                                                    const raft::snapshot& snap) {
    const auto& on_disk = storage.snapshot();
    std::string why;
    std::vector<metadata_record> records;
    if (!on_disk || on_disk->snap.id != snap.id) {
        why = "it is not the snapshot on disk";
    }
    const int64_t end = on_disk ? on_disk->data_bytes : 0;
    for (int64_t at = 0; why.empty() && at < end;) {
        auto head = storage.read_snapshot_data(at, 4);
        if (!head || head.value().size() != 4) {
            why = head ? "a batch length past the end" : head.error().message();
            break;
        }
        const int64_t n =
            load_be<uint32_t>(reinterpret_cast<const std::byte*>(head.value().data()));
        if (n > end - at - 4 || n > snapshot_batch_bytes_max) {
            why = n > snapshot_batch_bytes_max ? "a batch too large" : "a batch past the end";
            break;
        }
        auto body = storage.read_snapshot_data(at + 4, n);
        if (!body) {
            why = body.error().message();
            break;
        }
        auto batch = decode_batch(body.value(), &why);
        if (!batch) {
            break;
        }
        std::move(batch->begin(), batch->end(), std::back_inserter(records));
        at += 4 + n;
    }
    if (why.empty()) {
        auto r = image_from_records(records, snap.id.end_offset);
        if (r.problem.empty()) {
            return {std::make_shared<const metadata_image>(std::move(r.image)), {}};
        }
        why = r.problem;
    }
    return {nullptr, fmt::format("the metadata snapshot ending at offset {} does not load: {}",
                                 snap.id.end_offset, why)};
}

result<int64_t> write_snapshot_image(raft_storage& storage, const metadata_image& image,
                                     const raft::snapshot_id& id,
                                     const std::vector<node_id_t>& voters) {
    SLUICE_TRY(auto writer, storage.begin_snapshot(id));
    const std::vector<metadata_record> records = image.to_records();
    for (size_t at = 0, n = 0; at < records.size(); at += n) {
        // Fewer records where they are large: every batch must load again.
        n = std::min(snapshot_batch_records, records.size() - at);
        std::string batch = encode_batch(std::span(records).subspan(at, n));
        while (int64_t(batch.size()) > snapshot_batch_bytes_max && n > 1) {
            n /= 2;
            batch = encode_batch(std::span(records).subspan(at, n));
        }
        if (int64_t(batch.size()) > snapshot_batch_bytes_max) {
            return make_error_code(errc::message_too_large);  // one record past the bound
        }
        std::byte head[4];
        store_be<uint32_t>(head, uint32_t(batch.size()));
        SLUICE_TRY(writer->append(head));
        SLUICE_TRY(writer->append(std::as_bytes(std::span(batch))));
    }
    return writer->finish(id, voters);
}

result<metadata_log::opened> metadata_log::open(boost::asio::any_io_executor ex,
                                                storage::file_system& fs,
                                                const std::filesystem::path& dir, options opts,
                                                raft_driver::send_fn send) {
    SLUICE_TRY(auto o, raft_storage::open(fs, dir, opts.driver.raft.id));
    if (!o.problem.empty()) {
        return opened{nullptr, std::move(o.problem)};
    }
    image_ptr image = std::make_shared<const metadata_image>();
    if (o.state.snap) {
        auto [loaded, problem] = load_snapshot_image(*o.storage, *o.state.snap);
        if (!loaded) {
            return opened{nullptr, problem + "; the node does not start on an empty image"};
        }
        image = std::move(loaded);
    }
    std::unique_ptr<metadata_log> log(new metadata_log(ex, std::move(opts), std::move(o.storage),
                                                       std::move(o.state), std::move(image),
                                                       std::move(send)));
    return opened{std::move(log), {}};
}

metadata_log::metadata_log(boost::asio::any_io_executor ex, options opts,
                           std::unique_ptr<raft_storage> storage, raft::persisted_state state,
                           image_ptr image, raft_driver::send_fn send)
    : ex_(ex), opts_(std::move(opts)), storage_(std::move(storage)), image_(std::move(image)) {
    if (state.snap) {
        applied_term_ = state.snap->id.term;
    }
    driver_ = std::make_unique<raft_driver>(ex_, opts_.driver, *storage_, std::move(state),
                                            std::move(send), static_cast<state_machine&>(*this));
}

metadata_log::~metadata_log() {
    *alive_ = false;
}

void metadata_log::start() {
    for (auto& f : image_subscribers_) {
        f(image_);
    }
    driver_->start();
}

void metadata_log::stop() {
    driver_->stop();
    // Nothing is decided from here on: what waits, waits for nothing.
    while (!pending_.empty()) {
        decide(pending_.begin()->first, {proposal_outcome::unknown, {}, "the node stopped", {}});
    }
}

void metadata_log::campaign() {
    driver_->campaign();
}

void metadata_log::propose(const std::vector<metadata_record>& batch, done_fn done) {
    // Waiting before the drain inside propose, which may apply it already (one voter).
    auto p = driver_->propose(encode_batch(batch), [&](const raft::proposal& at) {
        pending_.emplace(at.offset, pending{at.term, std::move(done)});
    });
    if (!p) {
        proposal_result r{proposal_outcome::rejected, offset_t{-1}, p.error().message(), p.error()};
        boost::asio::post(
            ex_, [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
    }
}

void metadata_log::decide(offset_t offset, proposal_result r) {
    auto it = pending_.find(offset);
    if (it == pending_.end()) {
        return;
    }
    auto done = std::move(it->second.done);
    pending_.erase(it);
    r.offset = offset;
    boost::asio::post(ex_,
                      [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
}

void metadata_log::restore(const raft::snapshot& snap) {
    auto [loaded, problem] = load_snapshot_image(*storage_, snap);
    if (!loaded) {
        ++entries_refused_;
        logging::error("{}; this node stops following the metadata log", problem);
        // Going on from an empty image would drop every topic; standing still keeps them. The
        // rest of this ready is not applied either (apply() checks halted_).
        halted_ = true;
        stop();
        for (auto& f : leadership_subscribers_) {
            f({snap.id.term, raft::no_node, raft::role::follower});
        }
        return;
    }
    image_ = std::move(loaded);
    applied_term_ = snap.id.term;
    bytes_since_snapshot_ = 0;
    // Proposals the snapshot covers: their entries will never be seen.
    while (!pending_.empty() && pending_.begin()->first < snap.id.end_offset) {
        decide(pending_.begin()->first, {proposal_outcome::unknown, {}, {}, {}});
    }
    publish_soon();
}

void metadata_log::apply(offset_t offset, const raft::entry& e) {
    if (halted_) {
        return;
    }
    applied_term_ = e.term;
    std::string problem;
    if (e.kind == raft::entry_kind::data) {
        bytes_since_snapshot_ += int64_t(e.data.size());
        std::string why;
        if (auto batch = decode_batch(e.data, &why)) {
            auto r = apply_batch(*image_, offset, *batch);
            image_ = std::make_shared<const metadata_image>(std::move(r.image));
            problem = std::move(r.problem);
        } else {
            problem = "the entry is not a metadata batch: " + why;
            image_ = std::make_shared<const metadata_image>(apply_batch(*image_, offset, {}).image);
        }
        if (!problem.empty()) {
            ++entries_refused_;
            logging::error("metadata log entry at offset {} refused: {}", offset, problem);
        }
    } else {
        // Leader changes and voter sets move the offset only.
        image_ = std::make_shared<const metadata_image>(apply_batch(*image_, offset, {}).image);
    }
    if (auto it = pending_.find(offset); it != pending_.end()) {
        if (it->second.term != e.term) {
            decide(offset, {proposal_outcome::lost, {}, {}, {}});
        } else if (!problem.empty()) {
            decide(offset, {proposal_outcome::refused, {}, problem, {}});
        } else {
            decide(offset, {proposal_outcome::written, {}, {}, {}});
        }
    }
    publish_soon();
    if (bytes_since_snapshot_ >= opts_.snapshot_bytes) {
        snapshot_soon();
    }
}

void metadata_log::on_leadership(const raft::leadership& l) {
    if (driver_ && driver_->failure() && !failure_logged_) {
        failure_logged_ = true;
        logging::error("the metadata log cannot persist ({}): this node stops following it",
                       driver_->failure().message());
    }
    // Proposals of an older term: the next leader may commit them or not.
    std::vector<offset_t> older;
    for (const auto& [offset, p] : pending_) {
        if (p.term < l.term || (driver_ && driver_->failure())) {
            older.push_back(offset);
        }
    }
    for (offset_t o : older) {
        decide(o, {proposal_outcome::unknown, {}, "the leadership changed", {}});
    }
    for (auto& f : leadership_subscribers_) {
        f(l);
    }
}

void metadata_log::publish_soon() {
    if (publish_posted_) {
        return;
    }
    publish_posted_ = true;
    boost::asio::post(ex_, [this, alive = alive_] {
        if (!*alive) {
            return;
        }
        publish_posted_ = false;
        if (halted()) {
            return;
        }
        for (auto& f : image_subscribers_) {
            f(image_);
        }
    });
}

void metadata_log::snapshot_soon() {
    if (snapshot_posted_) {
        return;
    }
    snapshot_posted_ = true;
    // After the drain that applied the entries, when the core allows a snapshot of them.
    boost::asio::post(ex_, [this, alive = alive_] {
        if (!*alive) {
            return;
        }
        snapshot_posted_ = false;
        const raft::snapshot_id id{image_->end_offset(), applied_term_};
        const raft::node& node = driver_->node();
        if (halted() || id.end_offset <= node.log().start() || id.end_offset > node.applied()) {
            return;  // nothing new to snapshot (or the node stopped)
        }
        auto size =
            write_snapshot_image(*storage_, *image_, id, node.snapshot_voters(id.end_offset));
        if (!size) {
            logging::error("metadata snapshot at offset {} not written: {}", id.end_offset,
                           size.error().message());
            return;
        }
        auto r = driver_->compact(id, size.value());
        if (r) {
            bytes_since_snapshot_ = 0;
            ++snapshots_taken_;
            logging::info("metadata snapshot taken at offset {}", id.end_offset);
        } else if (r.error() != make_error_code(raft::errc::snapshot_pending)) {
            logging::warn("metadata snapshot at offset {} not taken: {}", id.end_offset,
                          r.error().message());
        }
    });
}

}  // namespace sluice::controller
