// The ISR and high-watermark bookkeeping of a leader (partition_state): directed cases, then a
// model of a leader, two followers and a controller run over many random schedules, checked
// against the replication invariants after every step.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <random>
#include <vector>

#include "sluice/core/partition_state.h"

using namespace sluice;
using namespace sluice::broker;
using namespace std::chrono_literals;

namespace {

using time_point = partition_state::time_point;
const node_id_t n0{0}, n1{1}, n2{2};

replica_assignment three(std::vector<node_id_t> isr, int32_t partition_epoch = 0,
                         int32_t min_insync = 2) {
    return {n0, {n0, n1, n2}, std::move(isr), partition_epoch, min_insync};
}

struct acks {
    std::vector<errc> results;
    partition_state::ack_callback callback() {
        return [this](errc e) { results.push_back(e); };
    }
};

}  // namespace

TEST_CASE("acks=all waits for every ISR member; acks=1 for the leader alone") {
    partition_state s(offset_t{10}, offset_t{10}, false);
    const time_point t0{};
    s.become_leader(three({n0, n1, n2}), t0);
    CHECK(s.high_watermark() == offset_t{10});
    s.appended(offset_t{15});
    acks one, all;
    s.wait_for_local(offset_t{15}, one.callback());
    REQUIRE(one.results.size() == 1);  // in page-cache mode the append is enough
    s.wait_for_hw(offset_t{15}, all.callback());
    CHECK(all.results.empty());
    s.follower_fetched(n1, offset_t{15}, t0 + 1ms);
    CHECK(s.high_watermark() == offset_t{10});  // n2 has not fetched from this leader
    CHECK(all.results.empty());
    s.follower_fetched(n2, offset_t{12}, t0 + 2ms);
    CHECK(s.high_watermark() == offset_t{12});
    s.follower_fetched(n2, offset_t{15}, t0 + 3ms);
    CHECK(s.high_watermark() == offset_t{15});
    REQUIRE(all.results.size() == 1);
    CHECK(all.results[0] == errc::none);
}

TEST_CASE("a lagging member is proposed for removal; min.insync.replicas then refuses acks=all") {
    partition_state s(offset_t{0}, offset_t{0}, false);
    const time_point t0{};
    s.become_leader(three({n0, n1, n2}, 4, 3), t0);
    CHECK(s.check_acks_all() == errc::none);
    s.appended(offset_t{5});
    acks all;
    s.wait_for_hw(offset_t{5}, all.callback());
    s.follower_fetched(n1, offset_t{5}, t0 + 50ms);
    CHECK_FALSE(s.propose_isr(t0 + 90ms, 100ms).has_value());  // nobody lags yet
    auto p = s.propose_isr(t0 + 150ms, 100ms);
    REQUIRE(p.has_value());
    CHECK(p->isr == std::vector<node_id_t>{n0, n1});
    CHECK(p->partition_epoch == 4);
    CHECK_FALSE(s.propose_isr(t0 + 160ms, 100ms).has_value());  // one at a time
    CHECK(s.high_watermark() == offset_t{0});  // n2 still counts until the change is committed
    s.update_assignment(three({n0, n1}, 5, 3), t0 + 170ms);
    CHECK_FALSE(s.isr_proposal_pending());
    CHECK(s.high_watermark() == offset_t{5});
    REQUIRE(all.results.size() == 1);
    CHECK(all.results[0] == errc::not_enough_replicas_after_append);
    CHECK(s.check_acks_all() == errc::not_enough_replicas);
}

