// The consumer group state machine (group.h) and its records (group_records.h), without I/O.
#include <doctest/doctest.h>

#include "sluice/group/group.h"
#include "sluice/group/group_records.h"
#include "sluice/protocol/record_batch.h"

using namespace sluice;
using namespace sluice::broker;
using namespace sluice::broker::groups;

namespace {

bytes_view bytes_of(std::string_view s) {
    return sluice::as_bytes(s);
}

join_group_request joiner(std::string member_id, std::string protocol = "range",
                          std::optional<std::string> instance = std::nullopt) {
    join_group_request r;
    r.group_id = "g";
    r.member_id = std::move(member_id);
    r.instance_id = std::move(instance);
    r.client_id = "c";
    r.session_timeout_ms = 10000;
    r.rebalance_timeout_ms = 30000;
    r.protocol_type = "consumer";
    r.protocols.push_back(group_protocol{protocol, "meta-" + protocol});
    return r;
}

struct fixture {
    group_limits limits{6000, 60000, 100, 1000};
    group g{"g", limits};
    uint64_t token = 1;

    // Joins new members at times 0, 10, 20...; returns their ids once the rebalance completes.
    std::vector<std::string> form(int n, int64_t start = 0) {
        group_effects fx;
        for (int i = 0; i < n; ++i) {
            auto res = g.join(joiner(""), token++, "m" + std::to_string(i), start + i * 10, fx);
            REQUIRE_FALSE(res.has_value());
        }
        g.tick(start + 10 * n + 200, fx);
        REQUIRE(fx.joins.size() == size_t(n));
        std::vector<std::string> ids;
        for (auto& [t, r] : fx.joins) {
            REQUIRE(r.error == errc::none);
            ids.push_back(r.member_id);
        }
        REQUIRE(g.state() == group_state::completing_rebalance);
        return ids;
    }

    // The leader assigns "a-<id>" to every member; the record is written.
    void assign(int64_t now) {
        group_effects fx;
        sync_group_request s;
        s.group_id = "g";
        s.generation = g.generation();
        s.member_id = g.leader();
        for (const auto& [id, m] : g.members()) {
            s.assignments.push_back(member_assignment{id, "a-" + id});
        }
        auto res = g.sync(s, token++, now, fx);
        REQUIRE_FALSE(res.has_value());
        REQUIRE(fx.write_metadata);
        g.metadata_written(g.generation(), true, now, fx);
        REQUIRE(g.state() == group_state::stable);
    }
};

}  // namespace

TEST_CASE("group: members that join within the initial delay share one rebalance") {
    fixture f;
    group_effects fx;
    CHECK_FALSE(f.g.join(joiner(""), 1, "m0", 0, fx).has_value());
    CHECK(f.g.state() == group_state::preparing_rebalance);
    CHECK_FALSE(f.g.join(joiner(""), 2, "m1", 50, fx).has_value());
    f.g.tick(100, fx);  // the second member moved the end of the delay to 150
    CHECK(fx.joins.empty());
    f.g.tick(150, fx);
    REQUIRE(fx.joins.size() == 2);
    CHECK(f.g.generation() == 1);
    CHECK(f.g.protocol_name() == "range");
    for (auto& [t, r] : fx.joins) {
        CHECK(r.generation == 1);
        CHECK(r.leader == "m0");
        // Only the leader hears of the members and their metadata.
        CHECK(r.members.size() == (r.member_id == "m0" ? 2u : 0u));
    }
}

TEST_CASE("group: the leader's assignment reaches each member once written") {
    fixture f;
    auto ids = f.form(3);
    group_effects fx;
    // Followers sync first and wait.
    for (const auto& id : ids) {
        if (id == f.g.leader()) {
            continue;
        }
        sync_group_request s{"g", f.g.generation(), id, std::nullopt, "", "", {}};
        CHECK_FALSE(f.g.sync(s, 100 + f.token++, 300, fx).has_value());
    }
    sync_group_request lead{"g", f.g.generation(), f.g.leader(), std::nullopt, "", "", {}};
    for (const auto& id : ids) {
        lead.assignments.push_back(member_assignment{id, "a-" + id});
    }
    CHECK_FALSE(f.g.sync(lead, 999, 300, fx).has_value());
    CHECK(fx.write_metadata);
    CHECK(fx.syncs.empty());
    // The record holds the assignments before they take effect.
    auto rec = f.g.metadata_record();
    CHECK(rec.members.size() == 3);
    CHECK(rec.members[1].assignment == "a-" + rec.members[1].id);
    CHECK(f.g.state() == group_state::completing_rebalance);
    f.g.metadata_written(f.g.generation(), true, 310, fx);
    CHECK(f.g.state() == group_state::stable);
    REQUIRE(fx.syncs.size() == 3);
    for (auto& [t, r] : fx.syncs) {
        CHECK(r.error == errc::none);
        CHECK(r.assignment.rfind("a-m", 0) == 0);
    }
}

