#include "scripted.h"

#include "cluster.h"

namespace sluice::raft::sim {
namespace {

constexpr int64_t wait_ticks_max = 400;

bool leads(const cluster& c, node_id_t id) {
    return c.alive(id) && c.core(id).current_role() == role::leader;
}

bool applied_everywhere(const cluster& c, offset_t end) {
    for (node_id_t id : c.ids()) {
        if (!c.alive(id) || c.app(id).applied_end < end) {
            return false;
        }
    }
    return true;
}

}  // namespace

scripted_result voter_change_before_commit(bool verbose) {
    cluster_options o;
    o.seed = 11;
    o.voters = 4;
    o.observers = 1;
    o.node_config.election_timeout_ticks = 20;
    o.node_config.fetch_interval_ticks = 2;
    o.net = network_options{0, 0, 1, 1};
    o.verbose = verbose;
    cluster c(o);
    const node_id_t n1{1}, n5{5};
    scripted_result out;
    auto done = [&](std::string why) {
        out.failure = c.check().failure().value_or(why);
        return out;
    };

    // 1 leads term 1 with an entry of its own committed, and everyone, 5 too, has it all.
    c.campaign(n1);
    if (!c.run_until([&] { return leads(c, n1) && c.core(n1).high_watermark() > offset_t{0}; },
                     wait_ticks_max) ||
        !c.propose(n1, "before")) {
        return done("node 1 did not lead");
    }
    const offset_t start = c.core(n1).log().end();
    if (!c.run_until([&] { return applied_everywhere(c, start); }, wait_ticks_max)) {
        return done("not every node applied the first entries");
    }

    // Cut off with 5, 1 adds it: on 1 and 5 only, never committed.
    c.partition({{n1, n5}, {node_id_t{2}, node_id_t{3}, node_id_t{4}}});
    auto added = c.add_voter(n1, n5);
    if (!added) {
        return done("node 1 refused to add node 5");
    }
    if (!c.run_until([&] { return c.core(n5).log().end() > added.value().offset; },
                     wait_ticks_max)) {
        return done("node 5 did not get the voter change");
    }
    c.crash(n1);
    c.partition({{n5}, {node_id_t{2}, node_id_t{3}, node_id_t{4}}});

    // 2, 3 and 4 elect a leader; one of the other two is cut off at once.
    node_id_t leader = no_node;
    if (!c.run_until(
            [&] {
                leader = c.leader();
                return leader != no_node && leader != n1;
            },
            wait_ticks_max)) {
        return done("no new leader");
    }
    std::vector<node_id_t> others;
    for (int id = 2; id <= 4; ++id) {
        if (node_id_t{id} != leader) {
            others.push_back(node_id_t{id});
        }
    }
    const node_id_t kept = others[0], cut = others[1];
    c.partition({{n5}, {leader, kept}, {cut}});
    auto removed = c.remove_voter(leader, cut);
    out.change_accepted = removed.has_value();
    if (!removed) {
        out.refused_with = removed.error();
        // The rule holds. Healed, a leader commits an entry of its term, and then the same
        // removal is taken, commits, and the cluster goes on.
        c.heal();
        c.restart(n1);
        node_id_t l = no_node;
        if (!c.run_until(
                [&] {
                    l = c.leader();
                    return l != no_node &&
                           c.core(l).log().term_at(c.core(l).high_watermark() - 1) ==
                               c.core(l).term() &&
                           c.remove_voter(l, cut).has_value();
                },
                wait_ticks_max)) {
            return done("the removal was not taken after healing");
        }
        out.accepted_later = true;
        auto after = c.propose(l, "after");
        if (!after || !c.run_until([&] { return c.check().committed_end() > after.value().offset; },
                                   wait_ticks_max)) {
            return done("nothing committed after the removal");
        }
        c.run(wait_ticks_max / 4);
        c.final_checks();
        return done("");
    }
    // The removal commits on {leader, kept}, a majority of {1, leader, kept}...
    if (!c.run_until([&] { return c.check().committed_end() > removed.value().offset; },
                     wait_ticks_max)) {
        return done("the early removal did not commit");
    }
    // ...and 1 comes back with the one removed and 5, a majority of its voter set {1..5}.
    c.crash(leader);
    c.crash(kept);
    c.heal();
    c.restart(n1);
    c.run_until([&] { return !c.ok(); }, 2 * wait_ticks_max);
    c.final_checks();
    return done("");
}

}  // namespace sluice::raft::sim
