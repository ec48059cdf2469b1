// Metadata: brokers, topics and partitions; creates missing topics when allowed.
#include <map>
#include <set>

#include <fmt/format.h>

#include "sluice/net/request.h"

namespace sluice::broker {
namespace {

// A topic's partitions from the cluster view, or, without one, from this broker's own
// partitions (each led here unless its broker is fenced).
std::optional<std::vector<partition_view>> partitions_of(const broker_context& b,
                                                         const partition_image& local,
                                                         std::string_view name) {
    if (b.cluster != nullptr) {
        return b.cluster->partitions(name);
    }
    const auto* parts = local.find(name);
    if (parts == nullptr) {
        return std::nullopt;
    }
    const node_id_t self = b.config.node_id;
    std::vector<partition_view> out;
    for (const auto& p : *parts) {
        if (p) {
            out.push_back({p->id(),
                           p->is_leader() ? self : node_id_t{-1},
                           p->leader_epoch(),
                           {self},
                           {self}});
        }
    }
    return out;
}

flatbuffers::Offset<flatbuffers::Vector<int32_t>> ids(flatbuffers::FlatBufferBuilder& fbb,
                                                      const std::vector<node_id_t>& list) {
    std::vector<int32_t> raw;
    for (auto id : list) {
        raw.push_back(id.value());
    }
    return fbb.CreateVector(raw);
}

// Replica offsets cost a hop to each partition's strand: only for topics named, and for at most
// this many partitions per request (the rest answer without them).
constexpr size_t replica_offsets_max = 1000;

}  // namespace

awaitable<handler_result> handle_metadata(request_context& ctx, request& req) {
    const auto* m = req.envelope->body_as_MetadataRequest();
    const auto& cfg = ctx.broker.config;
    auto local = ctx.broker.replicas.snapshot();
    auto exists = [&](std::string_view name) {
        return partitions_of(ctx.broker, *local, name).has_value();
    };

    std::vector<std::string> names;
    if (m->all_topics()) {
        if (ctx.broker.cluster != nullptr) {
            names = ctx.broker.cluster->topic_names();
        } else {
            for (const auto& [name, t] : local->topics) {
                names.push_back(name);
            }
        }
    } else if (m->topics() != nullptr) {
        std::set<std::string, std::less<>> seen;
        for (const auto* s : *m->topics()) {
            if (s != nullptr && seen.insert(s->str()).second) {
                names.push_back(s->str());
            }
        }
    }

    // Named topics that do not exist, and what creating them said.
    std::map<std::string, topic_result, std::less<>> created;
    if (!m->all_topics() && cfg.auto_create_topics && m->allow_auto_topic_creation()) {
        std::vector<create_topic_request> missing;
        for (const auto& name : names) {
            if (!exists(name) && !topic_name_problem(name)) {
                missing.push_back({name, -1, -1, {}, ""});
            }
        }
        if (!missing.empty()) {
            auto results = co_await ctx.broker.admin.create_topics(std::move(missing), false);
            for (auto& r : results) {
                created.emplace(r.name, std::move(r));
            }
            local = ctx.broker.replicas.snapshot();
        }
    }

    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    const int32_t node = cfg.node_id.value();
    size_t replica_offsets_left = m->all_topics() ? 0 : replica_offsets_max;
    std::vector<flatbuffers::Offset<fbs::TopicMetadata>> topics;
    for (const auto& name : names) {
        const auto parts_of = partitions_of(ctx.broker, *local, name);
        if (!parts_of) {
            errc e = errc::unknown_topic_or_partition;
            std::string message = fmt::format("topic '{}' does not exist", name);
            if (auto why = topic_name_problem(name)) {
                e = errc::invalid_topic;
                message = *why;
            } else if (auto it = created.find(name);
                       it != created.end() && it->second.error != errc::none) {
                e = it->second.error;
                message = it->second.message;
            }
            topics.push_back(fbs::CreateTopicMetadata(fbb, int16_t(e), fbb.CreateString(message),
                                                      fbb.CreateString(name)));
            continue;
        }
        std::vector<flatbuffers::Offset<fbs::PartitionMetadata>> parts;
        parts.reserve(parts_of->size());
        for (const auto& p : *parts_of) {
            // A partition held here whose log failed to open has no leader, as in Kafka; nor has
            // one whose broker is fenced.
            const partition* held = local->find(name, partition_id_t{p.id});
            const bool offline = held != nullptr && !held->offline_reason().empty();
            const node_id_t leader = offline ? node_id_t{-1} : p.leader;
            const errc e = offline                   ? errc::kafka_storage_error
                           : leader == node_id_t{-1} ? errc::leader_not_available
                                                     : errc::none;
            flatbuffers::Offset<flatbuffers::Vector<int64_t>> ends = 0;
            if (m->include_replica_offsets() && replica_offsets_left > 0 && held != nullptr &&
                !offline && held->is_leader()) {
                --replica_offsets_left;
                // (`held` lives as long as the snapshot `local` does.)
                auto read = [held, replicas = p.replicas] {
                    return held->replica_log_ends(replicas);
                };
                const auto got = co_await run_on(held->strand(), read);
                std::vector<int64_t> raw;
                for (offset_t o : got) {
                    raw.push_back(o.value());
                }
                ends = fbb.CreateVector(raw);
            }
            parts.push_back(fbs::CreatePartitionMetadata(
                fbb, int16_t(e), p.id, leader.value(), p.leader_epoch.value(), ids(fbb, p.replicas),
                ids(fbb, p.isr), ends));
        }
        topics.push_back(
            fbs::CreateTopicMetadata(fbb, 0, 0, fbb.CreateString(name), fbb.CreateVector(parts)));
    }
    std::vector<flatbuffers::Offset<fbs::BrokerMetadata>> brokers;
    int32_t controller = node;
    if (ctx.broker.cluster != nullptr) {
        for (const auto& b : ctx.broker.cluster->brokers()) {
            brokers.push_back(
                fbs::CreateBrokerMetadata(fbb, b.id.value(), fbb.CreateString(b.host), b.port));
        }
        controller = ctx.broker.cluster->controller().value();
    } else {
        brokers.push_back(fbs::CreateBrokerMetadata(
            fbb, node, fbb.CreateString(ctx.broker.advertised_host), ctx.broker.advertised_port));
    }
    auto body = fbs::CreateMetadataResponse(fbb, fbb.CreateVector(brokers),
                                            fbb.CreateString(ctx.broker.cluster_id), controller,
                                            fbb.CreateVector(topics));
    finish_response(*r, *req.envelope, fbs::Body::MetadataResponse, body.Union());
    co_return handler_result{std::move(r), ""};
}

}  // namespace sluice::broker
