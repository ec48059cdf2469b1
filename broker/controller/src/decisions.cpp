#include "sluice/controller/decisions.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include <fmt/format.h>

namespace sluice::controller {
namespace {

using broker::create_topic_request;
using broker::topic_result;

bool contains(const std::vector<node_id_t>& ids, node_id_t id) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
}

std::vector<node_id_t> without(const std::vector<node_id_t>& ids, node_id_t id) {
    std::vector<node_id_t> out;
    std::copy_if(ids.begin(), ids.end(), std::back_inserter(out),
                 [id](node_id_t r) { return r != id; });
    return out;
}

// A boolean topic config's value as the broker's config rules read it (any case).
bool is_true(std::string_view value) {
    return value.size() == 4 && std::equal(value.begin(), value.end(), "true", [](char a, char b) {
               return std::tolower(static_cast<unsigned char>(a)) == b;
           });
}

bool unfenced(const metadata_image& image, node_id_t id) {
    const broker_info* b = image.broker(id);
    return b != nullptr && !b->fenced;
}

// Whether `p`'s preferred replica (the first) could lead it now, and does not.
bool preferred_can_take_over(const metadata_image& image, const partition_info& p) {
    const node_id_t preferred = p.replicas.front();
    return p.leader != preferred && contains(p.isr, preferred) && unfenced(image, preferred);
}

planned_batch refused(std::string name, errc e, std::string message) {
    return {topic_result{std::move(name), e, std::move(message)}, {}};
}

std::vector<metadata_record> partition_records(const uuid& topic_id, int32_t first,
                                               const std::vector<std::vector<node_id_t>>& place) {
    std::vector<metadata_record> out;
    for (size_t i = 0; i < place.size(); ++i) {
        out.push_back(records::partition{topic_id, first + int32_t(i), place[i], place[i],
                                         place[i].front(), leader_epoch_t{0}, 0});
    }
    return out;
}

std::string placement_problem(const metadata_image& image, int16_t rf) {
    const auto live = std::count_if(image.brokers().begin(), image.brokers().end(),
                                    [](const auto& b) { return !b.second.fenced; });
    return fmt::format("replication factor {} is larger than the {} available broker{}", rf, live,
                       live == 1 ? "" : "s");
}

// Why placing `place` would give a broker more than max.partitions replicas, or nothing.
std::optional<std::string> capacity_problem(const metadata_image& image,
                                            const std::vector<std::vector<node_id_t>>& place,
                                            int32_t max) {
    std::map<node_id_t, int64_t> held;
    for (const auto& [name, t] : image.topics()) {
        for (const auto& p : t->partitions) {
            for (node_id_t r : p.replicas) {
                ++held[r];
            }
        }
    }
    std::map<node_id_t, int64_t> more;
    for (const auto& replicas : place) {
        for (node_id_t r : replicas) {
            ++more[r];
        }
    }
    for (const auto& [id, n] : more) {
        if (held[id] + n > max) {
            return fmt::format(
                "broker {} holds {} partitions; {} more would pass max.partitions "
                "({})",
                id, held[id], n, max);
        }
    }
    return std::nullopt;
}

// The image with `records` applied (the records were made to fit it).
metadata_image with(const metadata_image& image, const std::vector<metadata_record>& records) {
    return apply_batch(image, image.end_offset(), records).image;
}

// The new leader of `p` if `id` can no longer lead it: the first ISR member other than `id`
// that is unfenced, or none.
node_id_t successor(const metadata_image& image, const partition_info& p, node_id_t id) {
    for (node_id_t r : p.replicas) {
        const broker_info* b = image.broker(r);
        if (r != id && contains(p.isr, r) && b != nullptr && !b->fenced) {
            return r;
        }
    }
    return node_id_t{-1};
}

}  // namespace

