// A partition's producer state kept in step with its log, and the snapshot files it is rebuilt
// from (Kafka's ProducerStateManager). The rules are producer_state's; this is where the state
// meets the disk:
//  - load: leftovers of a crashed write and snapshots past the log end are removed, the newest
//    valid snapshot at or below the log end is read and every batch after it is replayed;
//  - a snapshot at the log end is written after a segment roll (queued, off the strand) and at
//    close (waited for);
//  - truncation removes the snapshots above the new end and rebuilds the state the same way;
//  - retention removes the snapshots older than the newest one at or below the log start; the
//    producers themselves stay until they expire (KIP-360), not when their batches are deleted.
//
// Threading: every call runs on the partition's strand. A queued write runs on the background
// executor. Writes and removals of snapshot files are ordered by one mutex and a generation: a
// truncation, a restart or a close starts a new generation, and a write queued before it is
// dropped, so no snapshot of records the log no longer holds can appear after a truncation.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "sluice/core/async.h"
#include "sluice/core/producer_state.h"
#include "sluice/protocol/result.h"
#include "sluice/storage/file_system.h"
#include "sluice/storage/log.h"

namespace sluice::broker {

// Applies every idempotent batch of `log` from `from` (or its start, if later) to its end, in
// log order, to `state`. Reads whole batches and parses headers only: the log was checked when
// it was written and recovered.
result<void> replay_producers(producer_state& state, storage::partition_log& log, offset_t from);

class producer_state_manager {
  public:
    struct options {
        storage::file_system* fs = &storage::posix_file_system();
        std::filesystem::path dir;
        // Where snapshot writes after a roll run; none: on the strand, at once.
        executor background;
        std::string name;  // "<topic>-<partition>", for logs
    };

    static result<producer_state_manager> load(options opts, storage::partition_log& log);

    const producer_state& state() const { return state_; }
    producer_state& state() { return state_; }

    // A batch the log now holds, not checked (a follower's replicated batch).
    void apply(const batch_header& h);

    // Writes a snapshot of the state as it is, which covers the log below `end`, on the
    // background executor (a failure is logged: the next open replays further).
    void snapshot_later(offset_t end);
    // Writes it now and waits (close). No queued write runs after this.
    result<void> snapshot_now(offset_t end);
    // No queued write or removal runs after this (the partition is being deleted).
    void drop_pending();

    // The log was cut back (truncate_to): snapshots past its end go and the state is rebuilt. On
    // an error the state is cleared instead (never the longer log's).
    result<void> truncated(storage::partition_log& log);
    // The log was emptied and starts again: every snapshot and the whole state go.
    result<void> restarted();
    // Retention moved the log start to `start` (the removal is queued like a write).
    void log_start_moved(offset_t start);
    // Drops the producers that wrote nothing for `expiration` (producer.id.expiration.ms).
    size_t expire(timestamp_ms_t now, std::chrono::milliseconds expiration);

  private:
    // The snapshot files, shared with queued writes.
    struct files {
        std::mutex mutex;  // held for every write or removal of a snapshot file
        uint64_t generation = 0;
        storage::file_system* fs = nullptr;
        std::filesystem::path dir;
        std::string name;
    };

    producer_state_manager(options opts, producer_state state);
    // Rebuilds the state from the snapshots and `log` (under the files' mutex).
    static result<producer_state> rebuild(files& f, storage::partition_log& log);
    // Runs `work` on the background executor (or now), unless a truncation, restart or close
    // starts a new generation first; a failure is logged with `what`.
    void run_later(std::function<result<void>(files&)> work, std::string what);

    executor background_;
    std::shared_ptr<files> files_;
    producer_state state_;
};

}  // namespace sluice::broker
