// The simulated network: every message is delayed by a random number of ticks (which reorders
// them), and may be dropped, duplicated or corrupted (made invalid on its face: what a receiver
// must refuse without acting on it; corruption that still decodes to valid values is not
// modelled). Nodes can be split into
// groups that do not reach each other; a message crossing groups is lost, whether the split
// happened before it was sent or while it was in flight.
#pragma once

#include <cstdint>
#include <map>
#include <queue>
#include <set>
#include <vector>

#include "rng.h"
#include "sluice/raft/messages.h"

namespace sluice::raft::sim {

struct network_options {
    uint32_t drop_ppm = 0;       // chance a message is lost, per million
    uint32_t duplicate_ppm = 0;  // chance a message arrives twice
    uint32_t corrupt_ppm = 0;    // chance a message arrives corrupted instead
    int32_t delay_min_ticks = 1;
    int32_t delay_max_ticks = 1;
    // A message held far longer: up to long_delay_max_ticks (several election timeouts), so it
    // arrives after elections and leader changes it knows nothing of.
    uint32_t long_delay_ppm = 0;
    int32_t long_delay_max_ticks = 0;
    // Messages in flight; more are dropped, as a full socket buffer would.
    size_t in_flight_max = 100'000;
};

struct network_stats {
    uint64_t sent = 0;
    uint64_t delivered = 0;
    uint64_t dropped = 0;
    uint64_t duplicated = 0;
    uint64_t corrupted = 0;
};

class network {
  public:
    explicit network(network_options o) : options_(o) {}

    void set_options(network_options o) { options_ = o; }
    const network_options& options() const { return options_; }

    void send(message m, int64_t now, rng& r);
    // The next message due at or before `now` that still reaches its destination, if any;
    // messages are taken in (due tick, send order). `corrupted`: it was damaged on its way.
    bool pop_due(int64_t now, message& out, bool& corrupted);

    // Splits the nodes: group[id] is a node's group; nodes missing from the map are in group 0.
    void partition(std::map<node_id_t, int> group) { group_ = std::move(group); }
    // Cuts one direction only: `from` no longer reaches `to`, `to` still reaches `from`.
    void cut(node_id_t from, node_id_t to) { cuts_.insert({from, to}); }
    void heal() {
        group_.clear();
        cuts_.clear();
    }
    bool connected(node_id_t a, node_id_t b) const {
        return group_of(a) == group_of(b) && !cuts_.contains({a, b});
    }
    const network_stats& stats() const { return stats_; }

  private:
    struct in_flight {
        int64_t due;
        uint64_t seq;
        message m;
        bool corrupted = false;
    };
    struct later {
        bool operator()(const in_flight& a, const in_flight& b) const {
            return a.due != b.due ? a.due > b.due : a.seq > b.seq;
        }
    };

    int group_of(node_id_t id) const;
    void enqueue(const message& m, int64_t now, rng& r, bool corrupted = false);

    network_options options_;
    std::map<node_id_t, int> group_;
    std::set<std::pair<node_id_t, node_id_t>> cuts_;
    std::priority_queue<in_flight, std::vector<in_flight>, later> queue_;
    uint64_t seq_ = 0;
    network_stats stats_;
};

}  // namespace sluice::raft::sim
