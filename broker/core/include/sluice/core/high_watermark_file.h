// A partition's high watermark on disk (Kafka's replication-offset-checkpoint, one file per
// partition here): <partition dir>/high-watermark.checkpoint, written through storage's checkpoint
// files when the partition closes cleanly. At open it bounds what a new leader serves until its
// followers have fetched: a stale value is lower than the true one, never higher, which is safe
// (the high watermark only grows, and the partition caps it at its log end). No state of its own.
#pragma once

#include <filesystem>
#include <optional>
#include <string_view>

#include "sluice/protocol/result.h"
#include "sluice/protocol/types.h"
#include "sluice/storage/file_system.h"

namespace sluice::broker {

inline constexpr std::string_view high_watermark_file = "high-watermark.checkpoint";

result<void> write_high_watermark(storage::file_system& fs, const std::filesystem::path& dir,
                                  offset_t hw);
// Nothing if the file is missing or fails its checks.
result<std::optional<offset_t>> read_high_watermark(storage::file_system& fs,
                                                    const std::filesystem::path& dir);

}  // namespace sluice::broker
