// Randomized simulation runs (sim/chaos.h): every invariant of sim/checker.h after every event,
// and the liveness bound once faults stop.
#include <cstdlib>
#include <string>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "chaos.h"

namespace {

using namespace sluice::raft::sim;

uint64_t env_or(const char* name, uint64_t fallback) {
    const char* v = std::getenv(name);
    return (v != nullptr && *v != '\0') ? std::strtoull(v, nullptr, 10) : fallback;
}

}  // namespace

TEST_CASE("random runs keep every invariant and recover within the bound") {
    const uint64_t seeds = env_or("SLUICE_RAFT_SEEDS", 2000);
    const uint64_t first = env_or("SLUICE_RAFT_FIRST_SEED", 1);
    uint64_t failures = 0;
    uint64_t snapshots_installed = 0;
    uint64_t voter_changes = 0;
    uint64_t entries_lost = 0;
    uint64_t corrupted = 0;
    for (uint64_t seed = first; seed < first + seeds; ++seed) {
        const chaos_result r = run_chaos(chaos_options{seed});
        if (!r.ok) {
            ++failures;
            MESSAGE(fmt::format("seed {} failed: {}\n  replay: {}", seed, r.failure,
                                replay_command(seed)));
        }
        snapshots_installed += r.stats.snapshots_restored;
        voter_changes += r.stats.voter_changes_accepted;
        entries_lost += r.stats.entries_lost;
        corrupted += r.net.corrupted;
    }
    CHECK(failures == 0);
    // The runs did exercise the rarer paths.
    if (seeds >= 100) {
        CHECK(snapshots_installed > 0);
        CHECK(voter_changes > 0);
        CHECK(entries_lost > 0);
        CHECK(corrupted > 0);
    }
}

TEST_CASE("the same seed gives the same run, byte for byte") {
    for (uint64_t seed : {1ull, 2ull, 77ull}) {
        const chaos_result a = run_chaos(chaos_options{seed});
        const chaos_result b = run_chaos(chaos_options{seed});
        CHECK(a.digest == b.digest);
        CHECK(a.committed == b.committed);
        CHECK(a.recovery_ticks == b.recovery_ticks);
    }
    CHECK(run_chaos(chaos_options{1}).digest != run_chaos(chaos_options{2}).digest);
}
