#include "assignors.h"

#include <algorithm>
#include <set>

namespace sluice::detail {
namespace {

using tp = std::pair<std::string, int32_t>;

// Members in their assignment order: static ones by instance id first, then by member id.
std::vector<const assignor_member*> ordered(const std::vector<assignor_member>& members) {
    std::vector<const assignor_member*> out;
    for (const auto& m : members) {
        out.push_back(&m);
    }
    std::sort(out.begin(), out.end(), [](const auto* a, const auto* b) {
        if (a->instance_id.has_value() != b->instance_id.has_value()) {
            return a->instance_id.has_value();
        }
        if (a->instance_id && *a->instance_id != *b->instance_id) {
            return *a->instance_id < *b->instance_id;
        }
        return a->member_id < b->member_id;
    });
    return out;
}

bool subscribed(const assignor_member& m, const std::string& topic) {
    const auto& t = m.subscription.topics;
    return std::find(t.begin(), t.end(), topic) != t.end();
}

group_assignment empty_for(const std::vector<assignor_member>& members) {
    group_assignment out;
    for (const auto& m : members) {
        out[m.member_id];
    }
    return out;
}

void sort_lists(group_assignment& a) {
    for (auto& [member, parts] : a) {
        for (auto& [topic, list] : parts) {
            std::sort(list.begin(), list.end());
        }
    }
}

}  // namespace

group_assignment assign_range(const std::vector<assignor_member>& members,
                              const std::map<std::string, int32_t>& partitions) {
    group_assignment out = empty_for(members);
    const auto order = ordered(members);
    for (const auto& [topic, count] : partitions) {
        std::vector<const assignor_member*> takers;
        for (const auto* m : order) {
            if (subscribed(*m, topic)) {
                takers.push_back(m);
            }
        }
        if (takers.empty()) {
            continue;
        }
        const int32_t n = int32_t(takers.size());
        const int32_t each = count / n;
        const int32_t extra = count % n;
        int32_t next = 0;
        for (int32_t i = 0; i < n; ++i) {
            const int32_t take = each + (i < extra ? 1 : 0);
            auto& list = out[takers[size_t(i)]->member_id][topic];
            for (int32_t k = 0; k < take; ++k) {
                list.push_back(next++);
            }
        }
    }
    return out;
}

group_assignment assign_roundrobin(const std::vector<assignor_member>& members,
                                   const std::map<std::string, int32_t>& partitions) {
    group_assignment out = empty_for(members);
    const auto order = ordered(members);
    if (order.empty()) {
        return out;
    }
    size_t next = 0;
    for (const auto& [topic, count] : partitions) {
        for (int32_t p = 0; p < count; ++p) {
            // The next member (in turn) that subscribes to the topic.
            for (size_t tries = 0; tries < order.size(); ++tries) {
                const auto* m = order[next % order.size()];
                ++next;
                if (subscribed(*m, topic)) {
                    out[m->member_id][topic].push_back(p);
                    break;
                }
            }
        }
    }
    return out;
}

group_assignment assign_cooperative_sticky(const std::vector<assignor_member>& members,
                                           const std::map<std::string, int32_t>& partitions) {
    group_assignment out = empty_for(members);
    const auto order = ordered(members);
    if (order.empty()) {
        return out;
    }
    // Who owned each partition before: the claim of the highest generation wins. A claim of a
    // topic its owner no longer subscribes to still counts as ownership (the partition waits
    // until it is revoked) but not as a reason to keep it.
    std::map<tp, std::pair<int32_t, const assignor_member*>> previous;  // generation, owner
    for (const auto* m : order) {
        for (const auto& [topic, list] : m->subscription.owned) {
            for (int32_t p : list) {
                auto it = partitions.find(topic);
                if (it == partitions.end() || p < 0 || p >= it->second) {
                    continue;
                }
                auto& claim = previous[{topic, p}];
                if (claim.second == nullptr || m->subscription.generation > claim.first) {
                    claim = {m->subscription.generation, m};
                }
            }
        }
    }
    // Every partition some member subscribes to.
    std::vector<tp> all;
    for (const auto& [topic, count] : partitions) {
        bool wanted = std::any_of(order.begin(), order.end(),
                                  [&](const auto* m) { return subscribed(*m, topic); });
        for (int32_t p = 0; wanted && p < count; ++p) {
            all.emplace_back(topic, p);
        }
    }
    // Targets: an even share each, the first members (in order) one more.
    const size_t n = order.size();
    std::map<std::string, size_t> target;
    for (size_t i = 0; i < n; ++i) {
        target[order[i]->member_id] = all.size() / n + (i < all.size() % n ? 1 : 0);
    }
    std::map<std::string, std::vector<tp>> holding;
    std::vector<tp> free;
    for (const auto& t : all) {
        auto it = previous.find(t);
        if (it != previous.end() && subscribed(*it->second.second, t.first)) {
            holding[it->second.second->member_id].push_back(t);
        } else {
            free.push_back(t);
        }
    }
    // Members over their target give up their last partitions.
    for (const auto* m : order) {
        auto& h = holding[m->member_id];
        while (h.size() > target[m->member_id]) {
            free.push_back(h.back());
            h.pop_back();
        }
    }
    std::sort(free.begin(), free.end());
    // The free ones go to members below their target that subscribe to them.
    std::map<tp, std::string> moved_to;
    for (const auto& t : free) {
        for (const auto* m : order) {
            auto& h = holding[m->member_id];
            if (h.size() < target[m->member_id] && subscribed(*m, t.first)) {
                h.push_back(t);
                moved_to[t] = m->member_id;
                break;
            }
        }
    }
    // Anything left (subscriptions that differ): to any subscriber with the fewest.
    for (const auto& t : free) {
        if (moved_to.contains(t)) {
            continue;
        }
        const assignor_member* best = nullptr;
        for (const auto* m : order) {
            if (subscribed(*m, t.first) &&
                (best == nullptr ||
                 holding[m->member_id].size() < holding[best->member_id].size())) {
                best = m;
            }
        }
        if (best != nullptr) {
            holding[best->member_id].push_back(t);
            moved_to[t] = best->member_id;
        }
    }
    for (const auto& [member, list] : holding) {
        if (!out.contains(member)) {
            continue;
        }
        for (const auto& t : list) {
            // A partition that moves from a live owner waits one round: its owner revokes it
            // first (KIP-429).
            auto prev = previous.find(t);
            if (prev != previous.end() && prev->second.second->member_id != member &&
                out.contains(prev->second.second->member_id)) {
                continue;
            }
            out[member][t.first].push_back(t.second);
        }
    }
    sort_lists(out);
    return out;
}

bool known_assignor(std::string_view name) {
    return name == "range" || name == "roundrobin" || name == "cooperative-sticky";
}

bool cooperative(std::string_view name) {
    return name == "cooperative-sticky";
}

std::optional<group_assignment> assign(std::string_view assignor,
                                       const std::vector<assignor_member>& members,
                                       const std::map<std::string, int32_t>& partitions) {
    if (assignor == "range") {
        return assign_range(members, partitions);
    }
    if (assignor == "roundrobin") {
        return assign_roundrobin(members, partitions);
    }
    if (assignor == "cooperative-sticky") {
        return assign_cooperative_sticky(members, partitions);
    }
    return std::nullopt;
}

}  // namespace sluice::detail
