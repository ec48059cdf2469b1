// The file of a Raft snapshot in a metadata directory (docs/raft.md, "On disk"):
//
//   the application's bytes | voters (i32 big endian each) | footer
//   footer: u32 voter count | i64 end offset | i64 term | u64 data length | u32 version (2) |
//           "SLSN" | u32 CRC-32C of every byte before it
//
// The footer comes last so that the file is written in one pass, in chunks, by a writer that
// learns the snapshot's voters only at the end, and so that a follower receives it from the
// leader byte for byte (raft::snapshot::size_bytes is the whole file's size) and checks the
// same CRC. Neither side ever holds the whole file in memory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sluice/protocol/result.h"
#include "sluice/raft/types.h"
#include "sluice/storage/file_system.h"

namespace sluice::controller {

// What a snapshot file says about itself.
struct snapshot_file_info {
    raft::snapshot snap;     // id, voters and the file's size
    int64_t data_bytes = 0;  // the application's bytes: the first data_bytes of the file
};

// Reads the footer of `f` and checks the CRC over the whole file, a bounded buffer at a time.
// nullopt with `why` if the file is not a snapshot file as snapshot_writer writes one.
result<std::optional<snapshot_file_info>> inspect_snapshot_file(storage::file& f, std::string& why);

// Writes a snapshot file: the application's bytes in any number of append() calls, then
// finish(). The file is fsynced but not yet in place: the caller renames it (raft_storage does,
// once the core took the snapshot).
class snapshot_writer {
  public:
    // Creates `path` afresh (an old file there is removed).
    static result<std::unique_ptr<snapshot_writer>> create(storage::file_system& fs,
                                                           const std::filesystem::path& path);

    result<void> append(std::span<const std::byte> bytes);
    // Writes the voters and the footer and fsyncs. Returns the file's size (node::compact()).
    result<int64_t> finish(const raft::snapshot_id& id, const std::vector<node_id_t>& voters);

  private:
    explicit snapshot_writer(std::unique_ptr<storage::file> f) : f_(std::move(f)) {}
    result<void> write(std::span<const std::byte> bytes);

    std::unique_ptr<storage::file> f_;
    uint32_t crc_ = 0;
    int64_t data_bytes_ = 0;
};

}  // namespace sluice::controller
