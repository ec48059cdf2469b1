// The quorum-state file: a controller's Raft hard state (term, vote, commit point) on disk.
//
// Losing a vote is how a Raft cluster gets two leaders in one term, so this file is never
// treated as an optimisation: a missing file means a node that never voted (a new metadata
// directory), and a file that is damaged, or belongs to another node, stops the node with a
// one-line reason instead of being taken as missing.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "sluice/protocol/result.h"
#include "sluice/raft/types.h"
#include "sluice/storage/file_system.h"

namespace sluice::controller {

inline constexpr std::string_view quorum_state_file = "quorum-state";

struct quorum_state_load {
    std::optional<raft::hard_state> state;  // nothing: no file, a node that never voted
    std::string problem;                    // set: the node must not start; says why and what to do
};

// I/O errors are the result's error; what the file says is in the load.
result<quorum_state_load> load_quorum_state(storage::file_system& fs,
                                            const std::filesystem::path& dir, node_id_t self);

// Replaces the file atomically and durably (storage::write_checkpoint).
result<void> save_quorum_state(storage::file_system& fs, const std::filesystem::path& dir,
                               node_id_t self, const raft::hard_state& state);

}  // namespace sluice::controller
