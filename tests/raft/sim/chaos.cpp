#include "chaos.h"

#include <algorithm>
#include <set>

namespace sluice::raft::sim {
namespace {

// Rates of the chaos phase, per tick, in parts per million.
struct rates {
    uint32_t crash_ppm;
    uint32_t partition_ppm;
    uint32_t heal_ppm;
    uint32_t propose_ppm;
    uint32_t snapshot_ppm;
    uint32_t voter_change_ppm;
    int64_t down_ticks_max;
    uint32_t cut_ppm = 0;   // a one-way cut between two nodes (healed with the partitions)
    uint32_t wipe_ppm = 0;  // a node loses its whole disk (one of `wipeable`)
    std::vector<node_id_t> wipeable;
};

config sim_node_config() {
    config c;
    c.election_timeout_ticks = 20;
    c.fetch_interval_ticks = 2;
    // Small bounds, so that the runs hit them.
    c.fetch_entries_max = 8;
    c.fetch_bytes_max = 4096;
    c.entry_bytes_max = 1024;
    c.uncommitted_entries_max = 64;
    c.uncommitted_bytes_max = 16 << 10;
    c.apply_entries_max = 16;
    c.messages_max = 256;
    c.snapshot_chunk_bytes_max = 24;
    c.observers_max = 4;
    c.voters_max = 5;
    return c;
}

template <typename T>
T pick(rng& r, const std::vector<T>& v) {
    return v[static_cast<size_t>(r.below(v.size()))];
}

class chaos_run {
  public:
    chaos_run(const chaos_options& o, cluster_options co, rates rt, int voters_min)
        : options_(o),
          cluster_(std::move(co)),
          rates_(rt),
          voters_min_(voters_min),
          down_until_(cluster_.ids().size(), -1) {}

    void chaos_phase() {
        for (int64_t t = 0; t < options_.chaos_ticks && cluster_.ok(); ++t) {
            faults();
            clients();
            cluster_.tick();
        }
    }

    // The liveness bound of this run: recovery_ticks_max, and in runs that wipe disks the time
    // a wiped node takes to fetch the whole log again (fetch_entries_max entries per round trip
    // of up to 10 ticks), since it may have to.
    int64_t recovery_bound() const {
        if (rates_.wipe_ppm == 0) {
            return recovery_ticks_max;
        }
        const int64_t chunks = cluster_.check().committed_end().value() / 8 + 1;
        return recovery_ticks_max + 10 * chunks;
    }

    // Returns the ticks the recovery took, or -1.
    int64_t recovery_phase(const network_options& calm) {
        cluster_.heal();
        cluster_.set_network(calm);
        cluster_.stop_stalls();
        for (node_id_t id : cluster_.ids()) {
            cluster_.restart(id);
        }
        const int64_t start = cluster_.now();
        const int64_t bound = recovery_bound();
        std::vector<std::pair<offset_t, std::string>> probes;
        std::set<std::pair<int64_t, int64_t>> asked;  // (leader, term) already given a probe
        while (cluster_.ok() && cluster_.now() - start <= bound) {
            if (const auto at = committed_probe(probes)) {
                if (applied_everywhere(*at)) {
                    return cluster_.now() - start;
                }
            } else if (const node_id_t l = cluster_.leader(); l != no_node) {
                // Give each new leader a probe (retrying while it refuses) until one commits.
                const term_t term = cluster_.core(l).term();
                if (!asked.contains({l.value(), term.value()})) {
                    std::string data = fmt::format("probe-{}-{}", l, term);
                    if (auto r = cluster_.propose(l, data)) {
                        probes.emplace_back(r.value().offset, std::move(data));
                        asked.emplace(l.value(), term.value());
                    }
                }
            }
            cluster_.tick();
        }
        return -1;
    }

    cluster& sim() { return cluster_; }

