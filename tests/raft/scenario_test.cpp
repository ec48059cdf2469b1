// Scripted runs of the classic traps, on the simulated cluster without random faults (every
// message takes one tick, disks fsync at once unless a test says otherwise). The cluster's
// checker (sim/checker.h) watches every event; each test ends by requiring it found nothing.
#include <algorithm>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "cluster.h"
#include "scripted.h"
#include "sluice/raft/errc.h"

using namespace sluice;
using namespace sluice::raft;
using namespace sluice::raft::sim;

namespace {

constexpr int32_t election_timeout_ticks = 20;
// The liveness bound of sim/chaos.h holds here too; scripted steps wait at most this long.
constexpr int64_t wait_ticks_max = 400;

cluster_options calm(int voters, int observers = 0) {
    cluster_options o;
    o.seed = 7;
    o.voters = voters;
    o.observers = observers;
    o.node_config.election_timeout_ticks = election_timeout_ticks;
    o.node_config.fetch_interval_ticks = 2;
    o.node_config.snapshot_chunk_bytes_max = 16;
    o.net = network_options{0, 0, 1, 1};
    return o;
}

bool leads(const cluster& c, node_id_t id) {
    return id != no_node && c.alive(id) && c.core(id).current_role() == role::leader;
}

// The leader, once it has committed an entry of its own term.
node_id_t settled_leader(cluster& c) {
    node_id_t l = no_node;
    REQUIRE(c.run_until(
        [&] {
            l = c.leader();
            return l != no_node &&
                   c.core(l).log().term_at(c.core(l).high_watermark() - 1) == c.core(l).term();
        },
        wait_ticks_max));
    return l;
}

bool committed(const cluster& c, const std::string& data) {
    const auto& h = c.check().committed();
    return std::any_of(h.begin(), h.end(), [&](const entry& e) { return e.data == data; });
}

// Proposes `count` entries at leader `l` and waits until the nodes `who` (default: every live
// node) applied them.
void commit_entries(cluster& c, node_id_t l, int count, const std::string& prefix,
                    std::vector<node_id_t> who = {}) {
    if (who.empty()) {
        who = c.ids();
    }
    offset_t last{0};
    for (int i = 0; i < count; ++i) {
        auto r = c.propose(l, prefix + std::to_string(i));
        REQUIRE(r.has_value());
        last = r.value().offset;
    }
    REQUIRE(c.run_until(
        [&] {
            return std::all_of(who.begin(), who.end(), [&](node_id_t id) {
                return !c.alive(id) || c.app(id).applied_end > last;
            });
        },
        wait_ticks_max));
    REQUIRE(c.check().failure().value_or("") == "");
    REQUIRE(committed(c, prefix + std::to_string(count - 1)));
}

std::vector<node_id_t> others(const cluster& c, std::initializer_list<node_id_t> but) {
    std::vector<node_id_t> out;
    for (node_id_t id : c.ids()) {
        if (std::find(but.begin(), but.end(), id) == but.end()) {
            out.push_back(id);
        }
    }
    return out;
}

}  // namespace

TEST_CASE("a leader cut off with a minority keeps its term and its entries never commit") {
    const throw_on_core_check guard;
    cluster c(calm(5));
    const node_id_t old = settled_leader(c);
    const term_t old_term = c.core(old).term();
    const std::vector<node_id_t> rest = others(c, {old});
    const node_id_t buddy = rest[0];
    c.partition({{old, buddy}, {rest[1], rest[2], rest[3]}});
    for (int i = 0; i < 5; ++i) {
        REQUIRE(c.propose(old, "stale" + std::to_string(i)).has_value());
    }
    node_id_t fresh = no_node;
    REQUIRE(c.run_until(
        [&] {
            fresh = c.leader();
            return fresh != no_node && fresh != old;
        },
        wait_ticks_max));
    CHECK(c.core(fresh).term() > old_term);
    // Check-quorum: within two election timeouts the old leader no longer leads; pre-vote: it and
    // its follower never raise their term.
    c.run(2 * election_timeout_ticks);
    CHECK_FALSE(leads(c, old));
    CHECK(c.core(old).term() == old_term);
    CHECK(c.core(buddy).term() == old_term);
    CHECK(c.propose(old, "refused").error() == errc::not_leader);
    commit_entries(c, fresh, 10, "fresh", {rest[1], rest[2], rest[3]});
    for (int i = 0; i < 5; ++i) {
        CHECK_FALSE(committed(c, "stale" + std::to_string(i)));
    }
    c.heal();
    commit_entries(c, fresh, 3, "after");
    CHECK(c.core(old).term() == c.core(fresh).term());
    CHECK(c.core(old).log().end() == c.core(fresh).log().end());
    c.final_checks();
    CHECK(c.check().failure().value_or("") == "");
}