std::optional<std::vector<std::vector<node_id_t>>> place_partitions(const metadata_image& image,
                                                                    int32_t count, int16_t rf) {
    std::map<node_id_t, std::pair<int64_t, int64_t>> load;  // unfenced: (leaders, replicas)
    for (const auto& [id, b] : image.brokers()) {
        if (!b.fenced) {
            load[id] = {0, 0};
        }
    }
    if (rf < 1 || size_t(rf) > load.size()) {
        return std::nullopt;
    }
    for (const auto& [name, t] : image.topics()) {
        for (const auto& p : t->partitions) {
            if (auto it = load.find(p.leader); it != load.end()) {
                ++it->second.first;
            }
            for (node_id_t r : p.replicas) {
                if (auto it = load.find(r); it != load.end()) {
                    ++it->second.second;
                }
            }
        }
    }
    std::vector<std::vector<node_id_t>> out;
    for (int32_t i = 0; i < count; ++i) {
        std::vector<node_id_t> replicas;
        auto pick = [&](bool leader) {
            node_id_t best{-1};
            std::pair<int64_t, int64_t> best_load;
            for (const auto& [id, l] : load) {
                if (contains(replicas, id)) {
                    continue;
                }
                const auto key = leader ? l : std::pair{l.second, l.first};
                if (best == node_id_t{-1} || key < best_load) {
                    best = id;
                    best_load = key;
                }
            }
            replicas.push_back(best);
            if (leader) {
                ++load[best].first;
            }
            ++load[best].second;
        };
        pick(true);
        for (int16_t r = 1; r < rf; ++r) {
            pick(false);
        }
        out.push_back(std::move(replicas));
    }
    return out;
}

std::vector<planned_batch> plan_create_topics(const metadata_image& image,
                                              std::span<const create_topic_request> requests,
                                              const topic_defaults& defaults, bool validate_only,
                                              const std::function<uuid()>& new_id) {
    std::vector<planned_batch> out;
    metadata_image now = image;
    std::map<std::string, int, std::less<>> named;  // how often each name is in the request
    for (const auto& req : requests) {
        ++named[req.name];
    }
    for (const auto& req : requests) {
        const int32_t partitions = req.partitions == -1 ? defaults.partitions : req.partitions;
        const int16_t rf =
            req.replication_factor == -1 ? defaults.replication_factor : req.replication_factor;
        if (named[req.name] > 1) {
            out.push_back(
                refused(req.name, errc::invalid_request,
                        fmt::format("topic '{}' appears more than once in the request", req.name)));
            continue;
        }
        if (auto why = broker::topic_name_problem(req.name)) {
            out.push_back(refused(req.name, errc::invalid_topic, *why));
            continue;
        }
        if (now.topic(req.name) != nullptr) {
            out.push_back(refused(req.name, errc::topic_already_exists,
                                  fmt::format("topic '{}' already exists", req.name)));
            continue;
        }
        if (partitions < 1 || partitions > defaults.partitions_max) {
            out.push_back(refused(req.name, errc::invalid_partitions,
                                  fmt::format("number of partitions must be from 1 to {} (or -1 "
                                              "for the broker's num.partitions); got {}",
                                              defaults.partitions_max, req.partitions)));
            continue;
        }
        if (rf < 1) {
            out.push_back(refused(req.name, errc::invalid_replication_factor,
                                  fmt::format("replication factor must be at least 1 (or -1 for "
                                              "the broker's default.replication.factor); got {}",
                                              req.replication_factor)));
            continue;
        }
        auto place = place_partitions(now, partitions, rf);
        if (!place) {
            out.push_back(
                refused(req.name, errc::invalid_replication_factor, placement_problem(now, rf)));
            continue;
        }
        if (!req.duplicate_config.empty()) {
            out.push_back(
                refused(req.name, errc::invalid_config,
                        fmt::format("config '{}' is given more than once", req.duplicate_config)));
            continue;
        }
        if (defaults.config_problem) {
            if (auto why = defaults.config_problem(req.configs)) {
                out.push_back(refused(req.name, errc::invalid_config, *why));
                continue;
            }
        }
        if (auto why = capacity_problem(now, *place, defaults.partitions_per_broker_max)) {
            out.push_back(refused(req.name, errc::invalid_partitions, *why));
            continue;
        }
        planned_batch b{topic_result{req.name, errc::none, {}}, {}};
        if (!validate_only) {
            const uuid id = new_id();
            b.records.push_back(records::topic{req.name, id});
            auto parts = partition_records(id, 0, *place);
            b.records.insert(b.records.end(), parts.begin(), parts.end());
            for (const auto& [k, v] : req.configs) {
                b.records.push_back(records::topic_config{id, k, v});
            }
            now = with(now, b.records);
        }
        out.push_back(std::move(b));
    }
    return out;
}

