// The core alone, driven by hand: Ready/Advance, errors and limits, votes, fetch answers.
#include <doctest/doctest.h>

#include "../support/raft_disk.h"
#include "sluice/raft/errc.h"
#include "sluice/raft/node.h"

using namespace sluice;
using namespace sluice::raft;

namespace {

const node_id_t n1{1}, n2{2}, n3{3};

config make_config(node_id_t id, std::vector<node_id_t> voters) {
    config c;
    c.id = id;
    c.bootstrap_voters = std::move(voters);
    c.random_seed = static_cast<uint64_t>(id.value());
    c.election_timeout_ticks = 10;
    c.fetch_interval_ticks = 2;
    return c;
}

// A disk for one node: applies readies the way ready.h says, and fails the test on a ready that
// breaks the storage contract.
struct disk : testing::raft_disk {
    void persist(const ready& rd) { REQUIRE(raft_disk::persist(rd)); }
};

// Persists and advances every ready; returns the messages to send.
std::vector<message> drain(node& n, disk& d) {
    std::vector<message> out;
    while (n.has_ready()) {
        ready rd = n.get_ready();
        d.persist(rd);
        out.insert(out.end(), rd.messages.begin(), rd.messages.end());
        n.advance(rd);
        if (rd.snap_received) {
            n.snapshot_checked(rd.snap_received->id, d.check_received(*rd.snap_received));
        }
    }
    return out;
}

// Leader 1 of term 1 answers node 2's first fetch: fetch snapshot `id` (which ends at 8).
message fetch_snapshot_told(const snapshot_id& id) {
    return message{n1, n2,
                   fetch_response{term_t{1},
                                  n1,
                                  fetch_error::none,
                                  offset_t{0},
                                  term_t{0},
                                  offset_t{8},
                                  {},
                                  std::nullopt,
                                  id}};
}

// Makes `n` (voters 1, 2, 3) leader with node 2's votes.
void elect(node& n, disk& d) {
    n.campaign();
    drain(n, d);
    n.step(message{n2, n.id(), pre_vote_response{n.term() + 1, true, no_node}});
    REQUIRE(n.current_role() == role::candidate);
    drain(n, d);
    n.step(message{n2, n.id(), vote_response{n.term(), true, no_node}});
    REQUIRE(n.current_role() == role::leader);
}

// The first message of type T to `to`, copied out.
template <typename T>
std::optional<T> find(const std::vector<message>& ms, node_id_t to) {
    for (const message& m : ms) {
        if (m.to == to && std::holds_alternative<T>(m.body)) {
            return std::get<T>(m.body);
        }
    }
    return std::nullopt;
}

}  // namespace

TEST_CASE("config bounds are validated") {
    CHECK(validate(make_config(n1, {n1, n2, n3})).has_value());
    CHECK(validate(make_config(n1, {})).error() == errc::invalid_config);
    CHECK(validate(make_config(n1, {n1, n1})).error() == errc::invalid_config);
    config c = make_config(n1, {n1});
    c.fetch_bytes_max = c.entry_bytes_max - 1;
    CHECK(validate(c).error() == errc::invalid_config);
    c = make_config(n1, {n1});
    c.fetch_interval_ticks = c.election_timeout_ticks;
    CHECK(validate(c).error() == errc::invalid_config);
    c = make_config(n1, {n1});
    c.fetch_wait_ticks = 2;  // 2 + 2 * 2 > 10 / 2: no room left for delays after a lost answer
    CHECK(validate(c).error() == errc::invalid_config);
    c.fetch_wait_ticks = 1;
    CHECK(validate(c).has_value());
}

TEST_CASE("a single voter elects itself and commits only what it persisted") {
    node n(make_config(n1, {n1}), {});
    for (int i = 0; i < 20 && n.current_role() != role::candidate; ++i) {
        n.tick();
    }
    // It won its own election, but leads only once its vote is durable: a crash before that
    // must not let it lead term 1 again with other entries.
    REQUIRE(n.current_role() == role::candidate);
    CHECK(n.term() == term_t{1});
    CHECK(n.propose("early").error() == errc::not_leader);
    ready rd = n.get_ready();
    CHECK(rd.hard == hard_state{term_t{1}, n1, offset_t{0}});
    CHECK(rd.entries.empty());
    n.advance(rd);
    REQUIRE(n.current_role() == role::leader);
    CHECK(n.log().end() == offset_t{1});  // the leader_change entry
    CHECK(n.high_watermark() == offset_t{0});
    rd = n.get_ready();
    CHECK(rd.entries.size() == 1);
    CHECK(rd.entries[0].kind == entry_kind::leader_change);
    CHECK_FALSE(n.has_ready());                // one ready out at a time
    CHECK(n.high_watermark() == offset_t{0});  // not durable yet
    n.advance(rd);
    CHECK(n.high_watermark() == offset_t{1});
    auto p = n.propose("a");
    REQUIRE(p.has_value());
    CHECK(p.value() == proposal{offset_t{1}, n.term()});
    rd = n.get_ready();
    CHECK(rd.committed.size() == 1);  // the leader_change entry
    n.advance(rd);
    rd = n.get_ready();
    CHECK(rd.committed_offset == offset_t{1});
    REQUIRE(rd.committed.size() == 1);
    CHECK(rd.committed[0].data == "a");
    CHECK(rd.hard->commit == offset_t{2});
    n.advance(rd);
}

TEST_CASE("a follower refuses proposals and voter changes") {
    node n(make_config(n1, {n1, n2, n3}), {});
    CHECK(n.propose("a").error() == errc::not_leader);
    CHECK(n.propose_add_voter(node_id_t{4}).error() == errc::not_leader);
    CHECK(n.propose_remove_voter(n2).error() == errc::not_leader);
}

