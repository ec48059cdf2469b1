// Producer-state snapshots: a partition's producer_state as it stood when its log ended at some
// offset, in <partition dir>/<offset, 20 digits>.snapshot (Kafka's names), each the payload of a
// storage checkpoint (a crash leaves a whole file or none).
//
// The state is rebuilt by loading the newest snapshot at or below where the log ends (or none:
// an empty state at the log start) and applying every batch from its offset on. The same
// rebuild rolls the state back on truncation, after the snapshots above the new end are
// removed. A snapshot that fails any check (ids in increasing order,
// 1 to producer_batches_kept batches each, offsets in order and below the snapshot's) is treated
// as missing: a snapshot is an optimisation over a longer replay, never the only copy.
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/producer_state.h"
#include "sluice/protocol/result.h"
#include "sluice/storage/file_system.h"

namespace sluice::broker {

// The largest snapshot payload: about 200 bytes per producer with 5 batches kept, so some
// 300,000 producers. A state larger than this is not snapshotted (logged); the next open replays
// the log from an older snapshot instead.
inline constexpr size_t producer_snapshot_payload_max = size_t{64} << 20;

struct producer_snapshot {
    offset_t end_offset;  // the state covers the log below this offset
    producer_state state;
    friend bool operator==(const producer_snapshot&, const producer_snapshot&) = default;
};

std::vector<std::byte> encode_producer_snapshot(const producer_snapshot& s);
// nullopt if the bytes are not a snapshot that passes every check.
std::optional<producer_snapshot> decode_producer_snapshot(std::span<const std::byte> bytes);

// "00000000000000001234.snapshot"; parse gives nullopt for any other name.
std::string producer_snapshot_name(offset_t end);
std::optional<offset_t> parse_producer_snapshot_name(std::string_view name);

result<void> write_producer_snapshot(storage::file_system& fs, const std::filesystem::path& dir,
                                     const producer_snapshot& s);
// The end offsets of the snapshots in `dir`, increasing.
result<std::vector<offset_t>> list_producer_snapshots(storage::file_system& fs,
                                                      const std::filesystem::path& dir);
// The newest valid snapshot whose end offset is at most `end` (nullopt: none).
result<std::optional<producer_snapshot>> read_producer_snapshot_at_or_below(
    storage::file_system& fs, const std::filesystem::path& dir, offset_t end);
// Removes the snapshots whose end offset is above `end` (truncation: they describe records the
// log no longer holds).
result<void> remove_producer_snapshots_above(storage::file_system& fs,
                                             const std::filesystem::path& dir, offset_t end);
// Removes the snapshots older than the newest one at or below `start` (retention moved the log
// start there: a rebuild never needs an older one).
result<void> remove_producer_snapshots_before(storage::file_system& fs,
                                              const std::filesystem::path& dir, offset_t start);
// Removes what a crash in the middle of a snapshot write left (`<name>.snapshot.tmp`).
result<void> remove_producer_snapshot_leftovers(storage::file_system& fs,
                                                const std::filesystem::path& dir);

}  // namespace sluice::broker