TEST_CASE("a stale leader's entries are truncated when it returns") {
    const throw_on_core_check guard;
    cluster c(calm(3));
    const node_id_t old = settled_leader(c);
    const offset_t end_before = c.core(old).log().end();
    c.partition({{old}, others(c, {old})});
    for (int i = 0; i < 4; ++i) {
        REQUIRE(c.propose(old, "stale" + std::to_string(i)).has_value());
    }
    c.run(2);  // written to its disk
    CHECK(c.disk(old).end() == end_before + 4);
    node_id_t fresh = no_node;
    REQUIRE(c.run_until(
        [&] {
            fresh = c.leader();
            return fresh != no_node && fresh != old;
        },
        wait_ticks_max));
    commit_entries(c, fresh, 6, "fresh", others(c, {old}));
    c.heal();
    commit_entries(c, fresh, 1, "after");
    // The stale tail is gone from memory and from disk; the committed entries took its place.
    for (int64_t o = end_before.value(); o < end_before.value() + 4; ++o) {
        const entry* held = c.disk(old).find(offset_t{o});
        REQUIRE(held != nullptr);
        CHECK(held->data.rfind("stale", 0) == std::string::npos);
        CHECK(*held == c.check().committed()[static_cast<size_t>(o)]);
    }
    c.final_checks();
    CHECK(c.check().failure().value_or("") == "");
}

TEST_CASE("a node whose disk lost unflushed entries rejoins safely") {
    const throw_on_core_check guard;
    cluster c(calm(3));
    const node_id_t l = settled_leader(c);
    commit_entries(c, l, 3, "base");
    // The leader's disk takes 5 ticks to fsync; it crashes before that.
    c.set_flush_delay(5, 5);
    for (int i = 0; i < 3; ++i) {
        REQUIRE(c.propose(l, "unflushed" + std::to_string(i)).has_value());
    }
    c.tick();
    c.crash(l, true);
    CHECK(c.stats().entries_lost >= 3);
    c.set_flush_delay(0, 0);
    node_id_t next = no_node;
    REQUIRE(c.run_until(
        [&] {
            next = c.leader();
            return next != no_node;
        },
        wait_ticks_max));
    commit_entries(c, next, 5, "next");
    // A follower loses entries it fetched but had not fsynced (so never acknowledged).
    const node_id_t f = others(c, {l, next})[0];
    c.set_flush_delay(4, 4);
    REQUIRE(c.propose(next, "follower-unflushed").has_value());
    REQUIRE(c.run_until([&] { return c.core(f).log().end() > c.disk(f).end(); }, 20));
    c.crash(f, true);
    c.set_flush_delay(0, 0);
    c.restart(l);
    c.restart(f);
    commit_entries(c, next, 2, "rejoined");
    for (int i = 0; i < 3; ++i) {
        CHECK_FALSE(committed(c, "unflushed" + std::to_string(i)));
    }
    CHECK(committed(c, "follower-unflushed"));  // it was on the leader and the other follower
    CHECK(c.core(l).log().end() == c.core(next).log().end());
    CHECK(c.core(f).log().end() == c.core(next).log().end());
    c.final_checks();
    CHECK(c.check().failure().value_or("") == "");
}

TEST_CASE("a split vote resolves") {
    const throw_on_core_check guard;
    cluster c(calm(3));
    const node_id_t old = settled_leader(c);
    const std::vector<node_id_t> pair = others(c, {old});
    const node_id_t a = pair[0], b = pair[1];
    c.crash(old);
    c.partition({{a}, {b}});
    REQUIRE(c.run_until(
        [&] {
            return c.core(a).current_role() == role::pre_candidate &&
                   c.core(b).current_role() == role::pre_candidate;
        },
        wait_ticks_max));
    const term_t before = c.core(a).term();
    // Both ask at the same moment: each grants the other's pre-vote, then votes for itself.
    c.heal();
    c.campaign(a);
    c.campaign(b);
    REQUIRE(c.run_until(
        [&] {
            return c.core(a).current_role() == role::candidate &&
                   c.core(b).current_role() == role::candidate;
        },
        5));
    const term_t split = c.core(a).term();
    CHECK(split == before + 1);
    CHECK(c.core(b).term() == split);
    c.run(3);
    CHECK(c.leader() == no_node);  // neither got a majority
    // Randomized election timeouts break the tie.
    const node_id_t winner = settled_leader(c);
    CHECK(c.core(winner).term() > split);
    c.restart(old);
    commit_entries(c, winner, 2, "after-split");
    c.final_checks();
    CHECK(c.check().failure().value_or("") == "");
}