TEST_CASE("proposal limits are enforced at the limit") {
    config c = make_config(n1, {n1});
    c.entry_bytes_max = 10;
    c.fetch_bytes_max = 10;
    c.uncommitted_entries_max = 4;
    c.uncommitted_bytes_max = 25;
    node n(c, {});
    disk d;
    n.campaign();
    drain(n, d);  // its vote durable, it leads
    REQUIRE(n.current_role() == role::leader);
    drain(n, d);
    CHECK(n.propose(std::string(11, 'x')).error() == errc::entry_too_large);
    CHECK(n.propose(std::string(10, 'x')).has_value());
    CHECK(n.propose(std::string(10, 'x')).has_value());
    CHECK(n.propose(std::string(6, 'x')).error() == errc::uncommitted_bytes_max);
    CHECK(n.propose(std::string(5, 'x')).has_value());  // 25 bytes: at the limit
    CHECK(n.propose("").has_value());                   // 4 uncommitted entries
    CHECK(n.propose("").error() == errc::uncommitted_entries_max);
    drain(n, d);
    CHECK(n.high_watermark() == n.log().end());
    CHECK(n.propose(std::string(10, 'x')).has_value());
}

TEST_CASE("messages beyond messages_max are dropped and counted") {
    config c = make_config(n1, {n1, n2, n3, node_id_t{4}, node_id_t{5}});
    c.messages_max = 2;
    node n(c, {});
    n.campaign();
    CHECK(n.messages_dropped() == 2);
    CHECK(n.get_ready().messages.size() == 2);
}

TEST_CASE("a vote survives a restart: no second vote in the same term") {
    disk d;
    {
        node n(make_config(n1, {n1, n2, n3}), {});
        n.step(message{n2, n1, vote_request{term_t{1}, offset_t{0}, term_t{0}}});
        const auto out = drain(n, d);
        const auto v = find<vote_response>(out, n2);
        REQUIRE(v.has_value());
        CHECK(v->granted);
        CHECK(d.state.hard.vote == n2);
    }
    node again(make_config(n1, {n1, n2, n3}), d.state);
    CHECK(again.term() == term_t{1});
    again.step(message{n3, n1, vote_request{term_t{1}, offset_t{0}, term_t{0}}});
    const auto out = drain(again, d);
    const auto v = find<vote_response>(out, n3);
    REQUIRE(v.has_value());
    CHECK_FALSE(v->granted);
    // The same candidate asking again is granted (its first answer may have been lost).
    again.step(message{n2, n1, vote_request{term_t{1}, offset_t{0}, term_t{0}}});
    CHECK(find<vote_response>(drain(again, d), n2)->granted);
}

// Voters 1, 2, 3 formatted with directories {id, 1}; `dir` is this node's own.
config with_directories(node_id_t id, directory_id dir) {
    config c = make_config(id, {n1, n2, n3});
    c.directory = dir;
    for (node_id_t v : {n1, n2, n3}) {
        c.voter_directories.emplace_back(v, directory_id{uint64_t(v.value()), 1});
    }
    return c;
}

TEST_CASE("a voter formatted again under a new directory neither votes nor campaigns") {
    // Node 1 granted node 2 its vote in term 1, then lost its disk and was formatted again: a
    // new directory. Node 3 asks it for term 1, naming the directory the quorum knows.
    node wiped(with_directories(n1, directory_id{1, 2}), {});
    CHECK_FALSE(wiped.is_voter());
    disk d;
    wiped.step(message{n3, n1, vote_request{term_t{1}, offset_t{0}, term_t{0}, {1, 1}, {3, 1}}});
    const auto v = find<vote_response>(drain(wiped, d), n3);
    REQUIRE(v.has_value());
    CHECK_FALSE(v->granted);
    CHECK(v->directory == directory_id{1, 2});
    CHECK(wiped.vote() == no_node);
    CHECK(wiped.term() == term_t{0});  // refused before its term is taken
    wiped.step(
        message{n3, n1, pre_vote_request{term_t{2}, offset_t{0}, term_t{0}, {1, 1}, {3, 1}}});
    CHECK_FALSE(find<pre_vote_response>(drain(wiped, d), n3)->granted);
    // Its election timer runs out: it looks for a leader as an observer, and never campaigns.
    for (int i = 0; i < 100; ++i) {
        wiped.tick();
        CHECK(wiped.current_role() == role::follower);
    }
    wiped.campaign();
    CHECK(wiped.current_role() == role::follower);

    // The node itself, under the directory it was formatted with, votes as usual.
    node same(with_directories(n1, directory_id{1, 1}), {});
    CHECK(same.is_voter());
    disk e;
    same.step(message{n3, n1, vote_request{term_t{1}, offset_t{0}, term_t{0}, {1, 1}, {3, 1}}});
    CHECK(find<vote_response>(drain(same, e), n3)->granted);
    // A candidate formatted again (node 2 under a new directory) is refused: it may have voted
    // for another in this term before it lost its disk, and would now vote for itself.
    node other(with_directories(n1, directory_id{1, 1}), {});
    disk f;
    other.step(message{n2, n1, vote_request{term_t{1}, offset_t{0}, term_t{0}, {1, 1}, {2, 2}}});
    CHECK_FALSE(find<vote_response>(drain(other, f), n2)->granted);
    CHECK(other.vote() == no_node);
    CHECK(other.term() == term_t{0});
}

TEST_CASE("a candidate counts a grant only from the directory the quorum was formatted with") {
    disk d;
    node n(with_directories(n1, directory_id{1, 1}), {});
    n.campaign();
    const auto asks = drain(n, d);
    REQUIRE(find<pre_vote_request>(asks, n2).has_value());
    CHECK(find<pre_vote_request>(asks, n2)->voter_directory == directory_id{2, 1});
    CHECK(find<pre_vote_request>(asks, n3)->voter_directory == directory_id{3, 1});
    // Node 2 under another directory: its pre-vote does not count.
    n.step(message{n2, n1, pre_vote_response{n.term() + 1, true, no_node, {2, 9}}});
    CHECK(n.current_role() == role::pre_candidate);
    n.step(message{n2, n1, pre_vote_response{n.term() + 1, true, no_node, {2, 1}}});
    REQUIRE(n.current_role() == role::candidate);
    const auto votes = drain(n, d);
    CHECK(find<vote_request>(votes, n3)->voter_directory == directory_id{3, 1});
    n.step(message{n3, n1, vote_response{n.term(), true, no_node, {3, 9}}});
    CHECK(n.current_role() == role::candidate);
    n.step(message{n3, n1, vote_response{n.term(), true, no_node, {3, 1}}});
    CHECK(n.current_role() == role::leader);
}