std::vector<planned_batch> plan_delete_topics(const metadata_image& image,
                                              std::span<const std::string> names) {
    std::vector<planned_batch> out;
    std::map<std::string_view, int> named;
    for (const auto& name : names) {
        ++named[name];
    }
    for (const auto& name : names) {
        const topic_info* t = image.topic(name);
        if (named[name] > 1) {
            out.push_back(
                refused(name, errc::invalid_request,
                        fmt::format("topic '{}' appears more than once in the request", name)));
        } else if (t == nullptr) {
            out.push_back(refused(name, errc::unknown_topic_or_partition,
                                  fmt::format("topic '{}' does not exist", name)));
        } else {
            out.push_back({topic_result{name, errc::none, {}}, {records::remove_topic{t->id}}});
        }
    }
    return out;
}

planned_batch plan_add_partitions(const metadata_image& image, std::string_view topic,
                                  int32_t total, const topic_defaults& defaults,
                                  bool validate_only) {
    const topic_info* t = image.topic(topic);
    if (t == nullptr) {
        return refused(std::string(topic), errc::unknown_topic_or_partition,
                       fmt::format("topic '{}' does not exist", topic));
    }
    const auto have = int32_t(t->partitions.size());
    if (total <= have || total > defaults.partitions_max) {
        return refused(std::string(topic), errc::invalid_partitions,
                       fmt::format("topic '{}' has {} partitions: it can grow to at most {}, and "
                                   "never shrink; got {}",
                                   topic, have, defaults.partitions_max, total));
    }
    const auto rf =
        t->partitions.empty() ? int16_t(1) : int16_t(t->partitions.front().replicas.size());
    auto place = place_partitions(image, total - have, rf);
    if (!place) {
        return refused(std::string(topic), errc::invalid_replication_factor,
                       placement_problem(image, rf));
    }
    if (auto why = capacity_problem(image, *place, defaults.partitions_per_broker_max)) {
        return refused(std::string(topic), errc::invalid_partitions, *why);
    }
    planned_batch b{topic_result{std::string(topic), errc::none, {}}, {}};
    if (!validate_only) {
        b.records = partition_records(t->id, have, *place);
    }
    return b;
}

planned_batch plan_alter_configs(const metadata_image& image, std::string_view topic,
                                 const std::map<std::string, std::optional<std::string>>& changes,
                                 const topic_defaults& defaults, bool validate_only) {
    const topic_info* t = image.topic(topic);
    if (t == nullptr) {
        return refused(std::string(topic), errc::unknown_topic_or_partition,
                       fmt::format("topic '{}' does not exist", topic));
    }
    config_map next = t->configs;
    for (const auto& [k, v] : changes) {
        if (v) {
            next[k] = *v;
        } else {
            next.erase(k);
        }
    }
    if (defaults.config_problem) {
        if (auto why = defaults.config_problem(next)) {
            return refused(std::string(topic), errc::invalid_config, *why);
        }
    }
    planned_batch b{topic_result{std::string(topic), errc::none, {}}, {}};
    if (!validate_only) {
        for (const auto& [k, v] : changes) {
            b.records.push_back(records::topic_config{t->id, k, v});
        }
    }
    return b;
}

std::vector<metadata_record> plan_register(const metadata_image& image, node_id_t id,
                                           const uuid& incarnation, std::vector<endpoint> endpoints,
                                           std::string rack, bool clean_shutdown) {
    const broker_info* old = image.broker(id);
    if (old != nullptr && old->incarnation == incarnation) {
        return {};
    }
    std::vector<metadata_record> out;
    if (old != nullptr) {
        // The old process is gone: its partitions get another leader, or none.
        for (const auto& [name, t] : image.topics()) {
            for (size_t i = 0; i < t->partitions.size(); ++i) {
                const auto& p = t->partitions[i];
                records::partition_change c{t->id, int32_t(i), {}, {}, {}};
                if (p.leader == id) {
                    c.leader = successor(image, p, id);
                }
                if (!clean_shutdown && contains(p.isr, id) && p.isr.size() > 1) {
                    c.isr = without(p.isr, id);
                }
                if (c.leader || c.isr) {
                    out.push_back(std::move(c));
                }
            }
        }
    }
    out.push_back(records::register_broker{id, incarnation, std::move(endpoints), std::move(rack),
                                           epoch_of_this_record});
    return out;
}