TEST_CASE("pre-vote keeps a rejoining node from raising the term") {
    const throw_on_core_check guard;
    cluster c(calm(3));
    const node_id_t l = settled_leader(c);
    const term_t term = c.core(l).term();
    const node_id_t loner = others(c, {l})[0];
    c.partition({{loner}, others(c, {loner})});
    // Cut off for ten election timeouts, it campaigns again and again, never past pre-vote.
    for (int i = 0; i < 10 * election_timeout_ticks; ++i) {
        c.tick();
        REQUIRE(c.core(loner).term() == term);
        REQUIRE(c.core(loner).current_role() != role::candidate);
    }
    commit_entries(c, l, 4, "meanwhile", others(c, {loner}));
    c.heal();
    commit_entries(c, l, 1, "back");
    CHECK(leads(c, l));
    for (node_id_t id : c.ids()) {
        CHECK(c.core(id).term() == term);
    }
    CHECK(c.core(loner).log().end() == c.core(l).log().end());
    c.final_checks();
    CHECK(c.check().failure().value_or("") == "");
}

TEST_CASE("a lagging follower catches up through a snapshot sent in chunks") {
    const throw_on_core_check guard;
    cluster c(calm(3));
    const node_id_t l = settled_leader(c);
    const node_id_t lagging = others(c, {l})[0];
    c.crash(lagging);
    commit_entries(c, l, 30, "e");
    REQUIRE(c.take_snapshot(l).has_value());
    commit_entries(c, l, 2, "after-snapshot");
    const offset_t snapshot_end = c.disk(l).snap->id.end_offset;
    CHECK(c.core(l).log().start() == snapshot_end);
    CHECK(c.disk(lagging).end() < snapshot_end);
    c.restart(lagging);
    commit_entries(c, l, 1, "caught-up");
    CHECK(c.stats().snapshots_restored == 1);
    CHECK(c.core(lagging).log().start() == snapshot_end);
    CHECK(c.disk(lagging).snap->id.end_offset == snapshot_end);
    CHECK(c.app(lagging).applied_end == c.app(l).applied_end);
    c.final_checks();
    CHECK(c.check().failure().value_or("") == "");
}

TEST_CASE("voters are added and removed one at a time") {
    const throw_on_core_check guard;
    cluster c(calm(3, 1));
    const node_id_t newcomer{4};
    node_id_t l = settled_leader(c);
    CHECK_FALSE(c.core(newcomer).is_voter());
    commit_entries(c, l, 3, "base");  // the observer applies them too
    auto added = c.add_voter(l, newcomer);
    REQUIRE(added.has_value());
    // One change at a time.
    CHECK(c.remove_voter(l, node_id_t{2}).error() == errc::voter_change_pending);
    CHECK(c.add_voter(l, newcomer).error() == errc::voter_change_pending);
    commit_entries(c, l, 1, "with-4");
    for (node_id_t id : c.ids()) {
        CHECK(c.core(id).voters().size() == 4);
    }
    CHECK(c.core(newcomer).is_voter());
    CHECK(c.add_voter(l, newcomer).error() == errc::already_voter);

    // Remove a follower; it goes on fetching as an observer.
    const node_id_t leaving = others(c, {l, newcomer})[0];
    REQUIRE(c.remove_voter(l, leaving).has_value());
    commit_entries(c, l, 1, "without");
    CHECK_FALSE(c.core(leaving).is_voter());
    CHECK(c.core(l).voters().size() == 3);
    CHECK(c.remove_voter(l, leaving).error() == errc::not_voter);
    // Its vote is no longer needed: with it down, two of the three voters commit.
    c.crash(leaving);
    const node_id_t third = others(c, {l, leaving, newcomer})[0];
    c.crash(third);
    REQUIRE(c.propose(l, "needs-two").has_value());
    REQUIRE(c.run_until([&] { return committed(c, "needs-two"); }, wait_ticks_max));
    c.restart(third);
    c.restart(leaving);

    // The leader removes itself: it leads until the change commits, then steps down.
    REQUIRE(c.remove_voter(l, l).has_value());
    REQUIRE(c.run_until([&] { return !leads(c, l); }, wait_ticks_max));
    CHECK_FALSE(c.core(l).is_voter());
    const node_id_t successor = settled_leader(c);
    CHECK(successor != l);
    commit_entries(c, successor, 2, "successor");
    CHECK(c.core(successor).voters().size() == 2);
    c.final_checks();
    CHECK(c.check().failure().value_or("") == "");
}