TEST_CASE("a replica that caught up is proposed for the ISR and counts while it is pending") {
    partition_state s(offset_t{8}, offset_t{8}, false);
    const time_point t0{};
    s.become_leader(three({n0, n1}, 2), t0);
    s.follower_fetched(n2, offset_t{3}, t0 + 1ms);
    s.follower_fetched(n1, offset_t{8}, t0 + 1ms);
    CHECK_FALSE(s.propose_isr(t0 + 2ms, 100ms).has_value());  // n2 is below the high watermark
    s.follower_fetched(n2, offset_t{8}, t0 + 3ms);
    auto p = s.propose_isr(t0 + 4ms, 100ms);
    REQUIRE(p.has_value());
    CHECK(p->isr == std::vector<node_id_t>{n0, n1, n2});
    s.appended(offset_t{9});
    s.follower_fetched(n1, offset_t{9}, t0 + 5ms);
    CHECK(s.high_watermark() == offset_t{8});              // n2, pending, holds it back
    s.isr_proposal_failed(isr_proposal{{n0, n1, n2}, 1});  // not the one in flight
    CHECK(s.isr_proposal_pending());
    s.isr_proposal_failed(*p);
    CHECK(s.high_watermark() == offset_t{9});
    // A replica that stopped fetching keeps its last position, at the high watermark here, but
    // is not proposed once it has not been caught up for the lag.
    s.follower_fetched(n2, offset_t{9}, t0 + 6ms);
    s.follower_fetched(n1, offset_t{9}, t0 + 300ms);
    CHECK(s.high_watermark() == offset_t{9});
    CHECK_FALSE(s.propose_isr(t0 + 300ms, 100ms).has_value());
    CHECK(s.propose_isr(t0 + 300ms, 400ms).has_value());  // within a longer lag it would be
}

TEST_CASE("a member the controller takes out rejoins only after fetches of its own") {
    partition_state s(offset_t{0}, offset_t{0}, false);
    const time_point t0{};
    s.become_leader(three({n0, n1, n2}, 1), t0);
    s.appended(offset_t{8});
    s.follower_fetched(n1, offset_t{8}, t0 + 1ms);
    s.follower_fetched(n2, offset_t{8}, t0 + 1ms);
    // n2's broker restarted after a crash: the controller takes it out. Its position from before
    // does not bring it back, however recent.
    s.update_assignment(three({n0, n1}, 2), t0 + 2ms);
    CHECK_FALSE(s.propose_isr(t0 + 3ms, 100ms).has_value());
    s.follower_fetched(n2, offset_t{3}, t0 + 4ms);  // the new process starts behind
    CHECK_FALSE(s.propose_isr(t0 + 5ms, 100ms).has_value());
    s.follower_fetched(n2, offset_t{8}, t0 + 6ms);  // and catches up
    auto p = s.propose_isr(t0 + 7ms, 100ms);
    REQUIRE(p.has_value());
    CHECK(p->isr == std::vector<node_id_t>{n0, n1, n2});
}

TEST_CASE("fsync mode: the leader's own position is what it has fsynced") {
    partition_state s(offset_t{0}, offset_t{0}, true);
    const time_point t0{};
    s.become_leader(three({n0, n1}, 0, 1), t0);
    s.appended(offset_t{4});
    acks one;
    s.wait_for_local(offset_t{4}, one.callback());
    s.follower_fetched(n1, offset_t{4}, t0 + 1ms);
    CHECK(s.high_watermark() == offset_t{0});
    CHECK(one.results.empty());
    auto req = s.take_durable_request();
    REQUIRE(req.has_value());
    s.durable(*req);
    CHECK(one.results.size() == 1);
    CHECK(s.high_watermark() == offset_t{4});
}

TEST_CASE("losing leadership fails every wait; a follower's high watermark never goes back") {
    partition_state s(offset_t{20}, offset_t{20}, false);
    s.become_leader(three({n0, n1}), time_point{});
    s.appended(offset_t{25});
    acks all;
    s.wait_for_hw(offset_t{25}, all.callback());
    s.become_follower();
    REQUIRE(all.results.size() == 1);
    CHECK(all.results[0] == errc::not_leader_or_follower);
    s.leader_high_watermark(offset_t{18});  // a new leader that has not caught up yet
    CHECK(s.high_watermark() == offset_t{20});
    s.leader_high_watermark(offset_t{30});
    CHECK(s.high_watermark() == offset_t{25});  // capped at its own log end
    s.truncated(offset_t{22});
    CHECK(s.high_watermark() == offset_t{22});
    CHECK(s.log_end() == offset_t{22});
}

