#include "sluice/controller/raft_driver.h"

#include "sluice/controller/raft_codec.h"

namespace sluice::controller {

raft_driver::raft_driver(boost::asio::any_io_executor ex, options opts, raft_storage& storage,
                         raft::persisted_state state, send_fn send, state_machine& sm)
    : ex_(ex),
      opts_(std::move(opts)),
      storage_(storage),
      node_(opts_.raft, std::move(state)),
      send_(std::move(send)),
      sm_(sm),
      timer_(ex) {}

void raft_driver::start() {
    if (running_ || failure_) {
        return;
    }
    running_ = true;
    sm_.on_leadership(node_.current_leadership());
    arm();
    drain();
}

void raft_driver::stop() {
    running_ = false;
    timer_.cancel();
}

raft_driver::~raft_driver() {
    *alive_ = false;
}

void raft_driver::arm() {
    timer_.expires_after(opts_.tick);
    // A wait that completed just before a stop() (or the driver's end) still runs its handler,
    // with no error: the token says whether the driver is still there.
    timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
        if (!*alive || ec || !running_) {
            return;
        }
        node_.tick();
        drain();
        arm();
    });
}

void raft_driver::receive(std::span<const std::byte> frame) {
    if (!running_) {
        return;
    }
    auto decoded = decode_raft_frame(frame);
    if (!decoded || decoded->cluster_id != opts_.cluster_id) {
        ++frames_dropped_;
        return;
    }
    node_.step(decoded->message);
    drain();
}

result<raft::proposal> raft_driver::propose(
    std::string data, const std::function<void(const raft::proposal&)>& appended) {
    if (!running_) {
        // Stopped, or failed: nothing appended now would ever be persisted or sent.
        return failure_ ? failure_ : make_error_code(std::errc::operation_canceled);
    }
    auto p = node_.propose(std::move(data));
    if (p && appended) {
        appended(p.value());
    }
    drain();
    return p;
}

result<void> raft_driver::compact(raft::snapshot_id id, int64_t size_bytes) {
    if (!running_) {
        return failure_ ? failure_ : make_error_code(std::errc::operation_canceled);
    }
    auto r = node_.compact(id, size_bytes);
    drain();
    return r;
}

void raft_driver::campaign() {
    if (running_) {
        node_.campaign();
        drain();
    }
}

void raft_driver::drain() {
    while (running_ && node_.has_ready()) {
        raft::ready rd = node_.get_ready();
        // 1. Durable first: nothing below may depend on state a crash could take back.
        if (auto persisted = storage_.persist(rd); !persisted) {
            fail(persisted.error());
            return;
        }
        // 2. Then the messages, with the snapshot chunks they carry read from the file.
        for (raft::message& m : rd.messages) {
            if (auto filled = fill_snapshot_chunk(m); !filled) {
                fail(filled.error());
                return;
            }
            send_(m.to, encode_raft_frame(opts_.cluster_id, m));
        }
        // 3. Then the state machine.
        if (rd.leader) {
            sm_.on_leadership(*rd.leader);
        }
        if (rd.restore_snapshot && rd.snap) {
            sm_.restore(*rd.snap);
        }
        offset_t at = rd.committed_offset;
        for (const raft::entry& e : rd.committed) {
            sm_.apply(at, e);
            at = at + 1;
        }
        node_.advance(rd);
        // 4. A snapshot received whole is installed only if its file checks.
        if (rd.snap_received) {
            auto ok = storage_.check_received(*rd.snap_received);
            if (!ok) {
                fail(ok.error());
                return;
            }
            node_.snapshot_checked(rd.snap_received->id, ok.value());
        }
    }
}

void raft_driver::fail(std::error_code ec) {
    failure_ = ec;
    stop();
    // Whatever this node led or followed, it does no more.
    sm_.on_leadership({node_.term(), raft::no_node, raft::role::follower});
}

result<void> raft_driver::fill_snapshot_chunk(raft::message& m) {
    auto* r = std::get_if<raft::fetch_snapshot_response>(&m.body);
    if (r == nullptr || !r->found) {
        return success();
    }
    SLUICE_TRY(auto bytes, storage_.read_snapshot(r->id, r->position_bytes,
                                                  opts_.raft.snapshot_chunk_bytes_max));
    if (bytes) {
        r->chunk = std::move(*bytes);
    } else {
        // A newer snapshot replaced it since the core answered: the follower asks again.
        *r = raft::fetch_snapshot_response{r->term, r->leader, r->id, false};
    }
    return success();
}

}  // namespace sluice::controller
