// Small files that must never be seen half-written: recovery points, and later leader-epoch and
// producer-state checkpoints.
//
// On disk: magic "SLCK" | u32 version | u32 payload length | payload | u32 CRC-32C of all before.
// write_checkpoint writes `<path>.tmp`, fsyncs it, renames it over `path` and fsyncs the directory,
// so a crash leaves either the old or the new file. read_checkpoint treats a file that fails
// its checks like a missing one (nullopt): a checkpoint is always an optimisation over a scan.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <vector>

#include "sluice/protocol/result.h"
#include "sluice/storage/file_system.h"

namespace sluice::storage {

// The largest payload, unless a caller names another (producer-state snapshots grow with the
// number of producers). A larger payload is not written (message_too_large); a file that claims
// more than the reader's limit reads as missing.
inline constexpr size_t checkpoint_payload_max = 1u << 20;

result<void> write_checkpoint(file_system& fs, const std::filesystem::path& path,
                              std::span<const std::byte> payload,
                              size_t payload_max = checkpoint_payload_max);

result<std::optional<std::vector<std::byte>>> read_checkpoint(
    file_system& fs, const std::filesystem::path& path,
    size_t payload_max = checkpoint_payload_max);

}  // namespace sluice::storage
