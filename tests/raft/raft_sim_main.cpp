// raft-sim: runs randomized Raft simulations (sim/chaos.h) over a range of seeds.
//
//   raft-sim [--seeds N] [--first-seed S]   run seeds S .. S+N-1 (default: 100 seeds from 1)
//   raft-sim --seed S                      replay one seed, printing every event
//   raft-sim --scenario voter-change [-v]  the scripted run of sim/scripted.h
//
// Prints one line per failing seed with the command that replays it, a summary, and last the
// line `raft-sim seeds=N failures=F`. Exits non-zero if any seed failed.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "chaos.h"
#include "scripted.h"

namespace {

using namespace sluice::raft::sim;

int usage(const char* program) {
    fmt::print(stderr,
               "usage: {} [--seeds N] [--first-seed S] [--seed S] | --scenario voter-change "
               "[-v]\n",
               program);
    return 2;
}

bool parse_u64(const char* text, uint64_t& out) {
    char* end = nullptr;
    out = std::strtoull(text, &end, 10);
    return end != text && *end == '\0';
}

}  // namespace

int main(int argc, char** argv) {
    uint64_t seeds = 100;
    uint64_t first = 1;
    bool replay = false;
    if (argc >= 3 && std::string_view(argv[1]) == "--scenario") {
        if (std::string_view(argv[2]) != "voter-change" ||
            (argc == 4 && std::string_view(argv[3]) != "-v") || argc > 4) {
            return usage(argv[0]);
        }
        const auto r = voter_change_before_commit(argc == 4);
        if (!r.failure.empty()) {
            fmt::print("FAIL scenario=voter-change: {}\n", r.failure);
        }
        fmt::print("raft-sim scenario=voter-change change_accepted={} failures={}\n",
                   r.change_accepted, r.failure.empty() ? 0 : 1);
        return r.failure.empty() ? 0 : 1;
    }
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (i + 1 >= argc) {
            return usage(argv[0]);
        }
        uint64_t value = 0;
        if (!parse_u64(argv[++i], value)) {
            return usage(argv[0]);
        }
        if (arg == "--seeds") {
            seeds = value;
        } else if (arg == "--first-seed") {
            first = value;
        } else if (arg == "--seed") {
            first = value;
            seeds = 1;
            replay = true;
        } else {
            return usage(argv[0]);
        }
    }

    const auto started = std::chrono::steady_clock::now();
    uint64_t failures = 0;
    uint64_t committed = 0, leaders = 0, crashes = 0, wipes = 0, lost = 0, snapshots = 0,
             restored = 0, voter_changes = 0, corrupted = 0;
    int64_t recovery_max = 0;
    for (uint64_t seed = first; seed < first + seeds; ++seed) {
        const chaos_result r = run_chaos(chaos_options{seed, 1500, replay});
        if (!r.ok) {
            ++failures;
            fmt::print("FAIL seed={}: {}\n  replay: {}\n", seed, r.failure,
                       replay_command(seed, argv[0]));
        }
        if (replay) {
            fmt::print(
                "seed={} voters={} observers={} digest={:016x} committed={} recovery_ticks={}\n",
                seed, r.voters, r.observers, r.digest, r.committed, r.recovery_ticks);
        }
        committed += r.committed;
        leaders += r.leaders;
        crashes += r.stats.crashes;
        wipes += r.stats.wipes;
        lost += r.stats.entries_lost;
        snapshots += r.stats.snapshots_taken;
        restored += r.stats.snapshots_restored;
        voter_changes += r.stats.voter_changes_accepted;
        corrupted += r.net.corrupted;
        recovery_max = std::max(recovery_max, r.recovery_ticks);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    fmt::print(
        "committed={} leaders={} crashes={} wipes={} unflushed_entries_lost={} snapshots_taken={} "
        "snapshots_installed={} voter_changes={} corrupted_messages_refused={} "
        "recovery_ticks_max={} (bound {}, more with wipes)\n",
        committed, leaders, crashes, wipes, lost, snapshots, restored, voter_changes, corrupted,
        recovery_max, recovery_ticks_max);
    fmt::print("{:.1f} s, {:.1f} seeds/s\n", seconds, static_cast<double>(seeds) / seconds);
    fmt::print("raft-sim seeds={} failures={}\n", seeds, failures);
    std::fflush(stdout);
    return failures == 0 ? 0 : 1;
}
