// A controller's durable Raft state in its metadata directory (docs/raft.md, "On disk"):
//   - the log: a storage partition_log of one record batch per entry (so a truncation, which
//     never splits a batch, never splits an entry), fsynced before persist() returns;
//   - the hard state: the quorum-state file (quorum_state.h);
//   - the latest snapshot: one file, `raft-snapshot` (snapshot_file.h), replaced atomically by
//     a file written beside it: `raft-snapshot.<end offset>-<term>.tmp` by the application
//     (begin_snapshot()), or `raft-snapshot.download` from the chunks a leader sent. A log with no
//     entry at or past the snapshot's end restarts there, empty; otherwise the log's segments
//     wholly below the snapshot's end are deleted, and entries below it in the segment holding it
//     stay on disk, skipped at open.
//
// open() hands the core its persisted_state; persist() writes a ready's durable parts in the
// order ready.h gives (truncation, snapshot chunk, snapshot, entries, hard state) and returns
// once they are durable, so the caller may then send the ready's messages, filling in their
// snapshot chunks with read_snapshot(). One thread at a time.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "sluice/controller/snapshot_file.h"
#include "sluice/protocol/result.h"
#include "sluice/raft/ready.h"
#include "sluice/raft/types.h"
#include "sluice/storage/file_system.h"

namespace sluice::storage {
class partition_log;
}

namespace sluice::controller {

inline constexpr std::string_view raft_snapshot_file = "raft-snapshot";
// The metadata log's segment size: a snapshot frees the segments wholly below it.
inline constexpr uint64_t metadata_segment_bytes = 16u << 20;
inline constexpr std::string_view raft_snapshot_download_file = "raft-snapshot.download";

class raft_storage {
  public:
    struct opened {
        std::unique_ptr<raft_storage> storage;  // null when `problem` is set
        raft::persisted_state state;
        std::string problem;  // set: the node must not start; says why and what to do
    };

    // Opens (creating if missing) the metadata directory `dir` of node `self`, whose log rolls
    // a segment every `segment_bytes`. I/O errors are the result's error; damaged files (a
    // quorum-state or snapshot that fails its checks, a log entry that does not decode, a gap
    // between the snapshot and the log) are `problem`s.
    static result<opened> open(storage::file_system& fs, const std::filesystem::path& dir,
                               node_id_t self, uint64_t segment_bytes = metadata_segment_bytes);

    ~raft_storage();
    raft_storage(const raft_storage&) = delete;
    raft_storage& operator=(const raft_storage&) = delete;

    // Writes the ready's durable parts and fsyncs them (snapshot chunks are synced when their
    // file is checked). errc::offset_out_of_range if its entries do not start at the durable log
    // end, its snapshot chunk does not continue the file being received, or it restores a
    // snapshot whose received file was not checked good (a broken contract: what comes before
    // is written, as the model disk does); errc::corrupt_message if the application's own
    // snapshot file is not the snapshot the ready names. Any error is fatal to the node: what
    // reached the disk is known again only by a new open().
    result<void> persist(const raft::ready& rd);
    // The check of a received snapshot file (ready.h, `snap_received`): fsynced, then true if it
    // is the snapshot `s` (CRC, id, voters, size); false (logged, the file removed) if not.
    result<bool> check_received(const raft::snapshot& s);

    // Starts the file of the snapshot `id` the application takes: once finished, its size goes
    // to node::compact(), and the ready that follows makes it the snapshot. Starting another
    // discards one not yet taken.
    result<std::unique_ptr<snapshot_writer>> begin_snapshot(const raft::snapshot_id& id);
    // The snapshot on disk, if any.
    const std::optional<snapshot_file_info>& snapshot() const { return snap_; }
    // `length` bytes (fewer at the end) of the snapshot file from `position`, or nullopt if `id`
    // is not the snapshot on disk (a newer one replaced it) or `position` is past its end: the
    // chunks a leader sends.
    result<std::optional<std::string>> read_snapshot(const raft::snapshot_id& id, int64_t position,
                                                     int64_t length);
    // `length` bytes (fewer at the end) of the application's bytes of the snapshot on disk, from
    // `position`: the application loads its state with these.
    result<std::string> read_snapshot_data(int64_t position, int64_t length);

    // The first offset after the snapshot and the durable log's end.
    offset_t start_offset() const;
    offset_t end_offset() const;

  private:
    raft_storage(storage::file_system& fs, std::filesystem::path dir, node_id_t self,
                 std::unique_ptr<storage::partition_log> log,
                 std::optional<snapshot_file_info> snap);

    result<void> write_chunk(const raft::snapshot_chunk& c);
    // Checks the finished file of `s` and renames it into place.
    result<void> install(const raft::snapshot& s, bool downloaded);

    storage::file_system& fs_;
    const std::filesystem::path dir_;
    const node_id_t self_;
    std::unique_ptr<storage::partition_log> log_;
    std::optional<snapshot_file_info> snap_;      // the snapshot on disk
    std::unique_ptr<storage::file> snap_reader_;  // snap_'s file, opened on the first read
    std::filesystem::path local_;                 // the last begin_snapshot()'s file
    std::unique_ptr<storage::file> download_;     // the file being received, if any
    raft::snapshot_id download_id_;               // whose it is
    int64_t download_bytes_ = 0;                  // its length
    std::optional<snapshot_file_info> received_;  // the file received, checked good
};

// The record batch that holds one entry at `offset`, and back (for tests and tools).
std::vector<std::byte> encode_entry_batch(const raft::entry& e, offset_t offset);
// nullopt with `why` if the batch is not one entry as encode_entry_batch writes it.
std::optional<raft::entry> decode_entry_batch(std::span<const std::byte> batch,
                                              std::string_view& why);

}  // namespace sluice::controller