TEST_CASE("an earlier term's entry on a majority commits only with one of the leader's term") {
    // The trap of figure 8 in the Raft paper. Fetches carry one entry, so that a follower can
    // hold an old entry of the leader's log without the leader's own entry after it.
    const throw_on_core_check guard;
    cluster_options o = calm(5);
    o.node_config.fetch_entries_max = 1;
    cluster c(o);
    const node_id_t s1{1}, s2{2};
    c.campaign(s1);
    REQUIRE(settled_leader(c) == s1);
    commit_entries(c, s1, 1, "base");
    const offset_t old_at = c.core(s1).log().end();

    // Term 1: node 1 writes `old` to itself and node 2 only, and crashes.
    c.partition({{s1, s2}, others(c, {s1, s2})});
    REQUIRE(c.propose(s1, "old").has_value());
    REQUIRE(c.run_until([&] { return c.disk(s2).end() == old_at + 1; }, wait_ticks_max));
    c.crash(s1);

    // Term 2: x is elected by the other three, writes its leader_change at the same offset and
    // is cut off and crashes before anyone fetched it.
    node_id_t x = no_node;
    REQUIRE(c.run_until(
        [&] {
            x = c.leader();
            return x != no_node;
        },
        wait_ticks_max));
    const std::vector<node_id_t> yz = others(c, {s1, s2, x});
    const node_id_t y = yz[0], z = yz[1];
    c.partition({{x}, {s2, y, z}});
    c.run(2);
    REQUIRE(c.disk(x).find(old_at) != nullptr);
    const term_t x_term = c.disk(x).find(old_at)->term;
    REQUIRE(c.disk(y).end() == old_at);
    c.crash(x);

    // Term 3: node 1 returns and is elected by node 2 and y. It gives y the old entry, but not
    // its own leader_change after it, and is cut off again.
    c.restart(s1);
    c.partition({{s1, s2, y}, {z}});
    c.campaign(s1);  // refused by y, it learns term 2
    REQUIRE(c.run_until([&] { return c.core(s1).term() == x_term; }, 10));
    c.campaign(s1);
    REQUIRE(c.run_until([&] { return leads(c, s1); }, 10));
    REQUIRE(c.run_until([&] { return c.disk(y).end() == old_at + 1; }, wait_ticks_max));
    c.tick();  // y's acknowledgement reaches node 1
    c.partition({{s1}, {s2, y, z}});
    c.run(2);
    REQUIRE(c.disk(y).end() == old_at + 1);
    // `old` is on three of five disks, but only an entry of term 3 may commit it.
    CHECK_FALSE(committed(c, "old"));
    c.crash(s1);

    // Term 4: x returns; with y's and z's votes (its last term 2 beats their term 1) it leads
    // and overwrites `old` with its own entry of term 2.
    c.restart(x);
    c.partition({{s2}, {x, y, z}});
    REQUIRE(c.run_until([&] { return leads(c, x); }, wait_ticks_max));
    commit_entries(c, x, 1, "x", {x, y, z});
    CHECK(c.check().committed()[static_cast<size_t>(old_at.value())].term == x_term);
    c.heal();
    c.restart(s1);
    commit_entries(c, x, 1, "all");
    CHECK_FALSE(committed(c, "old"));
    c.final_checks();
    CHECK(c.check().failure().value_or("") == "");
}

TEST_CASE("a new leader changes no voters before it commits an entry of its own term") {
    // The scripted run of sim/scripted.h: the removal is refused, and the checker finds nothing.
    const auto r = voter_change_before_commit(false);
    CHECK_FALSE(r.change_accepted);
    CHECK(r.refused_with == make_error_code(errc::voter_change_pending));
    CHECK(r.accepted_later);
    CHECK(r.failure == "");
}
