// Scripted runs that the random chaos runs are too unlikely to hit, shared by the scenario tests
// (which require them to pass) and raft-sim --scenario (which the mutant binaries run, and which
// must fail there: scripts/raft-mutants.sh).
#pragma once

#include <string>

namespace sluice::raft::sim {

struct scripted_result {
    std::string failure;   // the checker's, or empty
    bool change_accepted;  // the step the core should refuse was taken
};

// Diego Ongaro's counter-example to single-server voter changes (raft-dev, 2015). Voters 1..4
// and observer 5. Leader 1, cut off with 5, adds 5 (not committed: {1,5} of five). Among 2, 3, 4
// a new leader is elected and, with 4 cut off, at once removes 4: a correct core refuses that
// until an entry of the new term is committed, which needs 1 or 4. Were it taken, {leader, other}
// would commit the removal as a majority of {1, leader, other}; then 1 returns with 4 and 5,
// which make a majority of its voter set {1..5}, and overwrites what was committed.
scripted_result voter_change_before_commit(bool verbose);

}  // namespace sluice::raft::sim
