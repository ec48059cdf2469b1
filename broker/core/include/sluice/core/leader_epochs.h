// A partition's leader epochs: which epoch wrote which offsets (Kafka's leader-epoch cache, the
// basis of truncation by epoch, KIP-101 and KIP-279).
//
// On disk: <partition dir>/leader-epoch.checkpoint, the epochs oldest first, each with the first
// offset written in it, through storage's checkpoint files (a crash leaves the old or the new
// list). In memory: leader_epoch_cache, a pure value the partition keeps on its strand and writes
// back whenever it changes.
//
// The entries describe the log: an epoch is added when this broker becomes leader (at its log
// end) and when a follower appends a replicated batch of an epoch above the latest (at the
// batch's base offset); truncation removes the epochs that began in the cut part, and retention
// moves the first one up. Epochs strictly increase, and so do start offsets: an epoch in which
// nothing was written is replaced by the next one that starts at the same offset.
#pragma once

#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "sluice/protocol/result.h"
#include "sluice/protocol/types.h"
#include "sluice/storage/file_system.h"

namespace sluice::broker {

struct epoch_entry {
    leader_epoch_t epoch;
    offset_t start_offset;
    friend bool operator==(const epoch_entry&, const epoch_entry&) = default;
};

// Where the log of an epoch ends (Kafka's OffsetsForLeaderEpoch answer): the largest epoch at or
// below the one asked for, and the offset where the next epoch begins (the log end for the
// latest). {-1, -1} when the epoch asked for lies above every epoch this log knows, or none is
// known.
struct epoch_end {
    leader_epoch_t epoch{-1};
    offset_t end_offset{-1};
    friend bool operator==(const epoch_end&, const epoch_end&) = default;
};

class leader_epoch_cache {
  public:
    leader_epoch_cache() = default;
    // Entries as read from disk; any that break the ordering rules above (a damaged or foreign
    // file) are dropped, the later of a conflicting pair first.
    explicit leader_epoch_cache(const std::vector<epoch_entry>& entries);

    const std::vector<epoch_entry>& entries() const { return entries_; }
    // -1 when empty.
    leader_epoch_t latest_epoch() const;

    // `epoch` began at `start`. True if the entries changed. An epoch below the latest is not
    // recorded (false): the caller refuses what asked for it. The same epoch again keeps its
    // first start. Entries that start at or after `start` are replaced (epochs that wrote
    // nothing).
    bool assign(leader_epoch_t epoch, offset_t start);
    // Kafka's endOffsetFor: see epoch_end.
    epoch_end end_offset_for(leader_epoch_t epoch, offset_t log_end) const;
    // The log now ends at `end`: epochs that began at or after it are removed. True if changed.
    bool truncate_from_end(offset_t end);
    // The log now starts at `start` (retention): epochs wholly below it are removed and the
    // first one left starts at `start`. True if changed.
    bool truncate_from_start(offset_t start);

  private:
    std::vector<epoch_entry> entries_;
};

inline constexpr std::string_view leader_epoch_file = "leader-epoch.checkpoint";

result<void> write_leader_epochs(storage::file_system& fs, const std::filesystem::path& dir,
                                 const std::vector<epoch_entry>& entries);
// Empty if the file is missing or invalid.
result<std::vector<epoch_entry>> read_leader_epochs(storage::file_system& fs,
                                                    const std::filesystem::path& dir);

}  // namespace sluice::broker