TEST_CASE("group: a failed write of the assignment starts the rebalance over") {
    fixture f;
    f.form(2);
    group_effects fx;
    sync_group_request lead{"g", f.g.generation(), f.g.leader(), std::nullopt, "", "", {}};
    CHECK_FALSE(f.g.sync(lead, 50, 300, fx).has_value());
    f.g.metadata_written(f.g.generation(), false, 310, fx);
    CHECK(f.g.state() == group_state::preparing_rebalance);
    REQUIRE(fx.syncs.size() == 1);
    CHECK(fx.syncs[0].second.error == errc::rebalance_in_progress);
}

TEST_CASE("group: stale generations and unknown members are refused") {
    fixture f;
    auto ids = f.form(2);
    f.assign(300);
    const int32_t gen = f.g.generation();
    CHECK(f.g.heartbeat({"g", gen, ids[0], std::nullopt}, 400).error == errc::none);
    CHECK(f.g.heartbeat({"g", gen - 1, ids[0], std::nullopt}, 400).error ==
          errc::illegal_generation);
    CHECK(f.g.heartbeat({"g", gen, "nobody", std::nullopt}, 400).error == errc::unknown_member_id);
    offset_commit_request c{"g", gen, ids[1], std::nullopt, {}};
    CHECK(f.g.check_commit(c, 400).error == errc::none);
    c.generation = gen - 1;
    CHECK(f.g.check_commit(c, 400).error == errc::illegal_generation);
    // From outside the group while it has members: refused.
    offset_commit_request outside{"g", -1, "", std::nullopt, {}};
    CHECK(f.g.check_commit(outside, 400).error == errc::unknown_member_id);
    CHECK(f.g.check_delete().error == errc::non_empty_group);
}

TEST_CASE("group: a member whose session ends is out, and the others rejoin without it") {
    fixture f;
    auto ids = f.form(3);
    f.assign(300);
    const int32_t gen = f.g.generation();
    group_effects fx;
    // Two members heartbeat; the third goes silent.
    for (int64_t t = 1000; t <= 10300; t += 1000) {
        CHECK(f.g.heartbeat({"g", gen, ids[0], std::nullopt}, t).error == errc::none);
        CHECK(f.g.heartbeat({"g", gen, ids[1], std::nullopt}, t).error == errc::none);
        f.g.tick(t, fx);
    }
    f.g.tick(10301, fx);
    CHECK(f.g.state() == group_state::preparing_rebalance);
    CHECK(f.g.members().size() == 2);
    // Its commits are refused from now on; the others are told to rejoin.
    CHECK(f.g.check_commit({"g", gen, ids[2], std::nullopt, {}}, 10302).error ==
          errc::unknown_member_id);
    CHECK(f.g.heartbeat({"g", gen, ids[0], std::nullopt}, 10302).error ==
          errc::rebalance_in_progress);
    CHECK_FALSE(f.g.join(joiner(ids[0]), 70, "x", 10303, fx).has_value());
    CHECK_FALSE(f.g.join(joiner(ids[1]), 71, "x", 10304, fx).has_value());
    REQUIRE(fx.joins.size() == 2);
    CHECK(f.g.generation() == gen + 1);
    CHECK(f.g.state() == group_state::completing_rebalance);
}

TEST_CASE("group: a member waiting in SyncGroup for a slow leader keeps its place") {
    fixture f;
    auto ids = f.form(2);  // sessions of 10 s
    const int32_t gen = f.g.generation();
    const std::string follower = ids[0] == f.g.leader() ? ids[1] : ids[0];
    group_effects fx;
    sync_group_request s{"g", gen, follower, std::nullopt, "", "", {}};
    CHECK_FALSE(f.g.sync(s, 500, 300, fx).has_value());
    // The leader heartbeats but takes 12 s to assign: longer than the follower's session.
    for (int64_t t = 4000; t <= 12000; t += 4000) {
        CHECK(f.g.heartbeat({"g", gen, f.g.leader(), std::nullopt}, t).error == errc::none);
        f.g.tick(t, fx);
    }
    CHECK(f.g.state() == group_state::completing_rebalance);
    CHECK(f.g.members().size() == 2);
    REQUIRE(fx.syncs.empty());
    sync_group_request lead{"g", gen, f.g.leader(), std::nullopt, "", "", {}};
    for (const auto& id : ids) {
        lead.assignments.push_back(member_assignment{id, "a-" + id});
    }
    CHECK_FALSE(f.g.sync(lead, 501, 12100, fx).has_value());
    f.g.metadata_written(gen, true, 12100, fx);
    REQUIRE(fx.syncs.size() == 2);
    for (auto& [t, r] : fx.syncs) {
        CHECK(r.error == errc::none);
        if (t == 500) {
            CHECK(r.assignment == "a-" + follower);
        }
    }
    CHECK(f.g.generation() == gen);
    // Answered, its session starts again then: alive until 12100 + 10000.
    f.g.tick(22099, fx);
    CHECK(f.g.members().size() == 2);
}

