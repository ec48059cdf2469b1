// The quorum-bootstrap file: what a controller of a quorum of several is formatted with, once,
// when the cluster is created (sluice-broker format; docs/controller.md, "Formatting").
//
// A voter is a node id and a directory id (raft::directory_id, Kafka's KIP-853 idea). The file
// holds this node's directory id and the directory of every voter, so the Raft core can refuse
// votes from and for a node that lost its metadata directory and came back formatted again: its
// old votes are gone, and were it taken for its old self it could vote twice in one term. A
// controller of a quorum of several does not start without this file.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/protocol/result.h"
#include "sluice/raft/types.h"
#include "sluice/storage/file_system.h"

namespace sluice::controller {

inline constexpr std::string_view quorum_bootstrap_file = "quorum-bootstrap";

struct quorum_bootstrap {
    node_id_t node_id{-1};
    raft::directory_id directory;
    std::vector<std::pair<node_id_t, raft::directory_id>> voters;  // sorted by id
};

struct quorum_bootstrap_load {
    std::optional<quorum_bootstrap> bootstrap;  // nothing: not formatted
    // Set: the file is damaged or belongs to another node, or the directory's quorum-state
    // (which formatting writes first) is gone.
    std::string problem;
};

// I/O errors are the result's error; what the file says is in the load.
result<quorum_bootstrap_load> load_quorum_bootstrap(storage::file_system& fs,
                                                    const std::filesystem::path& dir,
                                                    node_id_t self);

// Writes the file atomically and durably (storage::write_checkpoint).
result<void> save_quorum_bootstrap(storage::file_system& fs, const std::filesystem::path& dir,
                                   const quorum_bootstrap& b);

// A directory id as text: its 16 bytes in URL-safe base64 without padding, 22 characters (the
// form of Kafka's ids, as `kafka-storage random-uuid` prints them). Parsing refuses the ids
// Kafka reserves (the first 100: zero, and the next 99); random_directory() draws none of them
// and none whose text starts with '-'.
std::string directory_text(const raft::directory_id& d);
std::optional<raft::directory_id> parse_directory(std::string_view text);
raft::directory_id random_directory();

}  // namespace sluice::controller