namespace {

// A leader (replica 0), two followers and a controller, driven by one random schedule.
struct model {
    std::mt19937_64 rng;
    partition_state s;
    bool fsync;
    int32_t min_insync;
    time_point now{};
    static constexpr auto lag_max = 100ms;
    // What each replica truly holds (index = replica id); followers copy the leader's log.
    std::array<offset_t, 3> held{};
    std::vector<node_id_t> committed_isr{n0, n1, n2};
    int32_t partition_epoch = 0;
    std::optional<std::pair<isr_proposal, time_point>> in_flight;  // at the controller
    // When each follower last fetched at the leader's log end.
    std::map<int32_t, time_point> at_end;
    offset_t last_hw{0};
    bool leading = true;
    struct wait {
        bool all;
        offset_t target;
        std::optional<errc> result;
    };
    std::vector<std::unique_ptr<wait>> waits;
    size_t refused_all = 0;

    model(uint64_t seed, bool fsync_mode, int32_t min_isr)
        : rng(seed),
          s(offset_t{0}, offset_t{0}, fsync_mode),
          fsync(fsync_mode),
          min_insync(min_isr) {
        s.become_leader(assignment(), now);
    }

    replica_assignment assignment() const {
        return {n0, {n0, n1, n2}, committed_isr, partition_epoch, min_insync};
    }
    size_t pick(size_t n) { return size_t(rng() % n); }

    bool in(const std::vector<node_id_t>& v, node_id_t id) const {
        return std::find(v.begin(), v.end(), id) != v.end();
    }

    void append() {
        const offset_t end = s.log_end() + int64_t(1 + pick(4));
        s.appended(end);
        held[0] = s.log_end();
        if (pick(2) == 0) {
            auto w = std::make_unique<wait>(wait{false, end, {}});
            auto* p = w.get();
            waits.push_back(std::move(w));
            s.wait_for_local(end, [this, p](errc e) { completed(*p, e); });
        } else if (s.check_acks_all() == errc::none) {
            auto w = std::make_unique<wait>(wait{true, end, {}});
            auto* p = w.get();
            waits.push_back(std::move(w));
            s.wait_for_hw(end, [this, p](errc e) { completed(*p, e); });
        } else {
            CHECK(committed_isr.size() < size_t(min_insync));
            ++refused_all;
        }
    }

    void completed(wait& w, errc e) {
        REQUIRE_FALSE(w.result.has_value());
        w.result = e;
        if (e == errc::not_leader_or_follower) {
            return;
        }
        if (!w.all) {
            CHECK(e == errc::none);
            CHECK(s.local_end() >= w.target);
            return;
        }
        // Acknowledged: every member of the ISR holds the batch.
        for (node_id_t m : committed_isr) {
            const offset_t has = m == n0 ? s.local_end() : held[size_t(m.value())];
            CHECK(has >= w.target);
        }
        CHECK(e == (committed_isr.size() >= size_t(min_insync)
                        ? errc::none
                        : errc::not_enough_replicas_after_append));
    }

    void fetch(node_id_t f, bool catch_up) {
        const offset_t from = held[size_t(f.value())];
        if (leading) {
            if (from >= s.log_end()) {
                at_end[f.value()] = now;
            }
            s.follower_fetched(f, from, now);
        }
        // The answer carries records up to the leader's log end; the follower appends some
        // or all (in fsync mode it fetches again once they are durable: held is durable).
        const offset_t end = s.log_end();
        if (end > from) {
            held[size_t(f.value())] =
                catch_up ? end : from + int64_t(pick(size_t((end - from)) + 1));
        }
    }

    void propose() {
        auto p = s.propose_isr(now, lag_max);
        if (!p) {
            return;
        }
        REQUIRE_FALSE(in_flight.has_value());
        CHECK(in(p->isr, n0));
        CHECK(p->partition_epoch == partition_epoch);
        for (node_id_t m : committed_isr) {
            if (!in(p->isr, m)) {
                // Removed: it did not fetch at the leader's end within the lag.
                auto it = at_end.find(m.value());
                CHECK((it == at_end.end() || now - it->second > lag_max || !leading));
            }
        }
        for (node_id_t m : p->isr) {
            if (!in(committed_isr, m)) {
                CHECK(held[size_t(m.value())] >= s.high_watermark());
            }
        }
        in_flight = std::make_pair(*p, now);
    }