  private:
    void faults() {
        rng& r = cluster_.random();
        const auto& ids = cluster_.ids();
        if (rates_.wipe_ppm > 0 && r.chance_ppm(rates_.wipe_ppm)) {
            const node_id_t id = pick(r, rates_.wipeable);
            cluster_.wipe(id);
            down_until_[index(id)] = cluster_.now() + r.between(1, rates_.down_ticks_max);
        }
        if (r.chance_ppm(rates_.crash_ppm)) {
            // A third of the crashes hit a node in the middle of an election or leading one:
            // that is where lost votes and lost leader state would show.
            std::vector<node_id_t> busy;
            for (node_id_t id : ids) {
                if (cluster_.alive(id) && cluster_.core(id).current_role() != role::follower) {
                    busy.push_back(id);
                }
            }
            const node_id_t id = (!busy.empty() && r.below(3) == 0) ? pick(r, busy) : pick(r, ids);
            if (cluster_.alive(id)) {
                cluster_.crash(id);
                down_until_[index(id)] = cluster_.now() + r.between(1, rates_.down_ticks_max);
            }
        }
        for (node_id_t id : ids) {
            if (!cluster_.alive(id) && cluster_.now() >= down_until_[index(id)]) {
                cluster_.restart(id);
            }
        }
        if (r.chance_ppm(rates_.partition_ppm)) {
            const auto groups_count = static_cast<size_t>(r.between(2, 3));
            std::vector<std::vector<node_id_t>> groups(groups_count);
            for (node_id_t id : ids) {
                groups[static_cast<size_t>(r.below(groups_count))].push_back(id);
            }
            cluster_.partition(groups);
        }
        if (r.chance_ppm(rates_.cut_ppm)) {
            const node_id_t from = pick(r, ids);
            const node_id_t to = pick(r, ids);
            if (from != to) {
                cluster_.cut(from, to);
            }
        }
        if (r.chance_ppm(rates_.heal_ppm)) {
            cluster_.heal();
        }
    }

    void clients() {
        rng& r = cluster_.random();
        const auto& ids = cluster_.ids();
        const node_id_t leader = cluster_.leader();
        if (r.chance_ppm(rates_.propose_ppm)) {
            // Mostly to the leader; sometimes to anyone, which must refuse unless it leads.
            const node_id_t to = (leader != no_node && r.below(4) != 0) ? leader : pick(r, ids);
            if (cluster_.alive(to)) {
                (void)cluster_.propose(to, fmt::format("v{}-{}", options_.seed, proposals_++));
            }
        }
        if (r.chance_ppm(rates_.snapshot_ppm)) {
            const node_id_t id = pick(r, ids);
            if (cluster_.alive(id) &&
                cluster_.app(id).applied_end - cluster_.core(id).log().start() >= 8) {
                (void)cluster_.take_snapshot(id);
            }
        }
        if (leader != no_node && r.chance_ppm(rates_.voter_change_ppm)) {
            const auto& voters = cluster_.core(leader).voters();
            std::vector<node_id_t> others;
            for (node_id_t id : ids) {
                if (!std::binary_search(voters.begin(), voters.end(), id)) {
                    others.push_back(id);
                }
            }
            const bool can_remove = static_cast<int>(voters.size()) > voters_min_;
            if (!others.empty() && (!can_remove || r.below(2) == 0)) {
                (void)cluster_.add_voter(leader, pick(r, others));
            } else if (can_remove) {
                (void)cluster_.remove_voter(leader, pick(r, voters));
            }
        }
    }

    std::optional<offset_t> committed_probe(
        const std::vector<std::pair<offset_t, std::string>>& probes) const {
        const auto& history = cluster_.check().committed();
        for (const auto& [at, data] : probes) {
            if (at < cluster_.check().committed_end() &&
                history[static_cast<size_t>(at.value())].data == data) {
                return at;
            }
        }
        return std::nullopt;
    }

    bool applied_everywhere(offset_t at) const {
        return std::all_of(cluster_.ids().begin(), cluster_.ids().end(), [&](node_id_t id) {
            return cluster_.alive(id) && cluster_.app(id).applied_end > at;
        });
    }

    static size_t index(node_id_t id) { return static_cast<size_t>(id.value() - 1); }