TEST_CASE("pre-votes never change a term and are refused while a leader is heard") {
    disk d;
    d.state.hard.term = term_t{1};
    d.state.entries.push_back(entry{term_t{1}, entry_kind::data, "a", {}});
    node n(make_config(n1, {n1, n2, n3}), d.state);
    // Node 2 leads term 1: its fetch answer is the heartbeat.
    n.step(message{
        n2, n1,
        fetch_response{term_t{1}, n2, fetch_error::none, offset_t{1}, term_t{1}, offset_t{0}}});
    CHECK(n.leader() == n2);
    drain(n, d);
    n.step(message{n3, n1, pre_vote_request{term_t{2}, offset_t{5}, term_t{1}}});
    const auto refused = find<pre_vote_response>(drain(n, d), n3);
    REQUIRE(refused.has_value());
    CHECK_FALSE(refused->granted);
    CHECK(refused->leader == n2);  // the hint that lets node 3 rejoin
    CHECK(n.term() == term_t{1});
    // Without news from node 2 for an election timeout, node 1 grants it, still in term 1.
    for (int i = 0; i < 25; ++i) {
        n.tick();
    }
    CHECK(n.current_role() == role::pre_candidate);
    drain(n, d);
    n.step(message{n3, n1, pre_vote_request{term_t{2}, offset_t{5}, term_t{1}}});
    const auto granted = find<pre_vote_response>(drain(n, d), n3);
    REQUIRE(granted.has_value());
    CHECK(granted->granted);
    CHECK(granted->term == term_t{2});
    CHECK(n.term() == term_t{1});
    CHECK(n.vote() == no_node);
    // A log less up to date than ours is refused.
    n.step(message{n3, n1, pre_vote_request{term_t{2}, offset_t{0}, term_t{0}}});
    CHECK_FALSE(find<pre_vote_response>(drain(n, d), n3)->granted);
}

TEST_CASE("a diverging follower truncates to the leader's epoch end and catches up") {
    // Leader: terms 1 1 2, then its own leader_change in term 3. Follower: 1 1 1 1 (an old
    // leader's uncommitted tail).
    disk ld;
    ld.state.hard = hard_state{term_t{2}, no_node, offset_t{2}};
    for (int64_t t : {1, 1, 2}) {
        ld.state.entries.push_back(entry{term_t{t}, entry_kind::data, "l", {}});
    }
    node leader(make_config(n1, {n1, n2, n3}), ld.state);
    elect(leader, ld);
    CHECK(leader.term() == term_t{3});
    drain(leader, ld);

    disk fd;
    fd.state.hard = hard_state{term_t{1}, no_node, offset_t{2}};
    for (int i = 0; i < 4; ++i) {
        fd.state.entries.push_back(entry{term_t{1}, entry_kind::data, "f", {}});
    }
    node follower(make_config(n2, {n1, n2, n3}), fd.state);

    // Pass messages between the two until nothing moves.
    std::vector<message> to_leader, to_follower;
    follower.step(message{n1, n2, begin_epoch{term_t{3}}});
    bool truncated = false;
    for (int round = 0; round < 20; ++round) {
        follower.tick();
        while (follower.has_ready()) {
            ready rd = follower.get_ready();
            truncated = truncated || (rd.truncate_to == offset_t{2});
            fd.persist(rd);
            to_leader.insert(to_leader.end(), rd.messages.begin(), rd.messages.end());
            follower.advance(rd);
        }
        for (const message& m : to_leader) {
            leader.step(m);
        }
        to_leader.clear();
        to_follower = drain(leader, ld);
        for (const message& m : to_follower) {
            if (const auto* r = std::get_if<fetch_response>(&m.body); r && r->diverging) {
                // Epoch 1 ends at 2 in the leader's log.
                CHECK(*r->diverging == epoch_end{term_t{1}, offset_t{2}});
            }
            follower.step(m);
        }
    }
    CHECK(truncated);
    CHECK(follower.log().end() == leader.log().end());
    CHECK(follower.log().at(offset_t{2}).term == term_t{2});
    CHECK(leader.high_watermark() == leader.log().end());  // both hold the leader_change entry
    CHECK(follower.high_watermark() == leader.high_watermark());
}

TEST_CASE("a fetch answer respects fetch_entries_max and fetch_bytes_max") {
    config c = make_config(n1, {n1, n2, n3});
    c.fetch_entries_max = 4;
    c.entry_bytes_max = 100;
    c.fetch_bytes_max = 250;
    disk d;
    for (int i = 0; i < 10; ++i) {
        d.state.entries.push_back(entry{term_t{1}, entry_kind::data, std::string(100, 'x'), {}});
    }
    d.state.hard.term = term_t{1};
    node n(c, d.state);
    elect(n, d);
    drain(n, d);
    n.step(message{n2, n1, fetch_request{n.term(), offset_t{0}, term_t{0}}});
    const auto r = find<fetch_response>(drain(n, d), n2);
    REQUIRE(r.has_value());
    CHECK(r->entries.size() == 2);  // a third would make 300 bytes
    c.fetch_bytes_max = 1000;
    node wide(c, d.state);
    elect(wide, d);
    drain(wide, d);
    wide.step(message{n2, n1, fetch_request{wide.term(), offset_t{0}, term_t{0}}});
    CHECK(find<fetch_response>(drain(wide, d), n2)->entries.size() == 4);
}

