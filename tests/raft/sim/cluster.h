// A whole Raft quorum in one process: nodes, their disks and applications, and the network
// between them, driven tick by tick. Everything is deterministic given the seed.
//
// Each tick: every live node ticks; every message due is delivered; every node with a ready
// writes it to its disk, and once the (random) flush delay has passed, fsyncs, sends its
// messages, applies its committed entries and calls advance(). Invariants are checked after
// every one of these events (see checker.h). Faults and clients are driven from outside
// (scenario tests, or chaos.h) through the public calls.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "checker.h"
#include "network.h"
#include "rng.h"
#include "storage.h"

namespace sluice::raft::sim {

struct cluster_options {
    uint64_t seed = 1;
    int voters = 3;      // nodes 1..voters start as voters
    int observers = 0;   // nodes voters+1.. start as observers
    config node_config;  // id, bootstrap_voters and random_seed are filled in per node
    network_options net;
    // A ready is fsynced a random min..max ticks after it is written.
    int32_t flush_delay_min_ticks = 0;
    int32_t flush_delay_max_ticks = 0;
    // Now and then an fsync stalls far longer, up to stall_max_ticks.
    uint32_t stall_ppm = 0;
    int32_t stall_max_ticks = 0;
    // Nodes whose clocks run at different rates: each node ticks at a rate drawn from 3/4, 1
    // or 4/3 ticks per simulated tick (its timeouts last longer or shorter). Safety holds at
    // any rates; liveness (check-quorum against fetch intervals) needs them within a bound.
    bool skewed_clocks = false;
    // Directories (config::voter_directories): every node gets one at the start, and the
    // quorum is formatted knowing them all; a wiped node comes back with a new one.
    bool directories = false;
    // A crash may keep a ready's hard state but not its log writes (storage::crash, reordered).
    bool reordered_writes = false;
    size_t snapshot_padding_bytes = 40;
    bool verbose = false;  // print every event
};

struct cluster_stats {
    uint64_t crashes = 0;
    uint64_t wipes = 0;  // crashes that lost the whole disk
    uint64_t restarts = 0;
    uint64_t entries_lost = 0;  // written but never fsynced when their node crashed
    uint64_t snapshots_taken = 0;
    uint64_t snapshots_restored = 0;  // received from a leader and loaded
    uint64_t proposals_accepted = 0;
    uint64_t voter_changes_accepted = 0;
};

class cluster {
  public:
    explicit cluster(cluster_options o);

    int64_t now() const { return now_; }
    void tick();
    void run(int64_t ticks);
    // Ticks until pred() holds (checked before each tick) or max_ticks passed.
    bool run_until(const std::function<bool()>& pred, int64_t max_ticks);

    const std::vector<node_id_t>& ids() const { return ids_; }
    bool alive(node_id_t id) const { return at(id).core != nullptr; }
    const node& core(node_id_t id) const { return *at(id).core; }
    const app_state& app(node_id_t id) const { return at(id).app; }
    const disk_state& disk(node_id_t id) const { return at(id).disk.durable(); }
    // The live leader with the highest term, or no_node.
    node_id_t leader() const;

    // Stops a node. Its unflushed writes are lost, except a random prefix of them unless
    // lose_all_unflushed.
    void crash(node_id_t id, bool lose_all_unflushed = false);
    void restart(node_id_t id);
    // Crashes `id` (if alive) and loses its whole disk, as if its directory was deleted and
    // formatted again: with directories, under a new directory id. restart() brings it back.
    void wipe(node_id_t id);
    void partition(const std::vector<std::vector<node_id_t>>& groups);
    void heal();  // partitions and one-way cuts
    void cut(node_id_t from, node_id_t to);
    void set_network(network_options o) { net_.set_options(o); }
    void stop_stalls() { options_.stall_ppm = 0; }
    void set_flush_delay(int32_t min_ticks, int32_t max_ticks) {
        options_.flush_delay_min_ticks = min_ticks;
        options_.flush_delay_max_ticks = max_ticks;
    }

    result<proposal> propose(node_id_t id, std::string data);
    result<proposal> add_voter(node_id_t at, node_id_t id);
    result<proposal> remove_voter(node_id_t at, node_id_t id);
    // The node's application snapshots the state it has applied.
    result<void> take_snapshot(node_id_t id);
    void campaign(node_id_t id);

    // Invariant 7 on every disk; call at the end of a run.
    // Checks every disk against the history, and every accepted proposal against what was
    // committed at its offset: its data is there exactly when the committed term there is the
    // proposal's (types.h, `proposal`).
    void final_checks();
    const checker& check() const { return checker_; }
    bool ok() const { return checker_.ok(); }
    uint64_t digest() const { return digest_.value(); }
    const cluster_stats& stats() const { return stats_; }
    const network_stats& net_stats() const { return net_.stats(); }
    rng& random() { return rng_; }

    // Records an event in the digest and, when verbose, prints text() (only built then).
    template <typename F>
    void event(std::initializer_list<uint64_t> values, F&& text) {
        for (uint64_t v : values) {
            digest_.add(v);
        }
        if (options_.verbose) {
            fmt::print("{:>6} {}\n", now_, text());
        }
    }

  private:
    struct sim_node {
        node_id_t id;
        std::unique_ptr<node> core;
        storage disk;
        app_state app;
        std::optional<ready> out;  // written, waiting for its fsync
        leadership leader;         // as the readies told it (ready::leader)
        int64_t flush_at = 0;
        int restarts = 0;
        directory_id directory;
        // Its clock: rate_num / rate_den node ticks per simulated tick.
        int32_t rate_num = 1;
        int32_t rate_den = 1;
        int32_t clock = 0;
    };

    sim_node& at(node_id_t id) { return nodes_[static_cast<size_t>(id.value() - 1)]; }
    const sim_node& at(node_id_t id) const { return nodes_[static_cast<size_t>(id.value() - 1)]; }
    void start(sim_node& n);
    void pump(sim_node& n);
    void finish(sim_node& n);
    // Puts the bytes from n's snapshot file into a snapshot chunk it sends (ready.h).
    void fill_snapshot_chunk(const sim_node& n, message& m) const;
    void observe(const sim_node& n);
    void deliver(const message& m, bool corrupted);

    cluster_options options_;
    rng rng_;
    network net_;
    checker checker_;
    hasher digest_;
    cluster_stats stats_;
    // Every accepted data proposal: where the core said it went, and its (unique) data.
    struct accepted {
        proposal p;
        std::string data;
        node_id_t by;
    };
    std::vector<accepted> proposals_;
    std::vector<sim_node> nodes_;
    std::vector<node_id_t> ids_;
    std::vector<node_id_t> bootstrap_voters_;
    std::vector<std::pair<node_id_t, directory_id>> voter_directories_;  // as formatted
    int64_t now_ = 0;
};

}  // namespace sluice::raft::sim
