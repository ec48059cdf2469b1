// A controller's durable Raft state in its metadata directory (docs/raft.md, "On disk"):
//   - the log: a storage partition_log of one record batch per entry (so a truncation, which
//     never splits a batch, never splits an entry), fsynced before persist() returns;
//   - the hard state: the quorum-state file (quorum_state.h);
//   - the latest snapshot: one file, `raft-snapshot`, with a CRC, replaced atomically. A log
//     with no entry at or past the snapshot's end restarts there, empty; entries below the
//     snapshot's end in front of later ones stay on disk, skipped at open, until segments below
//     a snapshot are deleted (not done yet).
//
// open() hands the core its persisted_state; persist() writes a ready's durable parts in the
// order ready.h gives (truncation, snapshot, entries, hard state) and returns once they are
// durable, so the caller may then send the ready's messages. One thread at a time.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "sluice/protocol/result.h"
#include "sluice/raft/ready.h"
#include "sluice/raft/types.h"
#include "sluice/storage/file_system.h"

namespace sluice::storage {
class partition_log;
}

namespace sluice::controller {

inline constexpr std::string_view raft_snapshot_file = "raft-snapshot";

class raft_storage {
  public:
    struct opened {
        std::unique_ptr<raft_storage> storage;  // null when `problem` is set
        raft::persisted_state state;
        std::string problem;  // set: the node must not start; says why and what to do
    };

    // Opens (creating if missing) the metadata directory `dir` of node `self`. I/O errors are
    // the result's error; damaged files (a quorum-state or snapshot that fails its checks, a log
    // entry that does not decode, a gap between the snapshot and the log) are `problem`s.
    static result<opened> open(storage::file_system& fs, const std::filesystem::path& dir,
                               node_id_t self);

    ~raft_storage();
    raft_storage(const raft_storage&) = delete;
    raft_storage& operator=(const raft_storage&) = delete;

    // Writes the ready's durable parts and fsyncs them. errc::offset_out_of_range if its entries
    // do not start at the durable log end (a broken contract: its truncation and snapshot are
    // written, none of its entries, as the model disk does). Any error is fatal to the node:
    // what reached the disk is known again only by a new open().
    result<void> persist(const raft::ready& rd);

    // The first offset after the snapshot and the durable log's end.
    offset_t start_offset() const;
    offset_t end_offset() const;

  private:
    raft_storage(storage::file_system& fs, std::filesystem::path dir, node_id_t self,
                 std::unique_ptr<storage::partition_log> log,
                 std::optional<raft::snapshot_id> snap);

    storage::file_system& fs_;
    const std::filesystem::path dir_;
    const node_id_t self_;
    std::unique_ptr<storage::partition_log> log_;
    std::optional<raft::snapshot_id> snap_;  // the snapshot on disk
};

// The record batch that holds one entry at `offset`, and back (for tests and tools).
std::vector<std::byte> encode_entry_batch(const raft::entry& e, offset_t offset);
// nullopt with `why` if the batch is not one entry as encode_entry_batch writes it.
std::optional<raft::entry> decode_entry_batch(std::span<const std::byte> batch,
                                              std::string_view& why);

}  // namespace sluice::controller
