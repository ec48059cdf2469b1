// Which topic a partition directory belongs to: <partition dir>/partition.metadata holds the
// topic's id (32 hex digits, as the metadata image gives it), so that a directory left behind by
// a deleted topic is never taken for the partition of a new topic with the same name. Written
// through storage's checkpoint files; no state of its own.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/protocol/result.h"
#include "sluice/storage/file_system.h"

namespace sluice::broker {

inline constexpr std::string_view partition_identity_file = "partition.metadata";

result<void> write_partition_topic_id(storage::file_system& fs, const std::filesystem::path& dir,
                                      std::string_view topic_id);
// The id, or nothing if the file is missing or fails its checks (a directory from before ids
// were kept).
result<std::optional<std::string>> read_partition_topic_id(storage::file_system& fs,
                                                           const std::filesystem::path& dir);

}  // namespace sluice::broker
