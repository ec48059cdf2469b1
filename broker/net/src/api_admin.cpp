// The admin APIs: CreateTopics, DeleteTopics, CreatePartitions, IncrementalAlterConfigs,
// ElectLeaders, DescribeQuorum and InitProducerId go to the metadata source (topic_admin.h);
// DescribeConfigs is
// answered from the cluster view. Each translates the request into plain types (admin_bodies.h) and
// back.
#include "sluice/net/admin_bodies.h"
#include "sluice/net/request.h"

namespace sluice::broker {
namespace {

handler_result reply(request& req, fbs::Body type, std::unique_ptr<response> r,
                     flatbuffers::Offset<void> body) {
    finish_response(*r, *req.envelope, type, body);
    return handler_result{std::move(r), ""};
}

handler_result malformed(request& req, const std::string& why) {
    return handler_result{error_response(*req.envelope, errc::invalid_request, why), ""};
}

template <typename T>
constexpr fbs::Body body_type(flatbuffers::Offset<T>) {
    return fbs::BodyTraits<T>::enum_value;
}

fbs::ConfigSource source_of(config_view::source s) {
    return s == config_view::source::topic_override ? fbs::ConfigSource::TopicOverride
                                                    : fbs::ConfigSource::BrokerDefault;
}

}  // namespace

// A topic call: reads the body's list (answering INVALID_REQUEST if it is malformed), hands it
// to `ask(list, body)`, and answers with the response table `make(fbb, results)` builds.
template <typename Body, typename Ask, typename Make>
awaitable<handler_result> topic_call(request& req, const Body& body, Ask ask, Make make) {
    std::string why;
    auto list = bodies::read(body, &why);
    if (!list) {
        co_return malformed(req, why);
    }
    // By reference: the list lives in this frame while the metadata source's coroutine runs.
    auto results = co_await ask(*list, body);
    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    const auto out = make(fbb, bodies::write(fbb, results));
    co_return reply(req, body_type(out), std::move(r), out.Union());
}

awaitable<handler_result> handle_create_topics(request_context& ctx, request& req) {
    co_return co_await topic_call(
        req, *req.envelope->body_as_CreateTopicsRequest(),
        [&](auto& list, const auto& body) {
            return ctx.broker.admin.create_topics(std::move(list), body.validate_only());
        },
        [](auto& fbb, auto results) { return fbs::CreateCreateTopicsResponse(fbb, results); });
}

awaitable<handler_result> handle_delete_topics(request_context& ctx, request& req) {
    co_return co_await topic_call(
        req, *req.envelope->body_as_DeleteTopicsRequest(),
        [&](auto& list, const auto&) { return ctx.broker.admin.delete_topics(std::move(list)); },
        [](auto& fbb, auto results) { return fbs::CreateDeleteTopicsResponse(fbb, results); });
}

awaitable<handler_result> handle_create_partitions(request_context& ctx, request& req) {
    co_return co_await topic_call(
        req, *req.envelope->body_as_CreatePartitionsRequest(),
        [&](auto& list, const auto& body) {
            return ctx.broker.admin.add_partitions(std::move(list), body.validate_only());
        },
        [](auto& fbb, auto results) { return fbs::CreateCreatePartitionsResponse(fbb, results); });
}

awaitable<handler_result> handle_alter_configs(request_context& ctx, request& req) {
    co_return co_await topic_call(
        req, *req.envelope->body_as_IncrementalAlterConfigsRequest(),
        [&](auto& list, const auto& body) {
            return ctx.broker.admin.alter_configs(std::move(list), body.validate_only());
        },
        [](auto& fbb, auto results) {
            return fbs::CreateIncrementalAlterConfigsResponse(fbb, results);
        });
}

awaitable<handler_result> handle_describe_configs(request_context& ctx, request& req) {
    const auto* d = req.envelope->body_as_DescribeConfigsRequest();
    if (d->topics() != nullptr && d->topics()->size() > bodies::list_max) {
        co_return malformed(req, "a DescribeConfigs request with too many topics");
    }
    // Each name is echoed: their bytes are bounded as a decoder bounds them (they may share one
    // string in the frame).
    size_t text = 0;
    if (d->topics() != nullptr) {
        for (const auto* t : *d->topics()) {
            text += t != nullptr ? t->size() : 0;
            if (text > bodies::decoded_bytes_max) {
                co_return malformed(req,
                                    "a DescribeConfigs request whose names add up to more "
                                    "than 16 MiB");
            }
        }
    }
    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    std::vector<flatbuffers::Offset<fbs::TopicConfigs>> results;
    if (d->topics() != nullptr) {
        for (const auto* t : *d->topics()) {
            const std::string name = t != nullptr ? t->str() : std::string();
            auto configs = ctx.broker.cluster != nullptr ? ctx.broker.cluster->topic_configs(name)
                                                         : std::nullopt;
            if (!configs) {
                results.push_back(fbs::CreateTopicConfigs(
                    fbb, fbb.CreateString(name), int16_t(errc::unknown_topic_or_partition),
                    fbb.CreateString("no topic '" + name + "' exists")));
                continue;
            }
            std::vector<flatbuffers::Offset<fbs::ConfigEntry>> entries;
            for (const auto& c : *configs) {
                entries.push_back(fbs::CreateConfigEntry(
                    fbb, fbb.CreateString(c.name), fbb.CreateString(c.value), source_of(c.from)));
            }
            results.push_back(fbs::CreateTopicConfigs(fbb, fbb.CreateString(name), 0, 0,
                                                      fbb.CreateVector(entries)));
        }
    }
    auto body = fbs::CreateDescribeConfigsResponse(fbb, fbb.CreateVector(results));
    co_return reply(req, fbs::Body::DescribeConfigsResponse, std::move(r), body.Union());
}

awaitable<handler_result> handle_elect_leaders(request_context& ctx, request& req) {
    std::string why;
    auto topics = bodies::read(*req.envelope->body_as_ElectLeadersRequest(), &why);
    if (!topics) {
        co_return malformed(req, why);
    }
    auto results = co_await ctx.broker.admin.elect_leaders(std::move(*topics));
    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    auto body = bodies::write(fbb, results);
    co_return reply(req, fbs::Body::ElectLeadersResponse, std::move(r), body.Union());
}

awaitable<handler_result> handle_init_producer_id(request_context& ctx, request& req) {
    const auto* in = req.envelope->body_as_InitProducerIdRequest();
    producer_id_grant g;
    if (in->transactional_id() != nullptr && in->transactional_id()->size() > 0) {
        g.error = errc::invalid_request;
        g.message =
            "transactions are not supported yet: leave transactional.id unset for an idempotent "
            "producer";
    } else {
        // Without a transactional id a producer always gets a new id (as in Kafka): one that
        // lost its state bumps its own epoch instead (KIP-360).
        g = co_await ctx.broker.admin.init_producer_id();
    }
    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    auto body = fbs::CreateInitProducerIdResponse(
        fbb, int16_t(g.error), fbb.CreateString(g.message), g.id.value(), g.epoch.value());
    co_return reply(req, fbs::Body::InitProducerIdResponse, std::move(r), body.Union());
}

awaitable<handler_result> handle_describe_quorum(request_context& ctx, request& req) {
    auto status = co_await ctx.broker.admin.describe_quorum();
    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    auto body = bodies::write(fbb, status);
    co_return reply(req, fbs::Body::DescribeQuorumResponse, std::move(r), body.Union());
}

}  // namespace sluice::broker