    void controller() {
        if (in_flight && pick(3) != 0) {
            auto [p, when] = *in_flight;
            in_flight.reset();
            if (p.partition_epoch == partition_epoch && pick(5) != 0) {
                committed_isr = p.isr;
                ++partition_epoch;
                s.update_assignment(assignment(), now);
            } else {
                s.isr_proposal_failed(p);  // stale, or refused
            }
        } else if (pick(8) == 0 && committed_isr.size() > 1) {
            // A follower's broker is fenced: the controller takes it out of the ISR. A proposal
            // in flight is then stale, and refused.
            if (in_flight) {
                s.isr_proposal_failed(in_flight->first);
                in_flight.reset();
            }
            std::vector<node_id_t> next{n0};
            for (node_id_t m : committed_isr) {
                if (m != n0 && pick(2) == 0) {
                    next.push_back(m);
                }
            }
            committed_isr = next;
            ++partition_epoch;
            s.update_assignment(assignment(), now);
        }
    }

    void check() {
        CHECK(s.high_watermark() <= s.local_end());
        CHECK(s.high_watermark() >= last_hw);  // never back
        last_hw = s.high_watermark();
        // Below the high watermark is on every member of the ISR.
        for (node_id_t m : committed_isr) {
            if (m != n0) {
                CHECK(held[size_t(m.value())] >= s.high_watermark());
            }
        }
    }

    void step() {
        now += std::chrono::milliseconds(pick(40));
        switch (pick(10)) {
            case 0:
            case 1:
                if (leading) {
                    append();
                }
                break;
            case 2:
            case 3:
            case 4:
                // Follower 2 is the slow one: it fetches less and takes less.
                fetch(pick(3) == 0 ? n2 : n1, pick(2) == 0);
                break;
            case 5:
                if (auto r = s.take_durable_request()) {
                    s.durable(*r);
                }
                break;
            case 6:
                propose();
                break;
            case 7:
                controller();
                break;
            case 8:
                if (pick(20) == 0) {
                    if (leading) {
                        s.become_follower();
                        in_flight.reset();
                        leading = false;
                    } else {
                        s.become_leader(assignment(), now);
                        at_end.clear();
                        leading = true;
                    }
                }
                break;
            default:
                break;
        }
        check();
    }

    // Everyone fetches until caught up, the controller answers: every wait ends, and the ISR
    // holds every replica again.
    void settle() {
        if (!leading) {
            s.become_leader(assignment(), now);
            leading = true;
        }
        for (int round = 0; round < 20; ++round) {
            now += 10ms;
            while (auto r = s.take_durable_request()) {
                s.durable(*r);
            }
            fetch(n1, true);
            fetch(n2, true);
            propose();
            if (in_flight) {
                auto [p, when] = *in_flight;
                in_flight.reset();
                if (p.partition_epoch == partition_epoch) {
                    committed_isr = p.isr;
                    ++partition_epoch;
                    s.update_assignment(assignment(), now);
                } else {
                    s.isr_proposal_failed(p);
                }
            }
            check();
        }
        CHECK(committed_isr.size() == 3);
        CHECK(s.high_watermark() == s.log_end());
        for (const auto& w : waits) {
            CHECK(w->result.has_value());
        }
        CHECK(s.ack_waiters() == 0);
    }
};

}  // namespace

TEST_CASE("random schedules keep the replication invariants") {
    size_t acked = 0, refused = 0;
    for (uint64_t seed = 1; seed <= 1500; ++seed) {
        CAPTURE(seed);
        model m(seed, seed % 2 == 0, int32_t(1 + seed % 3));
        for (int i = 0; i < 300; ++i) {
            m.step();
        }
        m.settle();
        for (const auto& w : m.waits) {
            acked += w->result == errc::none ? 1 : 0;
        }
        refused += m.refused_all;
    }
    // The schedules exercised both outcomes.
    CHECK(acked > 10000);
    CHECK(refused > 100);
}
