// Request dispatch and the ApiVersions answer.
#include <fmt/format.h>

#include "request.h"
#include "sluice/protocol/api.h"

namespace sluice::broker {
namespace {

// The request body type each API key must carry.
fbs::Body expected_body(fbs::ApiKey key) {
    switch (key) {
        case fbs::ApiKey::Produce:
            return fbs::Body::ProduceRequest;
        case fbs::ApiKey::Fetch:
            return fbs::Body::FetchRequest;
        case fbs::ApiKey::ListOffsets:
            return fbs::Body::ListOffsetsRequest;
        case fbs::ApiKey::Metadata:
            return fbs::Body::MetadataRequest;
        case fbs::ApiKey::ApiVersions:
            return fbs::Body::ApiVersionsRequest;
        case fbs::ApiKey::CreateTopics:
            return fbs::Body::CreateTopicsRequest;
        case fbs::ApiKey::DeleteTopics:
            return fbs::Body::DeleteTopicsRequest;
    }
    return fbs::Body::NONE;
}

}  // namespace

void finish_response(response& r, const fbs::Envelope& req, fbs::Body type,
                     flatbuffers::Offset<void> body) {
    auto& fbb = r.writer.fbb();
    r.writer.finish(frame::make_envelope(fbb, req.api_key(), req.api_version(),
                                         req.correlation_id(), type, body));
}

std::unique_ptr<response> error_response(const fbs::Envelope& req, errc code,
                                         std::string_view message) {
    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    auto body = fbs::CreateErrorResponse(fbb, int16_t(code), fbb.CreateString(message));
    finish_response(*r, req, fbs::Body::ErrorResponse, body.Union());
    return r;
}

awaitable<handler_result> handle_request(request_context& ctx, request& req) {
    const fbs::Envelope& env = *req.envelope;
    const auto* range = api::find(env.api_key());
    if (range == nullptr) {
        co_return handler_result{
            error_response(env, errc::unsupported_version,
                           fmt::format("unknown API key {}", int(env.api_key()))),
            ""};
    }
    if (env.api_version() < range->min_version || env.api_version() > range->max_version) {
        co_return handler_result{
            error_response(env, errc::unsupported_version,
                           fmt::format("{} version {} is not supported (versions {} to {} are)",
                                       fbs::EnumNameApiKey(env.api_key()), env.api_version(),
                                       range->min_version, range->max_version)),
            ""};
    }
    if (env.body_type() != expected_body(env.api_key())) {
        co_return handler_result{
            error_response(env, errc::invalid_request,
                           fmt::format("a {} request must carry a {} body, not {}",
                                       fbs::EnumNameApiKey(env.api_key()),
                                       fbs::EnumNameBody(expected_body(env.api_key())),
                                       fbs::EnumNameBody(env.body_type()))),
            ""};
    }
    switch (env.api_key()) {
        case fbs::ApiKey::Produce:
            co_return co_await handle_produce(ctx, req);
        case fbs::ApiKey::Fetch:
            co_return co_await handle_fetch(ctx, req);
        case fbs::ApiKey::ListOffsets:
            co_return co_await handle_list_offsets(ctx, req);
        case fbs::ApiKey::Metadata:
            co_return co_await handle_metadata(ctx, req);
        case fbs::ApiKey::ApiVersions:
            co_return co_await handle_api_versions(ctx, req);
        case fbs::ApiKey::CreateTopics:
            co_return co_await handle_create_topics(ctx, req);
        case fbs::ApiKey::DeleteTopics:
            co_return co_await handle_delete_topics(ctx, req);
    }
    co_return handler_result{error_response(env, errc::unsupported_version, "unknown API"), ""};
}

awaitable<handler_result> handle_api_versions(request_context&, request& req) {
    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    std::vector<flatbuffers::Offset<fbs::ApiVersionRange>> apis;
    for (const auto& v : api::supported) {
        apis.push_back(fbs::CreateApiVersionRange(fbb, v.key, v.min_version, v.max_version));
    }
    auto body = fbs::CreateApiVersionsResponse(fbb, 0, fbb.CreateVector(apis));
    finish_response(*r, *req.envelope, fbs::Body::ApiVersionsResponse, body.Union());
    co_return handler_result{std::move(r), ""};
}

}  // namespace sluice::broker
