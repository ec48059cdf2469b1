// One randomized simulation run. The seed picks the cluster shape (3 or 5 voters, with or
// without an observer), the network's faults, the disks' flush delay and the rates of every
// fault and client action, then drives the cluster through a chaos phase and a recovery phase:
//
//  chaos (chaos_ticks): nodes crash (losing unflushed writes) and restart, some runs wipe the
//    whole disk of a minority of voters or an observer (they come back formatted again, under
//    a new directory, and must never count as their old selves), the network splits
//    into random groups and heals, drops, duplicates and delays messages; clients propose,
//    applications take snapshots, the leader adds and removes voters.
//  recovery: the network heals and stops losing messages, every node restarts, faults stop.
//    Within recovery_ticks_max a leader must be elected, a new proposal must commit, and every
//    node must apply it. That is the liveness bound the run asserts (longer where a wiped node
//    may have to fetch the whole log again).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cluster.h"

namespace sluice::raft::sim {

// The liveness bound, in ticks after faults stop (election timeout: 20 ticks).
inline constexpr int64_t recovery_ticks_max = 400;

struct chaos_options {
    uint64_t seed = 1;
    int64_t chaos_ticks = 1500;
    bool verbose = false;
};

struct chaos_result {
    uint64_t seed = 0;
    bool ok = false;
    std::string failure;
    uint64_t digest = 0;
    int64_t recovery_ticks = -1;  // ticks the recovery took
    int voters = 0;
    int observers = 0;
    uint64_t committed = 0;  // entries in the global committed history
    uint64_t leaders = 0;    // terms that had a leader
    cluster_stats stats;
    network_stats net;
};

chaos_result run_chaos(const chaos_options& o);

// The command line that replays a seed with a trace.
std::string replay_command(uint64_t seed, std::string_view program = "raft-sim");

}  // namespace sluice::raft::sim
