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

#define SLUICE_RAFT_CHECK(cond)                                          \
    do {                                                                 \
        if (!(cond)) {                                                   \
            ::sluice::raft::invariant_failed(__FILE__, __LINE__, #cond); \
        }                                                                \
    } while (false)
