// Scripted runs that the random chaos runs are too unlikely to hit, shared by the scenario tests
// (which require them to pass) and raft-sim --scenario (which the mutant binaries run, and which
// must fail there: scripts/raft-mutants.sh).
#pragma once

#include <string>
#include <system_error>

namespace sluice::raft::sim {

struct scripted_result {
    std::string failure;           // the checker's (or a step that did not happen), or empty
    bool change_accepted = false;  // the step the core should refuse was taken
    std::error_code refused_with;  // else, why it was refused
    bool accepted_later = false;   // the same change, once the leader committed in its term
};

// Diego Ongaro's counter-example to single-server voter changes (raft-dev, 2015). Voters 1..4
// and observer 5. Leader 1, cut off with 5, adds 5 (not committed: {1,5} of five). Among 2, 3, 4
// a new leader is elected and, with one of the other two cut off, at once removes that one: a
// correct core refuses (voter_change_pending) until an entry of the new term is committed, which
// needs 1 or the one cut off; healed, the same removal is taken and the cluster goes on. Were it
// taken at once, {leader, other} would commit it as a majority of {1, leader, other}; then 1
// returns with the one removed and 5, a majority of its voter set {1..5}, and overwrites what
// was committed.
scripted_result voter_change_before_commit(bool verbose);

}  // namespace sluice::raft::sim