TEST_CASE("long poll: a leader holds a fetch with nothing new until an entry or its wait") {
    config c = make_config(n1, {n1, n2, n3});
    c.election_timeout_ticks = 20;
    c.fetch_wait_ticks = 3;
    disk d;
    node n(c, d.state);
    elect(n, d);
    drain(n, d);
    // Node 2 takes the leader's first entry (its leader change); the leader commits it.
    n.step(message{n2, n1, fetch_request{n.term(), offset_t{0}, term_t{0}, offset_t{0}}});
    REQUIRE(find<fetch_response>(drain(n, d), n2)->entries.size() == 1);
    const offset_t end = n.log().end();
    n.step(message{n2, n1, fetch_request{n.term(), end, n.term(), offset_t{0}}});
    // Its commit point is behind the leader's: answered at once, with the new one.
    auto behind = find<fetch_response>(drain(n, d), n2);
    REQUIRE(behind.has_value());
    CHECK(behind->high_watermark == end);
    // At the end and knowing the commit point: held.
    const fetch_request caught_up{n.term(), end, n.term(), end};
    n.step(message{n2, n1, caught_up});
    CHECK_FALSE(find<fetch_response>(drain(n, d), n2).has_value());
    // A proposal answers it at once, with the entry.
    REQUIRE(n.propose("x"));
    auto woken = find<fetch_response>(drain(n, d), n2);
    REQUIRE(woken.has_value());
    REQUIRE(woken->entries.size() == 1);
    CHECK(woken->entries[0].data == "x");
    // Its acknowledgement commits the entry: answered at once with the new commit point.
    n.step(message{n2, n1, fetch_request{n.term(), n.log().end(), n.term(), end}});
    auto acked = find<fetch_response>(drain(n, d), n2);
    REQUIRE(acked.has_value());
    CHECK(acked->high_watermark == n.log().end());
    // Caught up again: held until its wait is over, then answered empty.
    const fetch_request again{n.term(), n.log().end(), n.term(), n.high_watermark()};
    n.step(message{n2, n1, again});
    n.tick();
    n.tick();
    CHECK_FALSE(find<fetch_response>(drain(n, d), n2).has_value());
    n.tick();
    auto timed_out = find<fetch_response>(drain(n, d), n2);
    REQUIRE(timed_out.has_value());
    CHECK(timed_out->entries.empty());
    CHECK(timed_out->fetch_offset == again.fetch_offset);
    // Fetches that keep coming keep the first one's deadline: answered 3 ticks after it.
    n.step(message{n2, n1, again});
    n.tick();
    n.step(message{n2, n1, again});  // a copy, or a fetcher with a shorter timer
    n.tick();
    n.step(message{n2, n1, again});
    CHECK_FALSE(find<fetch_response>(drain(n, d), n2).has_value());
    n.tick();
    CHECK(find<fetch_response>(drain(n, d), n2).has_value());
    // A late copy of an older fetch is answered at once and leaves the held one waiting.
    n.step(message{n2, n1, again});
    n.step(message{n2, n1, fetch_request{n.term(), end, n.term(), end}});
    auto stale = find<fetch_response>(drain(n, d), n2);
    REQUIRE(stale.has_value());
    CHECK(stale->fetch_offset == end);
    REQUIRE(n.propose("y"));
    auto still_held = find<fetch_response>(drain(n, d), n2);
    REQUIRE(still_held.has_value());
    CHECK(still_held->fetch_offset == again.fetch_offset);
    // A fetch claiming a commit point past its log is invalid.
    const auto invalid = n.messages_invalid();
    n.step(message{n2, n1, fetch_request{n.term(), offset_t{1}, n.term(), offset_t{2}}});
    CHECK(n.messages_invalid() == invalid + 1);
}

TEST_CASE("long poll: a follower fetches again at once after each answer") {
    config c = make_config(n2, {n1, n2, n3});
    c.election_timeout_ticks = 20;
    c.fetch_wait_ticks = 3;
    disk d;
    node f(c, d.state);
    f.step(message{n1, n2, begin_epoch{term_t{1}}});
    auto first = find<fetch_request>(drain(f, d), n1);
    if (!first) {
        f.tick();
        first = find<fetch_request>(drain(f, d), n1);
    }
    REQUIRE(first.has_value());
    const fetch_response empty{
        term_t{1},  n1, fetch_error::none, first->fetch_offset, first->last_fetched_epoch,
        offset_t{0}};
    // An empty answer a tick later (the leader's wait ended): the next fetch leaves at once.
    f.tick();
    f.step(message{n1, n2, empty});
    CHECK(find<fetch_request>(drain(f, d), n1).has_value());
    // Another in the same tick: the next one leaves on the next tick, never in a tight loop.
    f.step(message{n1, n2, empty});
    CHECK_FALSE(find<fetch_request>(drain(f, d), n1).has_value());
    f.tick();
    CHECK(find<fetch_request>(drain(f, d), n1).has_value());
    // No answer: it asks again only after the leader's wait and its own interval.
    for (int i = 0; i < c.fetch_wait_ticks + c.fetch_interval_ticks - 1; ++i) {
        f.tick();
        CHECK_FALSE(find<fetch_request>(drain(f, d), n1).has_value());
    }
    f.tick();
    CHECK(find<fetch_request>(drain(f, d), n1).has_value());
}