    chaos_options options_;
    cluster cluster_;
    rates rates_;
    int voters_min_;
    std::vector<int64_t> down_until_;
    uint64_t proposals_ = 0;
};

}  // namespace

std::string replay_command(uint64_t seed, std::string_view program) {
    return fmt::format("{} --seed {}", program, seed);
}

chaos_result run_chaos(const chaos_options& o) {
    rng setup(o.seed ^ 0xc4a05c4a05ull);
    cluster_options co;
    co.seed = o.seed;
    co.voters = setup.below(2) == 0 ? 3 : 5;
    co.observers = static_cast<int>(setup.below(2));
    co.node_config = sim_node_config();
    co.net.drop_ppm = static_cast<uint32_t>(setup.between(0, 100'000));
    co.net.duplicate_ppm = static_cast<uint32_t>(setup.between(0, 50'000));
    co.net.delay_min_ticks = 1;
    co.net.delay_max_ticks = static_cast<int32_t>(setup.between(1, 4));
    co.flush_delay_max_ticks = static_cast<int32_t>(setup.between(0, 3));
    co.verbose = o.verbose;
    rates rt{};
    rt.crash_ppm = static_cast<uint32_t>(setup.between(500, 20'000));
    rt.partition_ppm = static_cast<uint32_t>(setup.between(1'000, 8'000));
    rt.heal_ppm = static_cast<uint32_t>(setup.between(5'000, 20'000));
    rt.propose_ppm = static_cast<uint32_t>(setup.between(100'000, 600'000));
    rt.snapshot_ppm = static_cast<uint32_t>(setup.between(2'000, 20'000));
    rt.voter_change_ppm = static_cast<uint32_t>(setup.between(1'000, 6'000));
    rt.down_ticks_max = setup.between(2, 200);
    // Half the runs long-poll: leaders hold fetches that have nothing new (up to 4 ticks).
    co.node_config.fetch_wait_ticks = static_cast<int32_t>(setup.below(2) * setup.between(1, 4));
    // Faults beyond the usual, each in some runs: messages held for up to five election
    // timeouts, fsyncs that stall as long, clocks at different rates, one-way cuts.
    co.net.long_delay_ppm = static_cast<uint32_t>(setup.below(2) * setup.between(0, 20'000));
    co.net.long_delay_max_ticks = 100;
    co.stall_ppm = static_cast<uint32_t>(setup.below(2) * setup.between(0, 20'000));
    co.stall_max_ticks = 100;
    co.skewed_clocks = setup.below(2) == 0;
    rt.cut_ppm = static_cast<uint32_t>(setup.below(2) * setup.between(1'000, 8'000));
    // A third of the runs may shrink the voter set to one node (a leader that commits alone).
    const int voters_min = setup.below(3) == 0 ? 1 : (co.voters == 3 ? 2 : 3);
    // Half the runs know every node's directory; half of those wipe disks: a minority of the
    // voters and any observer lose everything now and then and come back under a new
    // directory, so the quorum never counts them as their old selves. (A wiped voter stays
    // out of the quorum for good, so these runs change no voters: the rest must stay a
    // majority for the run to recover.)
    co.directories = setup.below(2) == 0;
    // Half the runs reorder writes across files at a crash: the hard state may survive without
    // the log writes of its ready.
    co.reordered_writes = setup.below(2) == 0;
    if (co.directories && setup.below(2) == 0) {
        rt.wipe_ppm = static_cast<uint32_t>(setup.between(500, 5'000));
        rt.voter_change_ppm = 0;
        for (int id = co.voters - (co.voters - 1) / 2 + 1; id <= co.voters + co.observers; ++id) {
            rt.wipeable.push_back(node_id_t{id});
        }
    }
    // Half the runs corrupt messages in flight (each one invalid on its face; corruption that still
    // decodes to valid values is not modelled): the receiver must refuse every one.
    co.net.corrupt_ppm = static_cast<uint32_t>(setup.below(2) * setup.between(0, 5'000));
    network_options calm = co.net;
    calm.drop_ppm = 0;
    calm.duplicate_ppm = 0;
    calm.long_delay_ppm = 0;
    calm.corrupt_ppm = 0;

    chaos_result res;
    res.seed = o.seed;
    res.voters = co.voters;
    res.observers = co.observers;
    const throw_on_core_check guard;
    chaos_run run(o, co, rt, voters_min);
    try {
        run.chaos_phase();
        if (run.sim().ok()) {
            res.recovery_ticks = run.recovery_phase(calm);
            if (run.sim().ok() && res.recovery_ticks < 0) {
                res.failure = fmt::format(
                    "no committed and applied proposal within {} ticks "
                    "after faults stopped",
                    run.recovery_bound());
            }
        }
        run.sim().final_checks();
    } catch (const core_check_failed& e) {
        res.failure = e.what();
    }
    cluster& c = run.sim();
    if (!c.ok() && res.failure.empty()) {
        res.failure = *c.check().failure();
    }
    res.ok = res.failure.empty();
    res.digest = c.digest();
    res.committed = static_cast<uint64_t>(c.check().committed_end().value());
    res.leaders = c.check().terms_with_leader();
    res.stats = c.stats();
    res.net = c.net_stats();
    return res;
}

}  // namespace sluice::raft::sim
