// The three assignors a group's leader runs: every subscribed partition goes to exactly one
// member that subscribes to it, shares are even, and cooperative-sticky keeps partitions where
// they are and never hands on a partition some member still claims (KIP-429).
#include <doctest/doctest.h>

#include <set>

#include "assignors.h"

using namespace sluice;
using namespace sluice::detail;

namespace {

assignor_member member(std::string id, std::vector<std::string> topics,
                       client::partition_map owned = {}, int32_t generation = -1) {
    return assignor_member{
        std::move(id), std::nullopt,
        client::subscription_meta{std::move(topics), std::move(owned), generation}};
}

// Each (topic, partition) with the members given it.
std::map<std::pair<std::string, int32_t>, std::vector<std::string>> owners(
    const group_assignment& a) {
    std::map<std::pair<std::string, int32_t>, std::vector<std::string>> out;
    for (const auto& [m, parts] : a) {
        for (const auto& [topic, list] : parts) {
            for (int32_t p : list) {
                out[{topic, p}].push_back(m);
            }
        }
    }
    return out;
}

size_t count_of(const client::partition_map& parts) {
    size_t n = 0;
    for (const auto& [topic, list] : parts) {
        n += list.size();
    }
    return n;
}

}  // namespace

TEST_CASE("range: contiguous runs per topic, the first members one more") {
    const std::vector<assignor_member> ms{member("b", {"t"}), member("a", {"t"})};
    auto a = assign_range(ms, {{"t", 5}});
    CHECK(a["a"]["t"] == std::vector<int32_t>{0, 1, 2});
    CHECK(a["b"]["t"] == std::vector<int32_t>{3, 4});
}

TEST_CASE("roundrobin: only to members subscribed to the topic") {
    const std::vector<assignor_member> ms{member("a", {"t"}), member("b", {"t", "u"})};
    auto a = assign_roundrobin(ms, {{"t", 2}, {"u", 3}});
    CHECK(a["a"]["u"].empty());
    CHECK(a["b"]["u"] == std::vector<int32_t>{0, 1, 2});
    for (const auto& [tp, who] : owners(a)) {
        CHECK(who.size() == 1);
    }
    CHECK(owners(a).size() == 5);
}

TEST_CASE("cooperative-sticky: a new member takes only what moves, after its owner gives it up") {
    const std::vector<assignor_member> before{member("a", {"t"}, {{"t", {0, 1, 2}}}, 3),
                                              member("b", {"t"}, {{"t", {3, 4, 5}}}, 3),
                                              member("c", {"t"})};
    auto a = assign_cooperative_sticky(before, {{"t", 6}});
    // a and b each give up one partition; c gets nothing this round (they are still owned).
    CHECK(count_of(a["a"]) == 2);
    CHECK(count_of(a["b"]) == 2);
    CHECK(count_of(a["c"]) == 0);
    // Next round: a and b no longer claim them, so c takes exactly those two.
    const std::vector<assignor_member> after{member("a", {"t"}, a["a"], 4),
                                             member("b", {"t"}, a["b"], 4), member("c", {"t"})};
    auto b = assign_cooperative_sticky(after, {{"t", 6}});
    CHECK(b["a"] == a["a"]);
    CHECK(b["b"] == a["b"]);
    CHECK(count_of(b["c"]) == 2);
    CHECK(owners(b).size() == 6);
}

TEST_CASE("cooperative-sticky: a partition whose owner unsubscribed from its topic waits a round") {
    // a held u-0 but now subscribes only to t; b subscribes to u. b must not get u-0 while a
    // still holds it: a revokes it, and the next round gives it to b.
    const std::vector<assignor_member> ms{member("a", {"t"}, {{"t", {0}}, {"u", {0}}}, 2),
                                          member("b", {"u"}, {}, -1)};
    auto a = assign_cooperative_sticky(ms, {{"t", 1}, {"u", 1}});
    CHECK(a["a"]["t"] == std::vector<int32_t>{0});
    CHECK(a["a"]["u"].empty());  // taken away from a ...
    CHECK(a["b"]["u"].empty());  // ... but not yet handed to b
    const std::vector<assignor_member> next{member("a", {"t"}, a["a"], 3),
                                            member("b", {"u"}, {}, 3)};
    auto b = assign_cooperative_sticky(next, {{"t", 1}, {"u", 1}});
    CHECK(b["b"]["u"] == std::vector<int32_t>{0});
}

TEST_CASE("cooperative-sticky: the newest generation's claim wins, the stale one is ignored") {
    const std::vector<assignor_member> ms{member("a", {"t"}, {{"t", {0, 1}}}, 5),
                                          member("b", {"t"}, {{"t", {0}}}, 4)};
    auto a = assign_cooperative_sticky(ms, {{"t", 2}});
    for (const auto& [tp, who] : owners(a)) {
        CHECK(who.size() == 1);
    }
    // a (generation 5) owns 0 and keeps one partition; the other moves to b in a later round.
    CHECK(count_of(a["a"]) == 1);
    CHECK(count_of(a["b"]) == 0);
}
