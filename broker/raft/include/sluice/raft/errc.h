// The errors the Raft core returns. They are local to a controller (a client sees at most
// NOT_CONTROLLER-style wire codes derived from them), so they live in their own category rather
// than in sluice::errc.
#pragma once

#include <string_view>
#include <system_error>

namespace sluice::raft {

enum class errc : int {
    not_leader = 1,               // only the leader takes proposals and voter changes
    entry_too_large = 2,          // above config::entry_bytes_max
    uncommitted_entries_max = 3,  // the leader already holds config::uncommitted_entries_max
    uncommitted_bytes_max = 4,    // ... or config::uncommitted_bytes_max bytes not yet committed
    voter_change_pending = 5,     // a voter change is uncommitted, or the leader's term has none
    already_voter = 6,
    not_voter = 7,
    voter_not_caught_up = 8,  // a node must fetch close to the log end before it may vote
    voters_max = 9,
    last_voter = 10,              // the voter set may not become empty
    snapshot_out_of_range = 11,   // not above the log start, not yet handed out, an empty file
    snapshot_term_mismatch = 12,  // the term given is not the term of the entry before the end
    snapshot_pending = 13,        // a snapshot waits to be persisted; try after advance()
    invalid_config = 14,
};

const std::error_category& raft_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), raft_category()};
}

std::string_view errc_name(errc e) noexcept;

}  // namespace sluice::raft

template <>
struct std::is_error_code_enum<sluice::raft::errc> : std::true_type {};