TEST_CASE("compact checks its snapshot id") {
    node n(make_config(n1, {n1}), {});
    disk d;
    n.campaign();
    drain(n, d);
    for (int i = 0; i < 5; ++i) {
        REQUIRE(n.propose("e").has_value());
    }
    drain(n, d);
    REQUIRE(n.applied() == offset_t{6});
    CHECK(n.compact(snapshot_id{offset_t{7}, term_t{1}}, 1).error() == errc::snapshot_out_of_range);
    CHECK(n.compact(snapshot_id{offset_t{0}, term_t{0}}, 1).error() == errc::snapshot_out_of_range);
    CHECK(n.compact(snapshot_id{offset_t{4}, term_t{2}}, 1).error() ==
          errc::snapshot_term_mismatch);
    CHECK(n.compact(snapshot_id{offset_t{4}, term_t{1}}, -1).error() ==
          errc::snapshot_out_of_range);
    CHECK(n.compact(snapshot_id{offset_t{4}, term_t{1}}, 1).has_value());
    CHECK(n.compact(snapshot_id{offset_t{5}, term_t{1}}, 1).error() == errc::snapshot_pending);
    ready rd = n.get_ready();
    REQUIRE(rd.snap.has_value());
    CHECK_FALSE(rd.restore_snapshot);
    CHECK(rd.snap->id == snapshot_id{offset_t{4}, term_t{1}});
    CHECK(rd.snap->voters == std::vector<node_id_t>{n1});
    d.persist(rd);
    n.advance(rd);
    CHECK(n.log().start() == offset_t{4});
    // A restart from the disk resumes after the snapshot.
    node again(make_config(n1, {n1}), d.state);
    CHECK(again.log().start() == offset_t{4});
    CHECK(again.log().end() == offset_t{6});
    CHECK(again.high_watermark() == offset_t{6});
    CHECK(again.applied() == offset_t{4});
}

TEST_CASE("a restart whose commit point lies past its log's end starts at the log's end") {
    // The hard state and the log are separate writes: the hard state (commit 5) reached the disk
    // and the log's tail did not (2 entries survive).
    persisted_state s;
    s.hard = hard_state{term_t{1}, n1, offset_t{5}};
    s.entries = {entry{term_t{1}, entry_kind::data, "a", {}},
                 entry{term_t{1}, entry_kind::data, "b", {}}};
    node n(make_config(n2, {n1, n2, n3}), s);
    CHECK(n.high_watermark() == offset_t{2});
    CHECK(n.log().end() == offset_t{2});
    // What survives is handed out to apply; the rest comes from the leader.
    disk d;
    d.state = s;
    REQUIRE(n.has_ready());
    ready rd = n.get_ready();
    CHECK(rd.committed.size() == 2);
    n.advance(rd);
    n.step(message{n1, n2,
                   fetch_response{term_t{1},
                                  n1,
                                  fetch_error::none,
                                  offset_t{2},
                                  term_t{1},
                                  offset_t{3},
                                  {entry{term_t{1}, entry_kind::data, "c", {}}},
                                  std::nullopt,
                                  std::nullopt}});
    drain(n, d);
    CHECK(n.high_watermark() == offset_t{3});
}

TEST_CASE("a late 'no such snapshot' about an earlier snapshot leaves the download alone") {
    disk d;
    node n(make_config(n2, {n1, n2, n3}), {});
    const snapshot_id a{offset_t{4}, term_t{1}};
    const snapshot_id b{offset_t{8}, term_t{1}};
    // The leader says: fetch snapshot B.
    n.step(fetch_snapshot_told(b));
    const auto asked = find<fetch_snapshot_request>(drain(n, d), n1);
    REQUIRE(asked.has_value());
    CHECK(asked->id == b);
    // A late answer about snapshot A (which the leader dropped long ago) arrives.
    fetch_snapshot_response gone{term_t{1}, n1, a, false};
    n.step(message{n1, n2, gone});
    drain(n, d);
    // B's first and only chunk still installs it.
    fetch_snapshot_response chunk{term_t{1}, n1, b, true, 0, 3, {n1, n2, n3}, "abc"};
    n.step(message{n1, n2, chunk});
    REQUIRE(n.has_ready());
    ready rd = n.get_ready();
    REQUIRE(rd.snap_chunk.has_value());
    CHECK(rd.snap_chunk->position == 0);
    CHECK(rd.snap_chunk->bytes == "abc");
    REQUIRE(rd.snap_received.has_value());
    CHECK(rd.snap_received->id == b);
    CHECK_FALSE(rd.snap.has_value());  // not before the file received is checked
    d.persist(rd);
    n.advance(rd);
    n.snapshot_checked(b, true);
    rd = n.get_ready();
    CHECK(rd.restore_snapshot);
    REQUIRE(rd.snap.has_value());
    CHECK(rd.snap->id == b);
    CHECK(rd.snap->size_bytes == 3);
    d.persist(rd);
    n.advance(rd);
    CHECK(n.high_watermark() == offset_t{8});
}

TEST_CASE("'no such snapshot' about the one being downloaded starts over") {
    disk d;
    node n(make_config(n2, {n1, n2, n3}), {});
    const snapshot_id b{offset_t{8}, term_t{1}};
    n.step(fetch_snapshot_told(b));
    drain(n, d);
    // The leader replaced B: the download is dropped, so a chunk of B arriving later is not
    // taken; the next fetch learns the new snapshot.
    n.step(message{n1, n2, fetch_snapshot_response{term_t{1}, n1, b, false}});
    drain(n, d);
    n.step(message{n1, n2,
                   fetch_snapshot_response{term_t{1}, n1, b, true, 0, 3, {n1, n2, n3}, "abc"}});
    drain(n, d);
    CHECK_FALSE(d.state.snap.has_value());
    CHECK(n.high_watermark() == offset_t{0});
}

