// Fuzz target: what a consumer reads from its group (client/internal/group_requests.h): the
// members' subscriptions the leader decodes, and the assignment every member decodes; both come
// from other clients through the coordinator, so any bytes may arrive. Input: a bundle of a
// subscription and an assignment.
//
// Checks: what decodes encodes to bytes that decode the same; every assignor takes any decoded
// subscriptions (owned partitions out of range or claimed twice included) and assigns each
// partition of a subscribed topic to at most one member that subscribes to it.
#include <cstdint>
#include <map>
#include <set>

#include "assignors.h"
#include "bundle.h"
#include "require.h"
#include "sluice/client/internal/group_requests.h"

namespace {

using namespace sluice;
using fuzz::require;

std::string_view text(std::span<const std::byte> b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto parts = fuzz::split_bundle({reinterpret_cast<const std::byte*>(data), size}, 2);
    auto sub = client::decode_subscription(text(parts[0]));
    if (sub) {
        auto again = client::decode_subscription(client::encode_subscription(*sub));
        require(again && again->topics == sub->topics && again->owned == sub->owned &&
                again->generation == sub->generation);
        // Three members: this one, one that claims the same, one with nothing.
        std::vector<detail::assignor_member> members{
            {"a", std::nullopt, *sub}, {"b", std::string("static"), *sub}, {"c", std::nullopt, {}}};
        members[2].subscription.topics = sub->topics;
        std::map<std::string, int32_t> counts;
        int32_t n = 1;
        for (const auto& t : sub->topics) {
            if (counts.size() < 8) {
                counts[t] = n++ % 9;
            }
        }
        for (auto name : {"range", "roundrobin", "cooperative-sticky"}) {
            auto result = detail::assign(name, members, counts);
            require(result.has_value() && result->size() == members.size());
            std::set<std::pair<std::string, int32_t>> seen;
            for (const auto& [member, parts_of] : *result) {
                for (const auto& [topic, list] : parts_of) {
                    require(counts.contains(topic));
                    for (int32_t p : list) {
                        require(p >= 0 && p < counts.at(topic));
                        require(seen.insert({topic, p}).second);
                    }
                }
            }
        }
    }
    if (auto a = client::decode_assignment(text(parts[1]))) {
        auto again = client::decode_assignment(client::encode_assignment(*a));
        require(again && *again == *a);
    }
    return 0;
}