TEST_CASE("group: a member that does not rejoin within the rebalance timeout is dropped") {
    fixture f;
    auto ids = f.form(2);
    f.assign(300);
    group_effects fx;
    CHECK(f.g.leave({ids[0], std::nullopt, "bye"}, 400, fx).error == errc::none);
    CHECK(f.g.state() == group_state::preparing_rebalance);
    // Nobody rejoins; at the rebalance timeout the group is empty.
    f.g.tick(400 + 29999, fx);
    CHECK(f.g.state() == group_state::preparing_rebalance);
    f.g.tick(400 + 30000, fx);
    CHECK(f.g.state() == group_state::empty);
    CHECK(fx.write_metadata);
    CHECK(f.g.check_delete().error == errc::none);
}

TEST_CASE("group: a static member back within its session keeps its assignment") {
    fixture f;
    group_effects fx;
    CHECK_FALSE(f.g.join(joiner("", "range", "host-a"), 1, "a1", 0, fx).has_value());
    CHECK_FALSE(f.g.join(joiner("", "range", "host-b"), 2, "b1", 5, fx).has_value());
    f.g.tick(200, fx);
    REQUIRE(fx.joins.size() == 2);
    f.assign(300);
    const int32_t gen = f.g.generation();
    fx = {};
    // host-b restarts: a new process joins with no member id and the same instance id.
    auto res = f.g.join(joiner("", "range", "host-b"), 3, "b2", 400, fx);
    REQUIRE(res.has_value());
    CHECK(res->error == errc::none);
    CHECK(res->member_id == "b2");
    CHECK(res->generation == gen);
    CHECK(f.g.state() == group_state::stable);
    CHECK(fx.write_metadata);  // the record names the new member id
    // The old process is fenced; the new one gets the old assignment.
    CHECK(f.g.heartbeat({"g", gen, "b1", std::string("host-b")}, 401).error ==
          errc::fenced_instance_id);
    auto s = f.g.sync({"g", gen, "b2", std::string("host-b"), "", "", {}}, 4, 402, fx);
    REQUIRE(s.has_value());
    CHECK(s->assignment == "a-b1");
    // The other member saw nothing.
    CHECK(f.g.heartbeat({"g", gen, "a1", std::string("host-a")}, 403).error == errc::none);
}

TEST_CASE("group: joins that share no protocol, or bad session timeouts, are refused") {
    fixture f;
    f.form(1);
    group_effects fx;
    auto r = f.g.join(joiner("", "roundrobin"), 9, "x", 300, fx);
    REQUIRE(r.has_value());
    CHECK(r->error == errc::inconsistent_group_protocol);
    auto j = joiner("");
    j.session_timeout_ms = 100;
    r = f.g.join(j, 10, "y", 300, fx);
    REQUIRE(r.has_value());
    CHECK(r->error == errc::invalid_session_timeout);
}

TEST_CASE("group: protocol choice: the one most members prefer among those all support") {
    fixture f;
    group_effects fx;
    auto a = joiner("");
    a.protocols = {{"cooperative-sticky", "x"}, {"range", "y"}};
    auto b = joiner("");
    b.protocols = {{"range", "y"}, {"cooperative-sticky", "x"}};
    auto c = joiner("");
    c.protocols = {{"cooperative-sticky", "x"}, {"range", "y"}};
    f.g.join(a, 1, "a", 0, fx);
    f.g.join(b, 2, "b", 0, fx);
    f.g.join(c, 3, "c", 0, fx);
    f.g.tick(200, fx);
    CHECK(f.g.protocol_name() == "cooperative-sticky");
}