TEST_CASE("a snapshot downloads in chunks that go to the readies, never into the core") {
    disk d;
    node n(make_config(n2, {n1, n2, n3}), {});
    const snapshot_id b{offset_t{8}, term_t{1}};
    n.step(fetch_snapshot_told(b));
    drain(n, d);
    const std::vector<node_id_t> voters{n1, n2, n3};
    auto chunk = [&](int64_t at, int64_t size, std::string bytes) {
        n.step(message{
            n1, n2,
            fetch_snapshot_response{term_t{1}, n1, b, true, at, size, voters, std::move(bytes)}});
    };
    chunk(0, 6, "ab");
    REQUIRE(n.has_ready());
    ready rd = n.get_ready();
    REQUIRE(rd.snap_chunk.has_value());
    CHECK(rd.snap_chunk->bytes == "ab");
    CHECK_FALSE(rd.snap.has_value());
    auto asked = find<fetch_snapshot_request>(rd.messages, n1);
    REQUIRE(asked.has_value());
    CHECK(asked->position_bytes == 2);
    d.persist(rd);
    n.advance(rd);
    // A duplicate of the first chunk is ignored; the next one continues the file.
    chunk(0, 6, "ab");
    CHECK_FALSE(find<fetch_snapshot_request>(drain(n, d), n1).has_value());
    chunk(2, 6, "cd");
    drain(n, d);
    CHECK(d.received == "abcd");
    CHECK(n.messages_invalid() == 0);
    // A chunk that says the same snapshot has another size is a broken leader: the download is
    // dropped and the next fetch asks the leader again, which starts it over from the first byte.
    chunk(4, 7, "efg");
    const auto fetch = find<fetch_request>(drain(n, d), n1);
    CHECK(n.messages_invalid() == 1);
    REQUIRE(fetch.has_value());
    CHECK(fetch->fetch_offset == offset_t{0});
    n.step(fetch_snapshot_told(b));
    asked = find<fetch_snapshot_request>(drain(n, d), n1);
    REQUIRE(asked.has_value());
    CHECK(asked->position_bytes == 0);
    chunk(0, 6, "abc");
    chunk(3, 6, "def");  // two chunks before a ready: they go out as one write
    rd = n.get_ready();
    REQUIRE(rd.snap_chunk.has_value());
    CHECK(rd.snap_chunk->position == 0);
    CHECK(rd.snap_chunk->bytes == "abcdef");
    REQUIRE(rd.snap_received.has_value());
    d.persist(rd);
    n.advance(rd);
    // The file received does not check (damaged on its way): nothing is installed, the
    // download is counted invalid and starts over with the next fetch.
    n.snapshot_checked(b, false);
    CHECK(n.messages_invalid() == 2);
    const auto again = find<fetch_request>(drain(n, d), n1);
    REQUIRE(again.has_value());
    CHECK_FALSE(d.state.snap.has_value());
    CHECK(n.high_watermark() == offset_t{0});
    n.step(fetch_snapshot_told(b));
    drain(n, d);
    chunk(0, 6, "abcdef");
    n.snapshot_checked(b, true);  // before its check was asked for: not this download's answer
    rd = n.get_ready();
    CHECK_FALSE(rd.snap.has_value());
    REQUIRE(rd.snap_received.has_value());
    CHECK(rd.snap_received->size_bytes == 6);
    CHECK(rd.snap_received->voters == voters);
    d.persist(rd);
    n.advance(rd);
    CHECK(d.received == "abcdef");
    n.snapshot_checked(snapshot_id{offset_t{9}, term_t{1}}, true);  // another download's: ignored
    CHECK_FALSE(n.has_ready());
    n.snapshot_checked(b, true);
    rd = n.get_ready();
    REQUIRE(rd.snap.has_value());
    CHECK(rd.restore_snapshot);
    CHECK(rd.snap->voters == voters);
    d.persist(rd);
    n.advance(rd);
    CHECK(n.high_watermark() == offset_t{8});
}

TEST_CASE("a leader's snapshot chunk names what to send; the bytes come from its file") {
    disk d;
    node n(make_config(n1, {n1, n2, n3}), {});
    elect(n, d);
    drain(n, d);
    for (int i = 0; i < 3; ++i) {
        REQUIRE(n.propose("e").has_value());
    }
    drain(n, d);
    n.step(message{n2, n1, fetch_request{n.term(), offset_t{4}, n.term(), offset_t{0}}});
    drain(n, d);
    REQUIRE(n.applied() == offset_t{4});
    const snapshot_id id{offset_t{4}, n.term()};
    REQUIRE(n.compact(id, 5000).has_value());
    drain(n, d);
    n.step(message{n3, n1, fetch_snapshot_request{n.term(), id, 1000}});
    auto answer = find<fetch_snapshot_response>(drain(n, d), n3);
    REQUIRE(answer.has_value());
    CHECK(answer->found);
    CHECK(answer->position_bytes == 1000);
    CHECK(answer->size_bytes == 5000);
    CHECK(answer->chunk.empty());
    // Past the end of the file: not this snapshot.
    n.step(message{n3, n1, fetch_snapshot_request{n.term(), id, 5001}});
    answer = find<fetch_snapshot_response>(drain(n, d), n3);
    REQUIRE(answer.has_value());
    CHECK_FALSE(answer->found);
}

namespace {

// A follower of n1 at term 2 whose log holds three entries of term 1, two of them committed.
persisted_state committed_state() {
    persisted_state s;
    s.hard = hard_state{term_t{2}, n1, offset_t{2}};
    s.entries = {entry{term_t{1}, entry_kind::data, "a", {}},
                 entry{term_t{1}, entry_kind::data, "b", {}},
                 entry{term_t{1}, entry_kind::data, "c", {}}};
    return s;
}

struct committed_follower {
    disk d{{committed_state()}};
    node n{make_config(n2, {n1, n2, n3}), d.state};
    committed_follower() { drain(n, d); }
};

entry data_entry(int64_t term) {
    return entry{term_t{term}, entry_kind::data, "x", {}};
}

fetch_response answer(int64_t term, int64_t offset, int64_t epoch, std::vector<entry> entries) {
    return fetch_response{term_t{term},  n1,          fetch_error::none,  offset_t{offset},
                          term_t{epoch}, offset_t{0}, std::move(entries), std::nullopt,
                          std::nullopt};
}

}  // namespace

