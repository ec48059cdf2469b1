// Metadata: brokers, topics and partitions; creates missing topics when allowed.
#include <map>
#include <set>

#include <fmt/format.h>

#include "sluice/net/request.h"

namespace sluice::broker {

awaitable<handler_result> handle_metadata(request_context& ctx, request& req) {
    const auto* m = req.envelope->body_as_MetadataRequest();
    const auto& cfg = ctx.broker.config;
    auto image = ctx.broker.replicas.snapshot();

    std::vector<std::string> names;
    if (m->all_topics()) {
        for (const auto& [name, t] : image->topics) {
            names.push_back(name);
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
            if (image->find(name) == nullptr && !topic_name_problem(name)) {
                missing.push_back({name, -1, -1, {}, ""});
            }
        }
        if (!missing.empty()) {
            auto results = co_await ctx.broker.admin.create_topics(std::move(missing), false);
            for (auto& r : results) {
                created.emplace(r.name, std::move(r));
            }
            image = ctx.broker.replicas.snapshot();
        }
    }

    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    const int32_t node = cfg.node_id.value();
    std::vector<flatbuffers::Offset<fbs::TopicMetadata>> topics;
    for (const auto& name : names) {
        const auto* parts_of = image->find(name);
        if (parts_of == nullptr) {
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
            if (!p) {
                continue;  // held by another broker
            }
            auto replicas = fbb.CreateVector(&node, 1);
            // An offline partition (its log failed to open) has no leader, as in Kafka; nor has
            // one whose broker is fenced.
            const bool offline = !p->offline_reason().empty();
            const bool leads = !offline && p->is_leader();
            auto isr = fbb.CreateVector(&node, offline ? 0 : 1);
            const errc e = offline ? errc::kafka_storage_error
                           : leads ? errc::none
                                   : errc::leader_not_available;
            parts.push_back(fbs::CreatePartitionMetadata(fbb, int16_t(e), p->id(),
                                                         leads ? node : -1,
                                                         p->leader_epoch().value(), replicas, isr));
        }
        topics.push_back(
            fbs::CreateTopicMetadata(fbb, 0, 0, fbb.CreateString(name), fbb.CreateVector(parts)));
    }
    std::vector<flatbuffers::Offset<fbs::BrokerMetadata>> brokers{fbs::CreateBrokerMetadata(
        fbb, node, fbb.CreateString(ctx.broker.advertised_host), ctx.broker.advertised_port)};
    auto body = fbs::CreateMetadataResponse(fbb, fbb.CreateVector(brokers),
                                            fbb.CreateString(ctx.broker.cluster_id), node,
                                            fbb.CreateVector(topics));
    finish_response(*r, *req.envelope, fbs::Body::MetadataResponse, body.Union());
    co_return handler_result{std::move(r), ""};
}

}  // namespace sluice::broker
