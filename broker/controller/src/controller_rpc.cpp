#include "sluice/controller/controller_rpc.h"

#include <fmt/format.h>

#include "sluice/protocol/frame.h"

namespace sluice::controller {
namespace {

using fb = flatbuffers::FlatBufferBuilder;
template <typename T>
using off = flatbuffers::Offset<T>;

// Bounds a decoded request may not exceed (a hostile frame cannot make a huge one).
constexpr size_t list_max = 100000;

struct bad {
    std::string* why;
    std::nullopt_t operator()(std::string_view reason) const {
        if (why != nullptr) {
            *why = reason;
        }
        return std::nullopt;
    }
};

off<flatbuffers::Vector<off<fbs::TopicResult>>> encode_results(
    fb& b, const std::vector<broker::topic_result>& results) {
    std::vector<off<fbs::TopicResult>> out;
    for (const auto& r : results) {
        out.push_back(fbs::CreateTopicResult(b, b.CreateString(r.name), int16_t(r.error),
                                             b.CreateString(r.message)));
    }
    return b.CreateVector(out);
}

std::vector<std::byte> finish(frame::writer& w, fbs::ApiKey key, int32_t correlation,
                              fbs::Body type, off<void> body) {
    w.finish(frame::make_envelope(w.fbb(), key, 0, correlation, type, body));
    return w.to_bytes();
}

std::string str(const flatbuffers::String* s) {
    return s == nullptr ? std::string() : s->str();
}

}  // namespace

rpc_answer error_answer(const rpc_call& call, errc e, const std::string& message) {
    if (std::holds_alternative<broker_registration>(call)) {
        return registration_result{e, message, -1};
    }
    if (std::holds_alternative<broker_heartbeat>(call)) {
        return heartbeat_result{e, message, true, false};
    }
    std::vector<broker::topic_result> out;
    if (const auto* c = std::get_if<create_call>(&call)) {
        for (const auto& t : c->topics) {
            out.push_back({t.name, e, message});
        }
    } else {
        for (const auto& n : std::get<delete_call>(call).names) {
            out.push_back({n, e, message});
        }
    }
    return out;
}

void run_call(quorum_controller& c, rpc_call call, std::function<void(rpc_answer)> done) {
    if (auto* reg = std::get_if<broker_registration>(&call)) {
        c.register_broker(std::move(*reg), [done](registration_result r) { done(std::move(r)); });
    } else if (auto* hb = std::get_if<broker_heartbeat>(&call)) {
        c.heartbeat(*hb, [done](heartbeat_result r) { done(std::move(r)); });
    } else if (auto* cr = std::get_if<create_call>(&call)) {
        c.create_topics(std::move(cr->topics), cr->validate_only,
                        [done](std::vector<broker::topic_result> r) { done(std::move(r)); });
    } else {
        c.delete_topics(std::move(std::get<delete_call>(call).names),
                        [done](std::vector<broker::topic_result> r) { done(std::move(r)); });
    }
}

std::optional<controller_frame> frame_kind(std::span<const std::byte> frame) {
    auto f = frame::parse(frame);
    if (!f) {
        return std::nullopt;
    }
    switch (f.value().envelope->api_key()) {
        case fbs::ApiKey::RaftMessage:
            return controller_frame::raft;
        case fbs::ApiKey::ControllerRequest:
            return controller_frame::request;
        case fbs::ApiKey::ControllerResponse:
            return controller_frame::response;
        default:
            return controller_frame::other;
    }
}

std::vector<std::byte> encode_rpc_request(const rpc_request& r) {
    frame::writer w;
    fb& b = w.fbb();
    fbs::ControllerCall type = fbs::ControllerCall::NONE;
    off<void> call = 0;
    if (const auto* reg = std::get_if<broker_registration>(&r.call)) {
        std::vector<off<fbs::BrokerEndpoint>> eps;
        for (const auto& e : reg->endpoints) {
            eps.push_back(fbs::CreateBrokerEndpoint(b, b.CreateString(e.listener),
                                                    b.CreateString(e.host), e.port));
        }
        type = fbs::ControllerCall::BrokerRegistrationRequest;
        call = fbs::CreateBrokerRegistrationRequest(b, reg->incarnation.hi, reg->incarnation.lo,
                                                    b.CreateVector(eps), b.CreateString(reg->rack))
                   .Union();
    } else if (const auto* hb = std::get_if<broker_heartbeat>(&r.call)) {
        type = fbs::ControllerCall::BrokerHeartbeatRequest;
        call = fbs::CreateBrokerHeartbeatRequest(b, hb->broker_epoch, hb->applied.value(),
                                                 hb->want_shutdown)
                   .Union();
    } else if (const auto* c = std::get_if<create_call>(&r.call)) {
        std::vector<off<fbs::CreatableTopic>> topics;
        for (const auto& t : c->topics) {
            std::vector<off<fbs::TopicConfig>> configs;
            for (const auto& [k, v] : t.configs) {
                configs.push_back(fbs::CreateTopicConfig(b, b.CreateString(k), b.CreateString(v)));
            }
            topics.push_back(fbs::CreateCreatableTopic(b, b.CreateString(t.name), t.partitions,
                                                       t.replication_factor,
                                                       b.CreateVector(configs)));
        }
        type = fbs::ControllerCall::CreateTopicsRequest;
        call = fbs::CreateCreateTopicsRequest(b, b.CreateVector(topics), 30000, c->validate_only)
                   .Union();
    } else {
        const auto& d = std::get<delete_call>(r.call);
        std::vector<off<flatbuffers::String>> names;
        for (const auto& n : d.names) {
            names.push_back(b.CreateString(n));
        }
        type = fbs::ControllerCall::DeleteTopicsRequest;
        call = fbs::CreateDeleteTopicsRequest(b, b.CreateVector(names)).Union();
    }
    const auto body =
        fbs::CreateControllerRequest(b, b.CreateString(r.cluster_id), r.from.value(), type, call);
    return finish(w, fbs::ApiKey::ControllerRequest, r.correlation, fbs::Body::ControllerRequest,
                  body.Union());
}

std::vector<std::byte> encode_rpc_response(const rpc_response& r) {
    frame::writer w;
    fb& b = w.fbb();
    fbs::ControllerAnswer type = fbs::ControllerAnswer::NONE;
    off<void> answer = 0;
    if (const auto* reg = std::get_if<registration_result>(&r.answer)) {
        type = fbs::ControllerAnswer::BrokerRegistrationResponse;
        answer = fbs::CreateBrokerRegistrationResponse(
                     b, int16_t(reg->error), b.CreateString(reg->message), reg->broker_epoch)
                     .Union();
    } else if (const auto* hb = std::get_if<heartbeat_result>(&r.answer)) {
        type = fbs::ControllerAnswer::BrokerHeartbeatResponse;
        answer =
            fbs::CreateBrokerHeartbeatResponse(b, int16_t(hb->error), b.CreateString(hb->message),
                                               hb->fenced, hb->shutdown_ready)
                .Union();
    } else {
        type = fbs::ControllerAnswer::CreateTopicsResponse;
        answer = fbs::CreateCreateTopicsResponse(
                     b, encode_results(b, std::get<std::vector<broker::topic_result>>(r.answer)))
                     .Union();
    }
    const auto body = fbs::CreateControllerResponse(b, b.CreateString(r.cluster_id), type, answer,
                                                    r.metadata_offset.value());
    return finish(w, fbs::ApiKey::ControllerResponse, r.correlation, fbs::Body::ControllerResponse,
                  body.Union());
}

std::optional<rpc_request> decode_rpc_request(std::span<const std::byte> frame_bytes,
                                              std::string* why) {
    const bad fail{why};
    auto f = frame::parse(frame_bytes);
    if (!f || f.value().envelope->api_key() != fbs::ApiKey::ControllerRequest) {
        return fail("not a ControllerRequest frame");
    }
    const auto* m = f.value().envelope->body_as_ControllerRequest();
    if (m == nullptr || m->cluster_id() == nullptr || m->from() < 0 || m->call() == nullptr) {
        return fail("a ControllerRequest without a cluster id, a broker id or a call");
    }
    rpc_request out;
    out.cluster_id = m->cluster_id()->str();
    out.correlation = f.value().envelope->correlation_id();
    out.from = node_id_t(m->from());
    switch (m->call_type()) {
        case fbs::ControllerCall::BrokerRegistrationRequest: {
            const auto* r = m->call_as_BrokerRegistrationRequest();
            broker_registration reg;
            reg.id = out.from;
            reg.incarnation = uuid{r->incarnation_hi(), r->incarnation_lo()};
            reg.rack = str(r->rack());
            if (r->endpoints() == nullptr || r->endpoints()->size() > 16) {
                return fail("a registration without endpoints");
            }
            for (const auto* e : *r->endpoints()) {
                if (e == nullptr || e->listener() == nullptr || e->host() == nullptr ||
                    e->port() <= 0 || e->port() > 65535) {
                    return fail("a registration with a bad endpoint");
                }
                reg.endpoints.push_back({e->listener()->str(), e->host()->str(), e->port()});
            }
            out.call = std::move(reg);
            break;
        }
        case fbs::ControllerCall::BrokerHeartbeatRequest: {
            const auto* h = m->call_as_BrokerHeartbeatRequest();
            out.call = broker_heartbeat{out.from, h->broker_epoch(), offset_t(h->applied_offset()),
                                        h->want_shutdown()};
            break;
        }
        case fbs::ControllerCall::CreateTopicsRequest: {
            const auto* c = m->call_as_CreateTopicsRequest();
            create_call call;
            call.validate_only = c->validate_only();
            if (c->topics() == nullptr || c->topics()->size() > list_max) {
                return fail("a CreateTopics call without topics");
            }
            for (const auto* t : *c->topics()) {
                if (t == nullptr || t->name() == nullptr) {
                    return fail("a CreateTopics call with a nameless topic");
                }
                broker::create_topic_request req{
                    t->name()->str(), t->num_partitions(), t->replication_factor(), {}, {}};
                if (t->configs() != nullptr) {
                    for (const auto* kv : *t->configs()) {
                        if (kv == nullptr || kv->key() == nullptr || kv->value() == nullptr) {
                            return fail(
                                "a CreateTopics call with a config missing its key or value");
                        }
                        if (!req.configs.emplace(kv->key()->str(), kv->value()->str()).second) {
                            req.duplicate_config = kv->key()->str();
                        }
                    }
                }
                call.topics.push_back(std::move(req));
            }
            out.call = std::move(call);
            break;
        }
        case fbs::ControllerCall::DeleteTopicsRequest: {
            const auto* d = m->call_as_DeleteTopicsRequest();
            delete_call call;
            if (d->names() == nullptr || d->names()->size() > list_max) {
                return fail("a DeleteTopics call without names");
            }
            for (const auto* n : *d->names()) {
                if (n == nullptr) {
                    return fail("a DeleteTopics call with a null name");
                }
                call.names.push_back(n->str());
            }
            out.call = std::move(call);
            break;
        }
        default:
            return fail("a ControllerRequest of unknown type");
    }
    return out;
}

std::optional<rpc_response> decode_rpc_response(std::span<const std::byte> frame_bytes,
                                                std::string* why) {
    const bad fail{why};
    auto f = frame::parse(frame_bytes);
    if (!f || f.value().envelope->api_key() != fbs::ApiKey::ControllerResponse) {
        return fail("not a ControllerResponse frame");
    }
    const auto* m = f.value().envelope->body_as_ControllerResponse();
    if (m == nullptr || m->cluster_id() == nullptr || m->answer() == nullptr) {
        return fail("a ControllerResponse without a cluster id or an answer");
    }
    rpc_response out;
    out.cluster_id = m->cluster_id()->str();
    out.correlation = f.value().envelope->correlation_id();
    out.metadata_offset = offset_t(m->metadata_offset());
    switch (m->answer_type()) {
        case fbs::ControllerAnswer::BrokerRegistrationResponse: {
            const auto* r = m->answer_as_BrokerRegistrationResponse();
            out.answer = registration_result{errc(r->error_code()), str(r->error_message()),
                                             r->broker_epoch()};
            break;
        }
        case fbs::ControllerAnswer::BrokerHeartbeatResponse: {
            const auto* h = m->answer_as_BrokerHeartbeatResponse();
            out.answer = heartbeat_result{errc(h->error_code()), str(h->error_message()),
                                          h->fenced(), h->shutdown_ready()};
            break;
        }
        case fbs::ControllerAnswer::CreateTopicsResponse:
        case fbs::ControllerAnswer::DeleteTopicsResponse: {
            const auto* results = m->answer_type() == fbs::ControllerAnswer::CreateTopicsResponse
                                      ? m->answer_as_CreateTopicsResponse()->results()
                                      : m->answer_as_DeleteTopicsResponse()->results();
            std::vector<broker::topic_result> list;
            if (results != nullptr) {
                for (const auto* r : *results) {
                    if (r == nullptr) {
                        return fail("a topic answer with a null result");
                    }
                    list.push_back(
                        {str(r->name()), errc(r->error_code()), str(r->error_message())});
                }
            }
            out.answer = std::move(list);
            break;
        }
        default:
            return fail("a ControllerResponse of unknown type");
    }
    return out;
}

}  // namespace sluice::controller