TEST_CASE("a message that can not be right is dropped and counted, never trusted") {
    struct bad {
        const char* what;
        message m;
    };
    fetch_response both = answer(2, 3, 1, {data_entry(2)});
    both.diverging = epoch_end{term_t{1}, offset_t{3}};
    fetch_response unknown_kind = answer(2, 3, 1, {data_entry(2)});
    unknown_kind.entries[0].kind = static_cast<entry_kind>(7);
    fetch_response unknown_error = answer(2, 3, 1, {});
    unknown_error.error = static_cast<fetch_error>(9);
    const snapshot_id snap{offset_t{8}, term_t{1}};
    const std::vector<bad> cases = {
        {"entry of term 0", message{n1, n2, answer(2, 3, 1, {data_entry(0)})}},
        {"falling entry terms", message{n1, n2, answer(3, 3, 1, {data_entry(3), data_entry(2)})}},
        {"entry term above the message's", message{n1, n2, answer(2, 3, 1, {data_entry(5)})}},
        {"entry term below the last fetched epoch",
         message{n1, n2, answer(2, 3, 2, {data_entry(1)})}},
        {"entries and a diverging epoch", message{n1, n2, both}},
        {"unknown entry kind", message{n1, n2, unknown_kind}},
        {"unknown fetch error", message{n1, n2, unknown_error}},
        {"voters entry unsorted",
         message{n1, n2, answer(2, 3, 1, {entry{term_t{2}, entry_kind::voters, "", {n3, n1}}})}},
        {"negative fetch offset",
         message{n3, n2, fetch_request{term_t{2}, offset_t{-1}, term_t{0}}}},
        {"epoch at offset 0", message{n3, n2, vote_request{term_t{9}, offset_t{0}, term_t{1}}}},
        {"epoch above the term", message{n3, n2, vote_request{term_t{3}, offset_t{4}, term_t{4}}}},
        {"negative term", message{n3, n2, pre_vote_response{term_t{-1}, true, no_node}}},
        {"sender is no node", message{node_id_t{-5}, n2, begin_epoch{term_t{2}}}},
        {"begin epoch at term 0", message{n1, n2, begin_epoch{term_t{0}}}},
        {"a term no log reaches", message{n1, n2, begin_epoch{term_t{INT64_MAX}}}},
        {"an offset no log reaches",
         message{n3, n2, fetch_request{term_t{2}, offset_t{INT64_MAX}, term_t{1}}}},
        {"snapshot id of term 0",
         message{n3, n2, fetch_snapshot_request{term_t{2}, snapshot_id{offset_t{4}, term_t{0}}}}},
        {"chunk past the snapshot's size",
         message{n1, n2,
                 fetch_snapshot_response{term_t{2}, n1, snap, true, 2, 4, {n1, n2, n3}, "abc"}}},
        {"snapshot voters with a duplicate",
         message{n1, n2,
                 fetch_snapshot_response{term_t{2}, n1, snap, true, 0, 3, {n1, n1, n3}, "abc"}}},
        {"snapshot voters empty",
         message{n1, n2, fetch_snapshot_response{term_t{2}, n1, snap, true, 0, 3, {}, "abc"}}},
    };
    for (const bad& b : cases) {
        CAPTURE(b.what);
        CHECK(invalid_reason(b.m, 9).has_value());
        committed_follower f;
        node& n = f.n;
        n.step(b.m);
        CHECK(n.messages_invalid() == 1);
        CHECK(n.term() == term_t{2});
        CHECK(n.log().end() == offset_t{3});
        CHECK(n.high_watermark() == offset_t{2});
        CHECK(drain(n, f.d).empty());
    }
    // The same shapes, right, are taken.
    committed_follower f;
    node& n = f.n;
    n.step(message{n1, n2, answer(2, 3, 1, {data_entry(2)})});
    CHECK(n.messages_invalid() == 0);
    CHECK(n.log().end() == offset_t{4});
}

TEST_CASE("a leader that would cut committed entries is ignored") {
    SUBCASE("a diverging epoch below the commit point") {
        committed_follower f;
        node& n = f.n;
        fetch_response r = answer(2, 3, 1, {});
        r.diverging = epoch_end{term_t{0}, offset_t{0}};
        n.step(message{n1, n2, r});
        CHECK(n.messages_invalid() == 1);
        CHECK(n.log().end() == offset_t{3});
    }
    SUBCASE("entries that differ below the commit point") {
        committed_follower f;
        node& n = f.n;
        n.step(message{n1, n2, answer(2, 1, 1, {data_entry(2)})});
        CHECK(n.messages_invalid() == 1);
        CHECK(n.log().end() == offset_t{3});
        CHECK(n.log().term_at(offset_t{1}) == term_t{1});
    }
}

TEST_CASE("a second leader of the same term is ignored by the leader") {
    disk d;
    node n(make_config(n1, {n1, n2, n3}), {});
    elect(n, d);
    drain(n, d);
    const term_t t = n.term();
    const snapshot_id snap{offset_t{8}, t};
    n.step(message{n3, n1, begin_epoch{t}});
    n.step(message{n3, n1,
                   fetch_response{t,
                                  n3,
                                  fetch_error::none,
                                  offset_t{0},
                                  term_t{0},
                                  offset_t{0},
                                  {},
                                  std::nullopt,
                                  std::nullopt}});
    n.step(message{n3, n1, fetch_snapshot_response{t, n3, snap, true, 0, 3, {n1, n2, n3}, "abc"}});
    CHECK(n.messages_invalid() == 3);
    CHECK(n.current_role() == role::leader);
    CHECK(n.term() == t);
}

TEST_CASE("readies tell every change of leadership") {
    disk d;
    node n(make_config(n1, {n1, n2, n3}), {});
    CHECK(n.current_leadership() == leadership{term_t{0}, no_node, role::follower});
    n.campaign();
    REQUIRE(n.has_ready());
    ready rd = n.get_ready();
    REQUIRE(rd.leader.has_value());
    CHECK(*rd.leader == leadership{term_t{0}, no_node, role::pre_candidate});
    d.persist(rd);
    n.advance(rd);
    n.step(message{n2, n1, pre_vote_response{term_t{1}, true, no_node}});
    n.step(message{n2, n1, vote_response{term_t{1}, true, no_node}});
    rd = n.get_ready();
    REQUIRE(rd.leader.has_value());
    CHECK(*rd.leader == leadership{term_t{1}, n1, role::leader});
    d.persist(rd);
    n.advance(rd);
    // Nothing changed: no leadership in the next ready.
    n.tick();
    if (n.has_ready()) {
        rd = n.get_ready();
        CHECK_FALSE(rd.leader.has_value());
        d.persist(rd);
        n.advance(rd);
    }
    // Deposed by a newer leader.
    n.step(message{n3, n1, begin_epoch{term_t{2}}});
    rd = n.get_ready();
    REQUIRE(rd.leader.has_value());
    CHECK(*rd.leader == leadership{term_t{2}, n3, role::follower});
}

