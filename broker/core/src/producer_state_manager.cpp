#include "sluice/core/producer_state_manager.h"

#include <fmt/format.h>
#include <boost/asio/post.hpp>

#include "sluice/core/logging.h"
#include "sluice/core/producer_snapshot.h"

namespace sluice::broker {

namespace {

// How much of the log one replay step reads (at least one batch, however large).
constexpr size_t replay_read_bytes = size_t{1} << 20;

}  // namespace

result<void> replay_producers(producer_state& state, storage::partition_log& log, offset_t from) {
    offset_t at = std::max(from, log.start_offset());
    while (at < log.end_offset()) {
        SLUICE_TRY(auto r, log.read(at, replay_read_bytes));
        if (r.next_offset <= at) {
            return make_error_code(errc::corrupt_message);  // the log returned no batch
        }
        bytes_view bytes = r.bytes;
        while (!bytes.empty()) {
            SLUICE_TRY(batch_header h, read_header(bytes));
            if (h.size_bytes() > bytes.size()) {
                return make_error_code(errc::corrupt_message);
            }
            // The first batch read holds `at` and may begin before it (a snapshot's offset is
            // always a batch boundary, so this only guards against a damaged one).
            if (h.last_offset() >= from) {
                state.apply(producer_batch_info::of(h), h.base_offset, h.last_offset());
            }
            bytes = bytes.subspan(h.size_bytes());
        }
        at = r.next_offset;
    }
    return success();
}

producer_state_manager::producer_state_manager(options opts, producer_state state)
    : background_(std::move(opts.background)),
      files_(std::make_shared<files>()),
      state_(std::move(state)) {
    files_->fs = opts.fs;
    files_->dir = std::move(opts.dir);
    files_->name = std::move(opts.name);
}

result<producer_state> producer_state_manager::rebuild(files& f, storage::partition_log& log) {
    SLUICE_TRY(auto snap, read_producer_snapshot_at_or_below(*f.fs, f.dir, log.end_offset()));
    producer_state state;
    offset_t from = log.start_offset();
    if (snap) {
        state = std::move(snap->state);
        from = snap->end_offset;
    }
    SLUICE_TRY(replay_producers(state, log, from));
    return state;
}

result<producer_state_manager> producer_state_manager::load(options opts,
                                                            storage::partition_log& log) {
    producer_state_manager m(std::move(opts), {});
    files& f = *m.files_;
    SLUICE_TRY(remove_producer_snapshot_leftovers(*f.fs, f.dir));
    // Past the log end: written before a crash took the records they cover.
    SLUICE_TRY(remove_producer_snapshots_above(*f.fs, f.dir, log.end_offset()));
    SLUICE_TRY(m.state_, rebuild(f, log));
    return m;
}

void producer_state_manager::apply(const batch_header& h) {
    state_.apply(producer_batch_info::of(h), h.base_offset, h.last_offset());
}

void producer_state_manager::run_later(std::function<result<void>(files&)> work, std::string what) {
    uint64_t generation = 0;
    {
        std::lock_guard lock(files_->mutex);
        generation = files_->generation;
    }
    auto job = [f = files_, generation, work = std::move(work), what = std::move(what)] {
        std::lock_guard lock(f->mutex);
        if (f->generation != generation) {
            return;  // a truncation, restart or close came first
        }
        if (auto r = work(*f); !r) {
            logging::warn("{}: {}: {} (a later open replays more of the log)", f->name, what,
                          r.error().message());
        }
    };
    if (background_) {
        boost::asio::post(background_, std::move(job));
    } else {
        job();
    }
}

void producer_state_manager::snapshot_later(offset_t end) {
    // A copy: the strand goes on changing the state while the write waits.
    auto snap = std::make_shared<const producer_snapshot>(producer_snapshot{end, state_});
    run_later([snap](files& f) { return write_producer_snapshot(*f.fs, f.dir, *snap); },
              fmt::format("writing the producer snapshot at offset {}", end));
}

result<void> producer_state_manager::snapshot_now(offset_t end) {
    std::lock_guard lock(files_->mutex);
    ++files_->generation;
    return write_producer_snapshot(*files_->fs, files_->dir, producer_snapshot{end, state_});
}

void producer_state_manager::drop_pending() {
    std::lock_guard lock(files_->mutex);
    ++files_->generation;
}

result<void> producer_state_manager::truncated(storage::partition_log& log) {
    std::lock_guard lock(files_->mutex);
    ++files_->generation;
    auto rebuilt = [&]() -> result<producer_state> {
        SLUICE_TRY(remove_producer_snapshots_above(*files_->fs, files_->dir, log.end_offset()));
        return rebuild(*files_, log);
    }();
    if (!rebuilt) {
        // The state of the longer log would answer retries of batches the log no longer holds
        // as duplicates: none at all is the safe side (retries are then taken at any sequence).
        state_ = producer_state{};
        return rebuilt.error();
    }
    state_ = std::move(rebuilt).value();
    return success();
}

result<void> producer_state_manager::restarted() {
    std::lock_guard lock(files_->mutex);
    ++files_->generation;
    state_ = producer_state{};
    return remove_producer_snapshots_above(*files_->fs, files_->dir, offset_t{-1});
}

void producer_state_manager::log_start_moved(offset_t start) {
    run_later([start](files& f) { return remove_producer_snapshots_before(*f.fs, f.dir, start); },
              fmt::format("removing producer snapshots below offset {}", start));
}

size_t producer_state_manager::expire(timestamp_ms_t now, std::chrono::milliseconds expiration) {
    return state_.remove_expired(now, expiration);
}

}  // namespace sluice::broker