std::vector<metadata_record> plan_fence(const metadata_image& image, node_id_t id) {
    const broker_info* b = image.broker(id);
    if (b == nullptr || b->fenced) {
        return {};
    }
    std::vector<metadata_record> out;
    for (const auto& [name, t] : image.topics()) {
        for (size_t i = 0; i < t->partitions.size(); ++i) {
            const auto& p = t->partitions[i];
            if (!contains(p.isr, id)) {
                continue;
            }
            records::partition_change c{t->id, int32_t(i), {}, {}, {}};
            if (p.isr.size() > 1) {  // the last ISR member stays: it holds everything committed
                c.isr = without(p.isr, id);
            }
            if (p.leader == id) {
                c.leader = successor(image, p, id);
            }
            if (c.isr || c.leader) {
                out.push_back(std::move(c));
            }
        }
    }
    out.push_back(records::fence_broker{id, b->epoch});
    return out;
}

std::vector<metadata_record> plan_unfence(const metadata_image& image, node_id_t id) {
    const broker_info* b = image.broker(id);
    if (b == nullptr || !b->fenced) {
        return {};
    }
    std::vector<metadata_record> out{records::unfence_broker{id, b->epoch}};
    for (const auto& [name, t] : image.topics()) {
        for (size_t i = 0; i < t->partitions.size(); ++i) {
            const auto& p = t->partitions[i];
            if (p.leader == node_id_t{-1} && contains(p.isr, id)) {
                out.push_back(records::partition_change{t->id, int32_t(i), id, {}, {}});
            }
        }
    }
    return out;
}

std::vector<metadata_record> plan_move_leaders_away(const metadata_image& image, node_id_t id) {
    std::vector<metadata_record> out;
    for (const auto& [name, t] : image.topics()) {
        for (size_t i = 0; i < t->partitions.size(); ++i) {
            const auto& p = t->partitions[i];
            if (p.leader != id) {
                continue;
            }
            if (node_id_t next = successor(image, p, id); next != node_id_t{-1}) {
                out.push_back(records::partition_change{t->id, int32_t(i), next, {}, {}});
            }
        }
    }
    return out;
}

std::vector<metadata_record> plan_unclean_elections(const metadata_image& image,
                                                    const topic_defaults& defaults) {
    std::vector<metadata_record> out;
    for (const auto& [name, t] : image.topics()) {
        auto it = t->configs.find("unclean.leader.election.enable");
        if (!(it == t->configs.end() ? defaults.unclean_leader_election : is_true(it->second))) {
            continue;
        }
        for (size_t i = 0; i < t->partitions.size(); ++i) {
            const auto& p = t->partitions[i];
            if (p.leader != node_id_t{-1} ||
                std::any_of(p.isr.begin(), p.isr.end(),
                            [&](node_id_t r) { return unfenced(image, r); })) {
                continue;
            }
            for (node_id_t r : p.replicas) {
                if (unfenced(image, r)) {
                    out.push_back(records::partition_change{
                        t->id, int32_t(i), r, std::vector<node_id_t>{r}, {}});
                    break;
                }
            }
        }
    }
    return out;
}

election_plan plan_preferred_elections(const metadata_image& image,
                                       const std::vector<std::string>& topics) {
    election_plan out;
    auto elect = [&](const topic_info& t) {
        for (size_t i = 0; i < t.partitions.size(); ++i) {
            const auto& p = t.partitions[i];
            election_result r{t.name, int32_t(i), errc::none, {}};
            const node_id_t preferred = p.replicas.front();
            if (p.leader == preferred) {
                r.error = errc::election_not_needed;
                r.message = fmt::format("broker {} leads it already", preferred);
            } else if (!preferred_can_take_over(image, p)) {
                r.error = errc::preferred_leader_not_available;
                r.message = fmt::format("the preferred replica, broker {}, is {}", preferred,
                                        unfenced(image, preferred) ? "not in the ISR" : "fenced");
            } else {
                out.records.push_back(
                    records::partition_change{t.id, int32_t(i), preferred, {}, {}});
            }
            out.results.push_back(std::move(r));
        }
    };
    if (topics.empty()) {
        for (const auto& [name, t] : image.topics()) {
            elect(*t);
        }
        return out;
    }
    std::set<std::string> wanted(topics.begin(), topics.end());
    for (const auto& name : wanted) {
        if (const topic_info* t = image.topic(name); t != nullptr) {
            elect(*t);
        } else {
            out.results.push_back(election_result{name, -1, errc::unknown_topic_or_partition,
                                                  fmt::format("no topic {}", name)});
        }
    }
    return out;
}

