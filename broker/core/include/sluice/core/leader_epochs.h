// A partition's leader epochs on disk: <partition dir>/leader-epoch.checkpoint, the epochs of its
// leadership, oldest first, each with the first offset written in it; the last entry is the
// current epoch. Written through storage's checkpoint files, so a crash leaves the old or the new
// list. No state of its own; called from the partition's owner.
#pragma once

#include <filesystem>
#include <string_view>
#include <vector>

#include "sluice/protocol/result.h"
#include "sluice/protocol/types.h"
#include "sluice/storage/file_system.h"

namespace sluice::broker {

struct epoch_entry {
    leader_epoch_t epoch;
    offset_t start_offset;
};

inline constexpr std::string_view leader_epoch_file = "leader-epoch.checkpoint";

result<void> write_leader_epochs(storage::file_system& fs, const std::filesystem::path& dir,
                                 const std::vector<epoch_entry>& entries);
// Empty if the file is missing or invalid.
result<std::vector<epoch_entry>> read_leader_epochs(storage::file_system& fs,
                                                    const std::filesystem::path& dir);

}  // namespace sluice::broker
