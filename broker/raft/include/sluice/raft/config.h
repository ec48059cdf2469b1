// Settings of one Raft node. Time is counted in ticks: the caller calls node::tick() at a fixed
// rate (a controller would use 50 ms) and the core never reads a clock.
//
// Every resource the core holds for others is bounded here, so that a slow peer, a flood of
// proposals or a lost network can not make it grow without limit.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "sluice/protocol/result.h"
#include "sluice/protocol/types.h"
#include "sluice/raft/types.h"

namespace sluice::raft {

struct config {
    node_id_t id{0};
    // The voter set the quorum starts from; identical on every node. A node outside it starts
    // as an observer. Later voter sets come from the log and snapshots.
    std::vector<node_id_t> bootstrap_voters;
    // This node's directory, and the directory of each node that may vote, fixed when the quorum
    // was formatted. This node counts as a voter only if voter_directories names it with
    // `directory` (a node formatted again under a new directory is not its old self); a vote
    // request says which directory it asks and is refused by any other, and by a voter whose
    // own directory is not the candidate's named one; a vote counts only from the directory
    // named here. A node not named here (a voter added later by a voters entry, or every node
    // when this is empty, as in a quorum of one) is not checked.
    directory_id directory;
    std::vector<std::pair<node_id_t, directory_id>> voter_directories;
    // Seeds the election jitter; give each node (and each restart) a different one.
    uint64_t random_seed = 0;

    // A follower that gets no fetch answer from a leader for a random time in
    // [election_timeout_ticks, 2 * election_timeout_ticks) starts a pre-vote. A leader that has
    // not heard from a majority of voters within election_timeout_ticks steps down (check-quorum).
    int32_t election_timeout_ticks = 20;
    // A follower or observer fetches at least this often; the answer is its heartbeat.
    int32_t fetch_interval_ticks = 2;
    // Long poll: a leader holds a fetch that is at its log end and knows its commit point for up
    // to this many ticks, and answers it as soon as an entry is appended or the commit point
    // moves, so commitment is not tied to the fetch interval. The fetcher then fetches again at
    // once, and otherwise every fetch_wait_ticks + fetch_interval_ticks. 0: answer at once.
    // fetch_interval_ticks + 2 * fetch_wait_ticks is at most half the election timeout: after a
    // lost fetch or answer, the next answer still comes within every lease, with room for the
    // network's delays.
    int32_t fetch_wait_ticks = 0;

    // One fetch answer carries at most this many entries and, after the first entry, at most
    // this many bytes of entry data.
    int32_t fetch_entries_max = 256;
    int64_t fetch_bytes_max = 1 << 20;
    // One proposal's data is at most this large.
    int64_t entry_bytes_max = 256 << 10;
    // The leader refuses proposals while this much of its log is not committed.
    int32_t uncommitted_entries_max = 1024;
    int64_t uncommitted_bytes_max = 8 << 20;
    // One ready hands out at most this many committed entries to apply.
    int32_t apply_entries_max = 512;
    // Messages waiting for get_ready(); more are dropped (every message is retried on a timer).
    int32_t messages_max = 4096;
    // One fetch_snapshot_response carries at most this many bytes.
    int64_t snapshot_chunk_bytes_max = 1 << 20;
    // The leader tracks the fetch position of at most this many observers.
    int32_t observers_max = 64;
    // The voter set never grows beyond this.
    int32_t voters_max = 9;
};

// Checks the bounds above (all positive, fetch_bytes_max >= entry_bytes_max, a non-empty voter
// set without duplicates, ...). node's constructor requires a valid config.
result<void> validate(const config& c);

}  // namespace sluice::raft