std::vector<metadata_record> plan_rebalance(const metadata_image& image, double imbalance) {
    struct share {
        int64_t preferred = 0;                          // partitions whose preferred replica it is
        std::vector<std::pair<uuid, int32_t>> movable;  // of those, where it can take over
        int64_t not_leading = 0;
    };
    std::map<node_id_t, share> by_broker;
    for (const auto& [name, t] : image.topics()) {
        for (size_t i = 0; i < t->partitions.size(); ++i) {
            const auto& p = t->partitions[i];
            auto& s = by_broker[p.replicas.front()];
            ++s.preferred;
            if (p.leader != p.replicas.front()) {
                ++s.not_leading;
                if (preferred_can_take_over(image, p)) {
                    s.movable.emplace_back(t->id, int32_t(i));
                }
            }
        }
    }
    std::vector<metadata_record> out;
    for (const auto& [id, s] : by_broker) {
        if (double(s.not_leading) > imbalance * double(s.preferred)) {
            for (const auto& [topic_id, index] : s.movable) {
                out.push_back(records::partition_change{topic_id, index, id, {}, {}});
            }
        }
    }
    return out;
}

isr_change_plan plan_isr_change(const metadata_image& image, const isr_change& c) {
    isr_change_plan out;
    auto refuse = [&out](errc e, std::string why) {
        out.error = e;
        out.message = std::move(why);
        return out;
    };
    const topic_info* t = image.topic(c.topic_id);
    if (t == nullptr || c.partition < 0 || size_t(c.partition) >= t->partitions.size()) {
        return refuse(
            errc::unknown_topic_or_partition,
            fmt::format("no partition {} of topic id {}", c.partition, c.topic_id.to_string()));
    }
    const partition_info& p = t->partitions[size_t(c.partition)];
    if (p.leader != c.leader) {
        return refuse(
            errc::not_leader_or_follower,
            fmt::format("{}-{} is led by {}, not {}", t->name, c.partition, p.leader, c.leader));
    }
    if (c.leader_epoch != p.leader_epoch) {
        return refuse(errc::fenced_leader_epoch,
                      fmt::format("{}-{} is at leader epoch {}, not {}", t->name, c.partition,
                                  p.leader_epoch, c.leader_epoch));
    }
    if (c.partition_epoch != p.partition_epoch) {
        return refuse(errc::invalid_update_version,
                      fmt::format("{}-{} is at partition epoch {}, not {}", t->name, c.partition,
                                  p.partition_epoch, c.partition_epoch));
    }
    std::set<node_id_t> seen;
    for (node_id_t m : c.isr) {
        if (!seen.insert(m).second ||
            std::find(p.replicas.begin(), p.replicas.end(), m) == p.replicas.end()) {
            return refuse(errc::invalid_request,
                          fmt::format("{}-{}: broker {} is named twice or is not a replica",
                                      t->name, c.partition, m));
        }
    }
    if (!seen.contains(c.leader)) {
        return refuse(errc::invalid_request, fmt::format("{}-{}: the ISR must hold its leader {}",
                                                         t->name, c.partition, c.leader));
    }
    for (node_id_t m : c.isr) {
        const bool added = std::find(p.isr.begin(), p.isr.end(), m) == p.isr.end();
        const broker_info* b = image.broker(m);
        if (added && (b == nullptr || b->fenced)) {
            return refuse(errc::ineligible_replica,
                          fmt::format("{}-{}: broker {} is fenced and may not join the ISR",
                                      t->name, c.partition, m));
        }
    }
    if (c.isr == p.isr) {
        return out;  // nothing to change
    }
    out.records.push_back(
        records::partition_change{t->id, c.partition, std::nullopt, c.isr, std::nullopt});
    return out;
}

std::vector<metadata_record> plan_import(const metadata_image& image, node_id_t id,
                                         std::span<const imported_topic> topics) {
    std::vector<metadata_record> out;
    for (const auto& t : topics) {
        if (image.topic(t.name) != nullptr || image.topic(t.id) != nullptr || t.epochs.empty()) {
            continue;
        }
        out.push_back(records::topic{t.name, t.id});
        for (size_t i = 0; i < t.epochs.size(); ++i) {
            out.push_back(records::partition{t.id, int32_t(i), {id}, {id}, id, t.epochs[i], 0});
        }
        for (const auto& [k, v] : t.configs) {
            out.push_back(records::topic_config{t.id, k, v});
        }
    }
    return out;
}

}  // namespace sluice::controller
