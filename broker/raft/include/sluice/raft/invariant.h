// Checks of the core's own invariants. A failed check is a bug, never an operating error: by
// default it prints the condition and aborts. A test harness may install a handler that throws
// instead, so a simulation can report the failing seed and go on with the next one.
#pragma once

namespace sluice::raft {

using invariant_handler = void (*)(const char* file, int line, const char* condition);

// Installs `h` (nullptr: the default, abort) and returns the previous handler. Not thread-safe:
// call it before any node runs.
invariant_handler set_invariant_handler(invariant_handler h) noexcept;

[[noreturn]] void invariant_failed(const char* file, int line, const char* condition);

}  // namespace sluice::raft

// Deliberate bugs, compiled only into the simulation's mutant binaries (tests/raft/CMakeLists.txt,
// raft-sim-mutant-N), which must show that the checker catches each:
//   1: a leader changes the voter set before it has committed an entry of its own term;
//   2: a leader counts its in-memory log end, not its durable one, toward commitment;
//   3: the hard state leaves out the vote;
//   4: a lone voter leads as soon as it wins, before its new term is durable.
//   5: directories are not checked: a voter formatted again votes as its old self.
// 0 (every real build): none.
#ifndef SLUICE_RAFT_MUTANT
#define SLUICE_RAFT_MUTANT 0
#endif

#define SLUICE_RAFT_CHECK(cond)                                          \
    do {                                                                 \
        if (!(cond)) {                                                   \
            ::sluice::raft::invariant_failed(__FILE__, __LINE__, #cond); \
        }                                                                \
    } while (false)