TEST_CASE("a proposal overwritten by a new leader: another term commits at its offset") {
    disk d;
    node n(make_config(n1, {n1, n2, n3}), {});
    elect(n, d);
    drain(n, d);  // the leader_change entry at offset 0, term 1
    auto p = n.propose("mine");
    REQUIRE(p.has_value());
    CHECK(p.value() == proposal{offset_t{1}, term_t{1}});
    drain(n, d);
    // n2 leads term 2 with a log that holds only offset 0; n1 fetches from it.
    n.step(message{n2, n1, begin_epoch{term_t{2}}});
    drain(n, d);
    std::vector<ready> seen;
    auto take = [&] {
        while (n.has_ready()) {
            ready rd = n.get_ready();
            d.persist(rd);
            n.advance(rd);
            seen.push_back(std::move(rd));
        }
    };
    fetch_response diverged{term_t{2},
                            n2,
                            fetch_error::none,
                            offset_t{2},
                            term_t{1},
                            offset_t{1},
                            {},
                            epoch_end{term_t{1}, offset_t{1}},
                            std::nullopt};
    n.step(message{n2, n1, diverged});
    take();
    fetch_response theirs{term_t{2},
                          n2,
                          fetch_error::none,
                          offset_t{1},
                          term_t{1},
                          offset_t{3},
                          {entry{term_t{2}, entry_kind::leader_change, "", {}},
                           entry{term_t{2}, entry_kind::data, "theirs", {}}},
                          std::nullopt,
                          std::nullopt};
    n.step(message{n2, n1, theirs});
    take();
    bool truncated = false;
    std::optional<term_t> committed_term;
    for (const ready& rd : seen) {
        truncated = truncated || (rd.truncate_to && *rd.truncate_to <= p.value().offset);
        const offset_t o = p.value().offset;
        if (rd.committed_offset <= o &&
            o < rd.committed_offset + static_cast<int64_t>(rd.committed.size())) {
            committed_term = rd.committed[static_cast<size_t>((o - rd.committed_offset))].term;
        }
    }
    CHECK(truncated);  // a hint only: a truncated proposal may still commit elsewhere
    REQUIRE(committed_term.has_value());
    CHECK(*committed_term != p.value().term);  // this decides: not written
}

TEST_CASE("a hard state never vouches for entries its own ready replaces") {
    // Durable: four entries of term 1, two committed; the last two are a deposed leader's
    // uncommitted tail. The leader of term 2 has compacted past them and sends its snapshot.
    disk d;
    d.state.hard = hard_state{term_t{2}, n1, offset_t{2}};
    d.state.entries = {data_entry(1), data_entry(1), data_entry(1), data_entry(1)};
    node n(make_config(n2, {n1, n2, n3}), d.state);
    drain(n, d);
    const snapshot_id b{offset_t{8}, term_t{2}};
    n.step(message{n1, n2,
                   fetch_response{term_t{2},
                                  n1,
                                  fetch_error::none,
                                  offset_t{4},
                                  term_t{1},
                                  offset_t{8},
                                  {},
                                  std::nullopt,
                                  b}});
    drain(n, d);
    n.step(message{n1, n2,
                   fetch_snapshot_response{term_t{2}, n1, b, true, 0, 3, {n1, n2, n3}, "abc"}});
    REQUIRE(n.has_ready());
    ready rd = n.get_ready();
    REQUIRE(rd.snap_received.has_value());
    d.persist(rd);
    n.advance(rd);
    n.snapshot_checked(b, true);
    rd = n.get_ready();
    REQUIRE(rd.snap.has_value());
    CHECK(rd.restore_snapshot);
    // The hard state written with the snapshot does not pass the old commit point: if it lands
    // and the snapshot does not (separate files), a restart must not take c1 and d1 as committed.
    const offset_t written = rd.hard ? rd.hard->commit : d.state.hard.commit;
    CHECK(written <= offset_t{2});
    persisted_state torn = d.state;  // the old log...
    if (rd.hard) {
        torn.hard = *rd.hard;  // ...with the new hard state
    }
    node after_crash(make_config(n2, {n1, n2, n3}), torn);
    CHECK(after_crash.high_watermark() <= offset_t{2});
    // Once the snapshot is durable, the next hard state records its end.
    d.persist(rd);
    n.advance(rd);
    drain(n, d);
    CHECK(d.state.hard.commit == offset_t{8});
}

TEST_CASE("grants from nodes outside the voter set never count") {
    disk d;
    node n(make_config(n1, {n1, n2, n3}), {});
    n.campaign();
    drain(n, d);
    for (int id = 4; id < 200; ++id) {
        n.step(message{node_id_t{id}, n1, pre_vote_response{term_t{1}, true, no_node}});
    }
    CHECK(n.current_role() == role::pre_candidate);  // 196 grants, none from a voter
    n.step(message{n2, n1, pre_vote_response{term_t{1}, true, no_node}});
    drain(n, d);
    REQUIRE(n.current_role() == role::candidate);
    for (int id = 4; id < 200; ++id) {
        n.step(message{node_id_t{id}, n1, vote_response{n.term(), true, no_node}});
    }
    CHECK(n.current_role() == role::candidate);
    n.step(message{n3, n1, vote_response{n.term(), true, no_node}});
    CHECK(n.current_role() == role::leader);
}
