// CreateTopics and DeleteTopics: translate the request into the metadata source's plain types
// (topic_admin.h) and back.
#include "sluice/net/request.h"

namespace sluice::broker {
namespace {

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fbs::TopicResult>>> results_of(
    flatbuffers::FlatBufferBuilder& fbb, const std::vector<topic_result>& rs) {
    std::vector<flatbuffers::Offset<fbs::TopicResult>> out;
    out.reserve(rs.size());
    for (const auto& r : rs) {
        out.push_back(fbs::CreateTopicResult(fbb, fbb.CreateString(r.name), int16_t(r.error),
                                             r.message.empty() ? 0 : fbb.CreateString(r.message)));
    }
    return fbb.CreateVector(out);
}

}  // namespace

awaitable<handler_result> handle_create_topics(request_context& ctx, request& req) {
    const auto* c = req.envelope->body_as_CreateTopicsRequest();
    std::vector<create_topic_request> topics;
    if (c->topics() != nullptr) {
        for (const auto* t : *c->topics()) {
            create_topic_request r;
            r.name = t->name() != nullptr ? t->name()->str() : "";
            r.partitions = t->num_partitions();
            r.replication_factor = t->replication_factor();
            if (t->configs() != nullptr) {
                for (const auto* kv : *t->configs()) {
                    std::string key = kv->key() != nullptr ? kv->key()->str() : "";
                    std::string value = kv->value() != nullptr ? kv->value()->str() : "";
                    if (!r.configs.emplace(key, value).second) {
                        r.duplicate_config = key;
                    }
                }
            }
            topics.push_back(std::move(r));
        }
    }
    auto results = co_await ctx.broker.admin.create_topics(std::move(topics), c->validate_only());
    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    auto body = fbs::CreateCreateTopicsResponse(fbb, results_of(fbb, results));
    finish_response(*r, *req.envelope, fbs::Body::CreateTopicsResponse, body.Union());
    co_return handler_result{std::move(r), ""};
}

awaitable<handler_result> handle_delete_topics(request_context& ctx, request& req) {
    const auto* d = req.envelope->body_as_DeleteTopicsRequest();
    std::vector<std::string> names;
    if (d->names() != nullptr) {
        for (const auto* n : *d->names()) {
            names.push_back(n != nullptr ? n->str() : "");
        }
    }
    auto results = co_await ctx.broker.admin.delete_topics(std::move(names));
    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    auto body = fbs::CreateDeleteTopicsResponse(fbb, results_of(fbb, results));
    finish_response(*r, *req.envelope, fbs::Body::DeleteTopicsResponse, body.Union());
    co_return handler_result{std::move(r), ""};
}

}  // namespace sluice::broker