TEST_CASE("group: offsets expire once the group has been empty for the retention") {
    fixture f;
    group_effects fx;
    // A consumer group that emptied at t=1000.
    f.g.join(joiner(""), 1, "m0", 0, fx);
    f.g.tick(200, fx);
    f.g.commit({"t", 0, 5, -1, ""}, 300);
    f.g.leave({"m0", std::nullopt, ""}, 1000, fx);
    f.g.tick(1000 + 30000, fx);
    REQUIRE(f.g.state() == group_state::empty);
    const int64_t empty_since = f.g.state_ms();
    CHECK(f.g.expired_offsets(empty_since + 999, 1000).empty());
    CHECK(f.g.expired_offsets(empty_since + 1000, 1000).size() == 1);

    // Offsets committed from outside a group without members expire each by its commit time.
    group h("h", f.limits);
    h.commit({"t", 0, 5, -1, ""}, 100);
    h.commit({"t", 1, 6, -1, ""}, 500);
    auto due = h.expired_offsets(1100, 1000);
    REQUIRE(due.size() == 1);
    CHECK(due[0].partition == 0);
}

TEST_CASE("group: a loaded record restores a stable group with fresh sessions") {
    fixture f;
    auto ids = f.form(2);
    f.assign(300);
    f.g.commit({"t", 3, 42, 7, "m"}, 301);
    auto rec = decode_group_value(bytes_of(encode_group_value(f.g.metadata_record())));
    REQUIRE(rec.has_value());
    group loaded("g", f.limits);
    loaded.load(*rec, 50000);
    CHECK(loaded.state() == group_state::stable);
    CHECK(loaded.generation() == f.g.generation());
    CHECK(loaded.leader() == f.g.leader());
    REQUIRE(loaded.members().size() == 2);
    CHECK(loaded.members().at(ids[1]).assignment == "a-" + ids[1]);
    // Members carry on at their generation with the new coordinator.
    CHECK(loaded.heartbeat({"g", f.g.generation(), ids[0], std::nullopt}, 55000).error ==
          errc::none);
    group_effects fx;
    loaded.tick(59999, fx);
    CHECK(loaded.members().size() == 2);
    loaded.tick(60000, fx);  // ids[1] never heartbeat: its session began at the load
    CHECK(loaded.members().size() == 1);
}

TEST_CASE("group records: keys and values round-trip; damaged bytes read as nothing") {
    const auto key = offset_key("g1", {"orders", 7});
    auto k = decode_key(bytes_of(key));
    REQUIRE(k.has_value());
    CHECK(k->kind == record_kind::offset);
    CHECK(k->group_id == "g1");
    CHECK(k->tp == topic_partition_id{"orders", 7});
    auto gk = decode_key(bytes_of(group_key("g1")));
    REQUIRE(gk.has_value());
    CHECK(gk->kind == record_kind::group);
    // The same key always encodes to the same bytes (compaction relies on it).
    CHECK(offset_key("g1", {"orders", 7}) == key);
    for (size_t n = 0; n < key.size(); ++n) {
        CHECK_FALSE(decode_key(bytes_of(std::string_view(key).substr(0, n))).has_value());
    }
    CHECK_FALSE(decode_key(bytes_of(key + "x")).has_value());
    auto v = decode_offset_value(bytes_of(encode_offset_value({42, 3, "meta", 1234})));
    REQUIRE(v.has_value());
    CHECK(v->offset == 42);
    CHECK(v->leader_epoch == 3);
    CHECK(v->metadata == "meta");
    CHECK(v->commit_ms == 1234);
    CHECK_FALSE(decode_offset_value(bytes_of(std::string("garbage"))).has_value());
    CHECK_FALSE(decode_group_value(bytes_of(std::string(3, '\0'))).has_value());
}

TEST_CASE("group records: a group's partition is Kafka's (Java string hash)") {
    CHECK(partition_for("abc", 50) == 96354 % 50);
    // A negative hash: its absolute value, as Kafka's Utils.abs ("my-group" hashes to
    // -1906497762; clearing the sign bit instead would give 36).
    CHECK(partition_for("my-group", 50) == 12);
    CHECK(partition_for("anything", 50) == 4);  // -330473854
    CHECK(partition_for("anything", 1) == 0);
}

TEST_CASE("group: the generation starts again at 1 after the largest int32") {
    group_limits limits{6000, 60000, 0, 1000};
    group g("g", limits);
    group_record r;
    r.protocol_type = "consumer";
    r.protocol_name = "range";
    r.generation = 2147483647;
    r.leader = "m0";
    r.members.push_back({"m0", std::nullopt, "c", "h", 10000, 30000, "meta-range", "a"});
    g.load(r, 0);
    group_effects fx;
    // A new member: the group rebalances into the next generation.
    CHECK_FALSE(g.join(joiner(""), 1, "m1", 10, fx).has_value());
    CHECK_FALSE(g.join(joiner("m0"), 2, "x", 20, fx).has_value());
    REQUIRE(fx.joins.size() == 2);
    CHECK(g.generation() == 1);
}
