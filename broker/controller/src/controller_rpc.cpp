#include "sluice/controller/controller_rpc.h"

#include <fmt/format.h>

#include "sluice/net/admin_bodies.h"
#include "sluice/protocol/frame.h"

namespace sluice::controller {
namespace {

using fb = flatbuffers::FlatBufferBuilder;
template <typename T>
using off = flatbuffers::Offset<T>;

namespace bodies = broker::bodies;

struct bad {
    std::string* why;
    std::nullopt_t operator()(std::string_view reason) const {
        if (why != nullptr) {
            *why = reason;
        }
        return std::nullopt;
    }
};

std::vector<std::byte> finish(frame::writer& w, fbs::ApiKey key, int32_t correlation,
                              fbs::Body type, off<void> body) {
    w.finish(frame::make_envelope(w.fbb(), key, 0, correlation, type, body));
    return w.to_bytes();
}

std::string str(const flatbuffers::String* s) {
    return s == nullptr ? std::string() : s->str();
}

// A broker list has at most this many entries (Kafka caps replicas at 32767; an ISR is a
// subset of them).
constexpr size_t id_list_max = 32767;

off<flatbuffers::Vector<int32_t>> ids(fb& b, const std::vector<node_id_t>& list) {
    std::vector<int32_t> raw;
    raw.reserve(list.size());
    for (node_id_t n : list) {
        raw.push_back(n.value());
    }
    return b.CreateVector(raw);
}

bool read_ids(const flatbuffers::Vector<int32_t>* v, std::vector<node_id_t>& out) {
    if (v == nullptr || v->size() > id_list_max) {
        return false;
    }
    for (int32_t n : *v) {
        out.push_back(node_id_t{n});
    }
    return true;
}

}  // namespace

bool is_topic_change(const rpc_call& call) {
    return std::holds_alternative<create_call>(call) || std::holds_alternative<delete_call>(call) ||
           std::holds_alternative<grow_call>(call) || std::holds_alternative<alter_call>(call) ||
           std::holds_alternative<elect_call>(call);
}

rpc_answer error_answer(const rpc_call& call, errc e, const std::string& message) {
    auto each = [&](const auto& topics) {
        std::vector<broker::topic_result> out;
        for (const auto& t : topics) {
            out.push_back({t.name, e, message});
        }
        return out;
    };
    return std::visit(
        [&](const auto& c) -> rpc_answer {
            using T = std::decay_t<decltype(c)>;
            if constexpr (std::is_same_v<T, broker_registration>) {
                return registration_result{e, message, -1};
            } else if constexpr (std::is_same_v<T, broker_heartbeat>) {
                return heartbeat_result{e, message, true, false};
            } else if constexpr (std::is_same_v<T, alter_partition_request>) {
                return alter_partition_result{e, message};
            } else if constexpr (std::is_same_v<T, producer_ids_request>) {
                return producer_ids_result{e, message};
            } else if constexpr (std::is_same_v<T, quorum_call>) {
                broker::quorum_status q;
                q.error = e;
                q.message = message;
                return q;
            } else if constexpr (std::is_same_v<T, elect_call>) {
                std::vector<broker::election_result> out;
                for (const auto& t : c.topics.empty() ? std::vector<std::string>{""} : c.topics) {
                    out.push_back({t, -1, e, message});
                }
                return out;
            } else if constexpr (std::is_same_v<T, delete_call>) {
                std::vector<broker::topic_result> out;
                for (const auto& n : c.names) {
                    out.push_back({n, e, message});
                }
                return out;
            } else {
                return each(c.topics);
            }
        },
        call);
}

void run_call(quorum_controller& c, rpc_call call, std::function<void(rpc_answer)> done) {
    auto topics = [done](std::vector<broker::topic_result> r) { done(std::move(r)); };
    if (auto* reg = std::get_if<broker_registration>(&call)) {
        c.register_broker(std::move(*reg), [done](registration_result r) { done(std::move(r)); });
    } else if (auto* hb = std::get_if<broker_heartbeat>(&call)) {
        c.heartbeat(*hb, [done](heartbeat_result r) { done(std::move(r)); });
    } else if (auto* ap = std::get_if<alter_partition_request>(&call)) {
        c.alter_partition(std::move(*ap), [done](alter_partition_result r) { done(std::move(r)); });
    } else if (auto* pi = std::get_if<producer_ids_request>(&call)) {
        c.allocate_producer_ids(*pi, [done](producer_ids_result r) { done(std::move(r)); });
    } else if (auto* cr = std::get_if<create_call>(&call)) {
        c.create_topics(std::move(cr->topics), cr->validate_only, topics);
    } else if (auto* d = std::get_if<delete_call>(&call)) {
        c.delete_topics(std::move(d->names), topics);
    } else if (auto* g = std::get_if<grow_call>(&call)) {
        c.add_partitions(std::move(g->topics), g->validate_only, topics);
    } else if (auto* a = std::get_if<alter_call>(&call)) {
        c.alter_configs(std::move(a->topics), a->validate_only, topics);
    } else if (auto* el = std::get_if<elect_call>(&call)) {
        c.elect_preferred_leaders(
            std::move(el->topics),
            [done](std::vector<broker::election_result> r) { done(std::move(r)); });
    } else {
        done(c.describe_quorum());
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
                                                    b.CreateVector(eps), b.CreateString(reg->rack),
                                                    reg->clean_shutdown)
                   .Union();
    } else if (const auto* hb = std::get_if<broker_heartbeat>(&r.call)) {
        type = fbs::ControllerCall::BrokerHeartbeatRequest;
        call = fbs::CreateBrokerHeartbeatRequest(b, hb->broker_epoch, hb->applied.value(),
                                                 hb->want_shutdown)
                   .Union();
    } else if (const auto* ap = std::get_if<alter_partition_request>(&r.call)) {
        const isr_change& c = ap->change;
        type = fbs::ControllerCall::AlterPartitionRequest;
        call = fbs::CreateAlterPartitionRequest(b, ap->broker_epoch, c.topic_id.hi, c.topic_id.lo,
                                                c.partition, c.leader_epoch.value(),
                                                c.partition_epoch, ids(b, c.isr))
                   .Union();
    } else if (const auto* pi = std::get_if<producer_ids_request>(&r.call)) {
        type = fbs::ControllerCall::AllocateProducerIdsRequest;
        call = fbs::CreateAllocateProducerIdsRequest(b, pi->broker_epoch).Union();
    } else if (const auto* c = std::get_if<create_call>(&r.call)) {
        type = fbs::ControllerCall::CreateTopicsRequest;
        call = bodies::write(b, c->topics, c->validate_only).Union();
    } else if (const auto* d = std::get_if<delete_call>(&r.call)) {
        type = fbs::ControllerCall::DeleteTopicsRequest;
        call = bodies::write(b, d->names).Union();
    } else if (const auto* g = std::get_if<grow_call>(&r.call)) {
        type = fbs::ControllerCall::CreatePartitionsRequest;
        call = bodies::write(b, g->topics, g->validate_only).Union();
    } else if (const auto* a = std::get_if<alter_call>(&r.call)) {
        type = fbs::ControllerCall::IncrementalAlterConfigsRequest;
        call = bodies::write(b, a->topics, a->validate_only).Union();
    } else if (const auto* el = std::get_if<elect_call>(&r.call)) {
        type = fbs::ControllerCall::ElectLeadersRequest;
        call = bodies::write_election(b, el->topics).Union();
    } else {
        type = fbs::ControllerCall::DescribeQuorumRequest;
        call = fbs::CreateDescribeQuorumRequest(b).Union();
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
    } else if (const auto* ap = std::get_if<alter_partition_result>(&r.answer)) {
        type = fbs::ControllerAnswer::AlterPartitionResponse;
        answer = fbs::CreateAlterPartitionResponse(
                     b, int16_t(ap->error), b.CreateString(ap->message), ap->leader_epoch.value(),
                     ap->partition_epoch, ids(b, ap->isr))
                     .Union();
    } else if (const auto* pi = std::get_if<producer_ids_result>(&r.answer)) {
        type = fbs::ControllerAnswer::AllocateProducerIdsResponse;
        answer = fbs::CreateAllocateProducerIdsResponse(
                     b, int16_t(pi->error), b.CreateString(pi->message), pi->first, pi->count)
                     .Union();
    } else if (const auto* q = std::get_if<broker::quorum_status>(&r.answer)) {
        type = fbs::ControllerAnswer::DescribeQuorumResponse;
        answer = bodies::write(b, *q).Union();
    } else if (const auto* el = std::get_if<std::vector<broker::election_result>>(&r.answer)) {
        type = fbs::ControllerAnswer::ElectLeadersResponse;
        answer = bodies::write(b, *el).Union();
    } else {
        // Every topic call's answer is a list of topic results.
        type = fbs::ControllerAnswer::CreateTopicsResponse;
        answer = fbs::CreateCreateTopicsResponse(
                     b, bodies::write(b, std::get<std::vector<broker::topic_result>>(r.answer)))
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
    // A topic call's body, read as the client listener reads it.
    auto topics = [&](const auto* body, auto make) -> bool {
        auto read = bodies::read(*body, why);
        if (!read) {
            return false;
        }
        out.call = make(std::move(*read), body);
        return true;
    };
    switch (m->call_type()) {
        case fbs::ControllerCall::BrokerRegistrationRequest: {
            const auto* r = m->call_as_BrokerRegistrationRequest();
            broker_registration reg;
            reg.id = out.from;
            reg.incarnation = uuid{r->incarnation_hi(), r->incarnation_lo()};
            reg.rack = str(r->rack());
            reg.clean_shutdown = r->clean_shutdown();
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
            return out;
        }
        case fbs::ControllerCall::BrokerHeartbeatRequest: {
            const auto* h = m->call_as_BrokerHeartbeatRequest();
            out.call = broker_heartbeat{out.from, h->broker_epoch(), offset_t(h->applied_offset()),
                                        h->want_shutdown()};
            return out;
        }
        case fbs::ControllerCall::CreateTopicsRequest:
            if (!topics(m->call_as_CreateTopicsRequest(), [](auto list, const auto* body) {
                    return create_call{std::move(list), body->validate_only()};
                })) {
                return std::nullopt;
            }
            return out;
        case fbs::ControllerCall::DeleteTopicsRequest:
            if (!topics(m->call_as_DeleteTopicsRequest(),
                        [](auto list, const auto*) { return delete_call{std::move(list)}; })) {
                return std::nullopt;
            }
            return out;
        case fbs::ControllerCall::CreatePartitionsRequest:
            if (!topics(m->call_as_CreatePartitionsRequest(), [](auto list, const auto* body) {
                    return grow_call{std::move(list), body->validate_only()};
                })) {
                return std::nullopt;
            }
            return out;
        case fbs::ControllerCall::IncrementalAlterConfigsRequest:
            if (!topics(m->call_as_IncrementalAlterConfigsRequest(),
                        [](auto list, const auto* body) {
                            return alter_call{std::move(list), body->validate_only()};
                        })) {
                return std::nullopt;
            }
            return out;
        case fbs::ControllerCall::DescribeQuorumRequest:
            out.call = quorum_call{};
            return out;
        case fbs::ControllerCall::ElectLeadersRequest: {
            auto names = bodies::read(*m->call_as_ElectLeadersRequest(), why);
            if (!names) {
                return std::nullopt;
            }
            out.call = elect_call{std::move(*names)};
            return out;
        }
        case fbs::ControllerCall::AlterPartitionRequest: {
            const auto* a = m->call_as_AlterPartitionRequest();
            alter_partition_request ap;
            ap.broker_epoch = a->broker_epoch();
            ap.change.leader = out.from;
            ap.change.topic_id = uuid{a->topic_id_hi(), a->topic_id_lo()};
            ap.change.partition = a->partition();
            ap.change.leader_epoch = leader_epoch_t{a->leader_epoch()};
            ap.change.partition_epoch = a->partition_epoch();
            if (!read_ids(a->isr(), ap.change.isr)) {
                return fail("an AlterPartitionRequest without an ISR, or with one too long");
            }
            out.call = std::move(ap);
            return out;
        }
        case fbs::ControllerCall::AllocateProducerIdsRequest:
            out.call = producer_ids_request{
                out.from, m->call_as_AllocateProducerIdsRequest()->broker_epoch()};
            return out;
        default:
            return fail("a ControllerRequest of unknown type");
    }
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
    const flatbuffers::Vector<off<fbs::TopicResult>>* results = nullptr;
    switch (m->answer_type()) {
        case fbs::ControllerAnswer::BrokerRegistrationResponse: {
            const auto* r = m->answer_as_BrokerRegistrationResponse();
            out.answer = registration_result{errc(r->error_code()), str(r->error_message()),
                                             r->broker_epoch()};
            return out;
        }
        case fbs::ControllerAnswer::BrokerHeartbeatResponse: {
            const auto* h = m->answer_as_BrokerHeartbeatResponse();
            out.answer = heartbeat_result{errc(h->error_code()), str(h->error_message()),
                                          h->fenced(), h->shutdown_ready()};
            return out;
        }
        case fbs::ControllerAnswer::AlterPartitionResponse: {
            const auto* a = m->answer_as_AlterPartitionResponse();
            alter_partition_result ap{errc(a->error_code()), str(a->error_message()),
                                      leader_epoch_t{a->leader_epoch()}, a->partition_epoch()};
            if (a->isr() != nullptr && !read_ids(a->isr(), ap.isr)) {
                return fail("an AlterPartitionResponse with an ISR too long");
            }
            out.answer = std::move(ap);
            return out;
        }
        case fbs::ControllerAnswer::AllocateProducerIdsResponse: {
            const auto* a = m->answer_as_AllocateProducerIdsResponse();
            producer_ids_result pi{errc(a->error_code()), str(a->error_message()),
                                   a->first_producer_id(), a->count()};
            if (pi.error == errc::none &&
                (pi.first < 0 || pi.count <= 0 || pi.first > INT64_MAX - pi.count)) {
                return fail("an AllocateProducerIdsResponse with a block that is none");
            }
            out.answer = std::move(pi);
            return out;
        }
        case fbs::ControllerAnswer::DescribeQuorumResponse: {
            auto q = bodies::read(*m->answer_as_DescribeQuorumResponse(), why);
            if (!q) {
                return std::nullopt;
            }
            out.answer = std::move(*q);
            return out;
        }
        case fbs::ControllerAnswer::ElectLeadersResponse: {
            auto el = bodies::read(*m->answer_as_ElectLeadersResponse(), why);
            if (!el) {
                return std::nullopt;
            }
            out.answer = std::move(*el);
            return out;
        }
        case fbs::ControllerAnswer::CreateTopicsResponse:
            results = m->answer_as_CreateTopicsResponse()->results();
            break;
        case fbs::ControllerAnswer::DeleteTopicsResponse:
            results = m->answer_as_DeleteTopicsResponse()->results();
            break;
        case fbs::ControllerAnswer::CreatePartitionsResponse:
            results = m->answer_as_CreatePartitionsResponse()->results();
            break;
        case fbs::ControllerAnswer::IncrementalAlterConfigsResponse:
            results = m->answer_as_IncrementalAlterConfigsResponse()->results();
            break;
        default:
            return fail("a ControllerResponse of unknown type");
    }
    auto list = bodies::read(results, why);
    if (!list) {
        return std::nullopt;
    }
    out.answer = std::move(*list);
    return out;
}

}  // namespace sluice::controller
