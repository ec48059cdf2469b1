// Request dispatch and the ApiVersions answer.
#include <fmt/format.h>

#include "sluice/net/request.h"
#include "sluice/protocol/api.h"

namespace sluice::broker {
namespace {

using handler_fn = awaitable<handler_result> (*)(request_context&, request&);

// One row per API: its key, the versions this build speaks (shared with the clients through
// api::supported), the request body it must carry, and its handler.
struct api_row {
    fbs::ApiKey key;
    const api::version_range* versions;
    fbs::Body body;
    handler_fn handler;
};

constexpr api_row api_table[] = {
    {fbs::ApiKey::Produce, api::find(fbs::ApiKey::Produce), fbs::Body::ProduceRequest,
     handle_produce},
    {fbs::ApiKey::Fetch, api::find(fbs::ApiKey::Fetch), fbs::Body::FetchRequest, handle_fetch},
    {fbs::ApiKey::ListOffsets, api::find(fbs::ApiKey::ListOffsets), fbs::Body::ListOffsetsRequest,
     handle_list_offsets},
    {fbs::ApiKey::Metadata, api::find(fbs::ApiKey::Metadata), fbs::Body::MetadataRequest,
     handle_metadata},
    {fbs::ApiKey::ApiVersions, api::find(fbs::ApiKey::ApiVersions), fbs::Body::ApiVersionsRequest,
     handle_api_versions},
    {fbs::ApiKey::CreateTopics, api::find(fbs::ApiKey::CreateTopics),
     fbs::Body::CreateTopicsRequest, handle_create_topics},
    {fbs::ApiKey::DeleteTopics, api::find(fbs::ApiKey::DeleteTopics),
     fbs::Body::DeleteTopicsRequest, handle_delete_topics},
    {fbs::ApiKey::DescribeConfigs, api::find(fbs::ApiKey::DescribeConfigs),
     fbs::Body::DescribeConfigsRequest, handle_describe_configs},
    {fbs::ApiKey::CreatePartitions, api::find(fbs::ApiKey::CreatePartitions),
     fbs::Body::CreatePartitionsRequest, handle_create_partitions},
    {fbs::ApiKey::IncrementalAlterConfigs, api::find(fbs::ApiKey::IncrementalAlterConfigs),
     fbs::Body::IncrementalAlterConfigsRequest, handle_alter_configs},
    {fbs::ApiKey::DescribeQuorum, api::find(fbs::ApiKey::DescribeQuorum),
     fbs::Body::DescribeQuorumRequest, handle_describe_quorum},
    {fbs::ApiKey::ElectLeaders, api::find(fbs::ApiKey::ElectLeaders),
     fbs::Body::ElectLeadersRequest, handle_elect_leaders},
    {fbs::ApiKey::InitProducerId, api::find(fbs::ApiKey::InitProducerId),
     fbs::Body::InitProducerIdRequest, handle_init_producer_id},
    {fbs::ApiKey::FindCoordinator, api::find(fbs::ApiKey::FindCoordinator),
     fbs::Body::FindCoordinatorRequest, handle_find_coordinator},
    {fbs::ApiKey::JoinGroup, api::find(fbs::ApiKey::JoinGroup), fbs::Body::JoinGroupRequest,
     handle_join_group},
    {fbs::ApiKey::SyncGroup, api::find(fbs::ApiKey::SyncGroup), fbs::Body::SyncGroupRequest,
     handle_sync_group},
    {fbs::ApiKey::Heartbeat, api::find(fbs::ApiKey::Heartbeat), fbs::Body::HeartbeatRequest,
     handle_heartbeat},
    {fbs::ApiKey::LeaveGroup, api::find(fbs::ApiKey::LeaveGroup), fbs::Body::LeaveGroupRequest,
     handle_leave_group},
    {fbs::ApiKey::OffsetCommit, api::find(fbs::ApiKey::OffsetCommit),
     fbs::Body::OffsetCommitRequest, handle_offset_commit},
    {fbs::ApiKey::OffsetFetch, api::find(fbs::ApiKey::OffsetFetch), fbs::Body::OffsetFetchRequest,
     handle_offset_fetch},
    {fbs::ApiKey::ListGroups, api::find(fbs::ApiKey::ListGroups), fbs::Body::ListGroupsRequest,
     handle_list_groups},
    {fbs::ApiKey::DescribeGroups, api::find(fbs::ApiKey::DescribeGroups),
     fbs::Body::DescribeGroupsRequest, handle_describe_groups},
    {fbs::ApiKey::DeleteGroups, api::find(fbs::ApiKey::DeleteGroups),
     fbs::Body::DeleteGroupsRequest, handle_delete_groups},
};

// Every API the clients are told about has a row, and every row has versions.
constexpr bool table_complete() {
    for (const auto& v : api::supported) {
        bool found = false;
        for (const auto& row : api_table) {
            found = found || (row.key == v.key && row.versions == api::find(v.key));
        }
        if (!found) {
            return false;
        }
    }
    return std::size(api_table) == api::supported.size();
}
static_assert(table_complete(), "api_table and api::supported must list the same APIs");

const api_row* find_row(fbs::ApiKey key) {
    for (const auto& row : api_table) {
        if (row.key == key) {
            return &row;
        }
    }
    return nullptr;
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

// Every check a handler relies on happens here, before it runs: a known API, a supported
// version, the body type that API takes, and a body that is present (a verified envelope may name
// a body type and still carry no body). Handlers may then take the body as non-null.
awaitable<handler_result> handle_request(request_context& ctx, request& req) {
    const fbs::Envelope& env = *req.envelope;
    const api_row* row = find_row(env.api_key());
    if (row == nullptr) {
        co_return handler_result{
            error_response(env, errc::unsupported_version,
                           fmt::format("unknown API key {}", int(env.api_key()))),
            ""};
    }
    const auto& v = *row->versions;
    if (env.api_version() < v.min_version || env.api_version() > v.max_version) {
        co_return handler_result{
            error_response(env, errc::unsupported_version,
                           fmt::format("{} version {} is not supported (versions {} to {} are)",
                                       fbs::EnumNameApiKey(env.api_key()), env.api_version(),
                                       v.min_version, v.max_version)),
            ""};
    }
    if (env.body_type() != row->body) {
        co_return handler_result{
            error_response(
                env, errc::invalid_request,
                fmt::format("a {} request must carry a {} body, not {}",
                            fbs::EnumNameApiKey(env.api_key()), fbs::EnumNameBody(row->body),
                            fbs::EnumNameBody(env.body_type()))),
            ""};
    }
    if (env.body() == nullptr) {
        co_return handler_result{
            error_response(
                env, errc::invalid_request,
                fmt::format("the {} request names a {} body but carries none",
                            fbs::EnumNameApiKey(env.api_key()), fbs::EnumNameBody(row->body))),
            ""};
    }
    co_return co_await row->handler(ctx, req);
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
