// The values the Raft core keeps and hands to its caller: log entries, snapshots and the durable
// hard state.
//
// Offsets and ends. Log offsets start at 0. Every position the core reports is an *end offset*
// in Kafka's sense: the offset one past the last entry it covers. So `log end offset` is the
// offset the next entry gets, a high watermark of 5 means entries 0..4 are committed, and a
// snapshot with end offset 5 replaces entries 0..4.
//
// Terms. Term 0 means "no term": no entry ever has it, and it is the epoch of the empty log.
// The first elected leader has term 1. The design calls terms "epochs"; the two words mean the
// same thing here (`last_epoch` is the term of a log's last entry).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sluice/protocol/types.h"

namespace sluice::raft {

// No node: an unknown leader, no vote cast.
inline constexpr node_id_t no_node{-1};

// A node's directory: 128 random bits drawn when its metadata directory is formatted (Kafka's
// directory.id, KIP-853). A voter is a node id *and* a directory id, so a node that lost its
// directory (and with it every vote it cast) and was formatted again is never taken for its old
// self. All zero: unknown.
struct directory_id {
    uint64_t hi = 0;
    uint64_t lo = 0;

    bool known() const noexcept { return hi != 0 || lo != 0; }
    friend bool operator==(const directory_id&, const directory_id&) = default;
};

enum class entry_kind : uint8_t {
    // Opaque application bytes (`entry::data`).
    data = 0,
    // Appended by every new leader as the first entry of its term: committing it commits every
    // earlier entry, since a leader only counts replicas for entries of its own term.
    leader_change = 1,
    // A new voter set (`entry::voters`). It takes effect on a node as soon as it is in that
    // node's log, committed or not, and is undone if the entry is truncated.
    voters = 2,
};

struct entry {
    term_t term{0};
    entry_kind kind = entry_kind::data;
    std::string data;               // kind == data only
    std::vector<node_id_t> voters;  // kind == voters only: the whole new set, sorted

    friend bool operator==(const entry&, const entry&) = default;
};

// Identity of a snapshot: it replaces the entries below `end_offset`, the last of which had
// `term`.
struct snapshot_id {
    offset_t end_offset{0};
    term_t term{0};

    friend bool operator==(const snapshot_id&, const snapshot_id&) = default;
};

// A snapshot as the core knows it: which one, the voter set in effect at its end, and the size
// of its file. The bytes themselves (the application's state and whatever framing storage gives
// them) live in a file that the caller writes and reads in chunks (ready.h); the core never holds
// them, so a snapshot's size is bounded by the disk, not by memory.
struct snapshot {
    snapshot_id id;
    std::vector<node_id_t> voters;  // the voter set in effect at id.end_offset
    int64_t size_bytes = 0;         // of the snapshot file, as served to followers

    friend bool operator==(const snapshot&, const snapshot&) = default;
};

// Bytes of a snapshot file being received from the leader: they go at `position` of the file
// being assembled for `id` (a position of 0 starts that file afresh).
struct snapshot_chunk {
    snapshot_id id;
    int64_t position = 0;
    std::string bytes;

    friend bool operator==(const snapshot_chunk&, const snapshot_chunk&) = default;
};

// What must survive a crash besides the log. `commit` is persisted so that a restarted node can
// apply at once; it is a lower bound of the cluster's commit point, never ahead of this node's
// durable log.
struct hard_state {
    term_t term{0};
    node_id_t vote = no_node;  // whom this node voted for in `term`
    offset_t commit{0};

    friend bool operator==(const hard_state&, const hard_state&) = default;
};

// Everything a node had durably when it stopped; a fresh node passes an empty one.
struct persisted_state {
    hard_state hard;
    std::optional<snapshot> snap;
    // The entries from snap's end offset (0 without a snapshot) on, contiguous.
    std::vector<entry> entries;
};

enum class role : uint8_t {
    follower,       // also an observer: a node outside the voter set is always a follower
    pre_candidate,  // asking whether it could win, without raising its term
    candidate,
    leader,
};

std::string_view role_name(role r) noexcept;

// Where a proposal went: its offset and the term of the leader that appended it. It is written
// if and only if the entry committed at `offset` has `term`: only a committed entry at `offset`
// decides. A truncation at or below `offset` on this node proves nothing (another node may hold
// the proposal and commit it later); until a committed entry at `offset` is handed out (or a
// snapshot covers it, which decides nothing either), the outcome is unknown.
struct proposal {
    offset_t offset{0};
    term_t term{0};

    friend bool operator==(const proposal&, const proposal&) = default;
};

// A node's view of who leads: its term, the leader it knows (no_node if none) and its own role.
struct leadership {
    term_t term{0};
    node_id_t leader = no_node;
    raft::role role = role::follower;

    friend bool operator==(const leadership&, const leadership&) = default;
};

}  // namespace sluice::raft
