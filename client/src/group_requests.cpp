#include "sluice/client/internal/group_requests.h"

#include <cstring>

#include "request_codec.h"

namespace sluice::client {
namespace {

using namespace codec;

std::optional<std::string> opt(const flatbuffers::String* s) {
    return s ? std::optional<std::string>(s->str()) : std::nullopt;
}

std::string bytes(const flatbuffers::Vector<uint8_t>* v) {
    return v ? std::string(reinterpret_cast<const char*>(v->data()), v->size()) : std::string();
}

flatbuffers::Offset<flatbuffers::Vector<uint8_t>> byte_vector(fbb_t& fbb, std::string_view s) {
    return fbb.CreateVector(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>> string_vector(
    fbb_t& fbb, std::span<const std::string> list) {
    std::vector<flatbuffers::Offset<flatbuffers::String>> out;
    for (const auto& s : list) {
        out.push_back(fbb.CreateString(s));
    }
    return fbb.CreateVector(out);
}

flatbuffers::Offset<flatbuffers::String> opt_string(fbb_t& fbb,
                                                    const std::optional<std::string>& s) {
    return s ? fbb.CreateString(*s) : 0;
}

// A FlatBuffer of root `T` in `bytes` (any alignment), verified.
template <typename T>
const T* verified_root(std::string_view in, std::vector<uint64_t>& words) {
    const size_t n = in.size();
    if (n == 0 || n > frame::frame_bytes_max_default) {
        return nullptr;
    }
    words.assign((n + 7) / 8, 0);
    std::memcpy(words.data(), in.data(), n);
    const auto* p = reinterpret_cast<const uint8_t*>(words.data());
    flatbuffers::Verifier v(p, n);
    if (!v.VerifyBuffer<T>(nullptr)) {
        return nullptr;
    }
    return flatbuffers::GetRoot<T>(p);
}

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fbs::TopicPartitions>>>
write_partitions(fbb_t& fbb, const partition_map& m) {
    std::vector<flatbuffers::Offset<fbs::TopicPartitions>> out;
    for (const auto& [topic, parts] : m) {
        out.push_back(
            fbs::CreateTopicPartitions(fbb, fbb.CreateString(topic), fbb.CreateVector(parts)));
    }
    return fbb.CreateVector(out);
}

partition_map read_partitions(
    const flatbuffers::Vector<flatbuffers::Offset<fbs::TopicPartitions>>* v) {
    partition_map out;
    for (const auto* t : items(v)) {
        auto& list = out[str(t->topic())];
        auto more = ints(t->partitions());
        list.insert(list.end(), more.begin(), more.end());
    }
    return out;
}

}  // namespace

std::unique_ptr<frame::writer> encode_find_coordinator(int32_t id, std::string_view client_id,
                                                       std::string_view group_id) {
    auto w = std::make_unique<frame::writer>();
    auto& b = w->fbb();
    const auto body = fbs::CreateFindCoordinatorRequest(b, b.CreateString(group_id), 0);
    return finish(std::move(w), fbs::ApiKey::FindCoordinator, id, client_id,
                  fbs::Body::FindCoordinatorRequest, body.Union());
}

result<coordinator_meta> decode_find_coordinator(const response& r) {
    SLUICE_TRY(const auto* b, body_of<fbs::FindCoordinatorResponse>(r));
    return coordinator_meta{static_cast<errc>(b->error_code()), str(b->error_message()),
                            b->node_id(), str(b->host()), b->port()};
}

std::unique_ptr<frame::writer> encode_join_group(int32_t id, std::string_view client_id,
                                                 const join_request& req) {
    auto w = std::make_unique<frame::writer>();
    auto& b = w->fbb();
    std::vector<flatbuffers::Offset<fbs::JoinGroupProtocol>> protocols;
    for (const auto& [name, meta] : req.protocols) {
        protocols.push_back(
            fbs::CreateJoinGroupProtocol(b, b.CreateString(name), byte_vector(b, meta)));
    }
    const auto body = fbs::CreateJoinGroupRequest(
        b, b.CreateString(req.group_id), req.session_timeout_ms, req.rebalance_timeout_ms,
        b.CreateString(req.member_id), opt_string(b, req.instance_id),
        b.CreateString(req.protocol_type), b.CreateVector(protocols), b.CreateString(req.reason));
    return finish(std::move(w), fbs::ApiKey::JoinGroup, id, client_id, fbs::Body::JoinGroupRequest,
                  body.Union());
}

result<join_answer> decode_join_group(const response& r) {
    SLUICE_TRY(const auto* b, body_of<fbs::JoinGroupResponse>(r));
    join_answer a;
    a.error = static_cast<errc>(b->error_code());
    a.message = str(b->error_message());
    a.generation = b->generation_id();
    a.protocol_type = str(b->protocol_type());
    a.protocol_name = str(b->protocol_name());
    a.leader = str(b->leader());
    a.member_id = str(b->member_id());
    for (const auto* m : items(b->members())) {
        a.members.push_back(join_member_meta{str(m->member_id()), opt(m->group_instance_id()),
                                             bytes(m->metadata())});
    }
    return a;
}

std::unique_ptr<frame::writer> encode_sync_group(int32_t id, std::string_view client_id,
                                                 const sync_request& req) {
    auto w = std::make_unique<frame::writer>();
    auto& b = w->fbb();
    std::vector<flatbuffers::Offset<fbs::SyncGroupAssignment>> assignments;
    for (const auto& [member, a] : req.assignments) {
        assignments.push_back(
            fbs::CreateSyncGroupAssignment(b, b.CreateString(member), byte_vector(b, a)));
    }
    const auto body = fbs::CreateSyncGroupRequest(
        b, b.CreateString(req.group_id), req.generation, b.CreateString(req.member_id),
        opt_string(b, req.instance_id), b.CreateString(req.protocol_type),
        b.CreateString(req.protocol_name), b.CreateVector(assignments));
    return finish(std::move(w), fbs::ApiKey::SyncGroup, id, client_id, fbs::Body::SyncGroupRequest,
                  body.Union());
}

result<sync_answer> decode_sync_group(const response& r) {
    SLUICE_TRY(const auto* b, body_of<fbs::SyncGroupResponse>(r));
    return sync_answer{static_cast<errc>(b->error_code()), str(b->error_message()),
                       str(b->protocol_name()), bytes(b->assignment())};
}

std::unique_ptr<frame::writer> encode_heartbeat(int32_t id, std::string_view client_id,
                                                const member_ref& m) {
    auto w = std::make_unique<frame::writer>();
    auto& b = w->fbb();
    const auto body =
        fbs::CreateHeartbeatRequest(b, b.CreateString(m.group_id), m.generation,
                                    b.CreateString(m.member_id), opt_string(b, m.instance_id));
    return finish(std::move(w), fbs::ApiKey::Heartbeat, id, client_id, fbs::Body::HeartbeatRequest,
                  body.Union());
}

result<group_status> decode_heartbeat(const response& r) {
    SLUICE_TRY(const auto* b, body_of<fbs::HeartbeatResponse>(r));
    return group_status{static_cast<errc>(b->error_code()), str(b->error_message())};
}

std::unique_ptr<frame::writer> encode_leave_group(int32_t id, std::string_view client_id,
                                                  const member_ref& m, std::string_view reason) {
    auto w = std::make_unique<frame::writer>();
    auto& b = w->fbb();
    std::vector<flatbuffers::Offset<fbs::LeavingMember>> members{fbs::CreateLeavingMember(
        b, b.CreateString(m.member_id), opt_string(b, m.instance_id), b.CreateString(reason))};
    const auto body =
        fbs::CreateLeaveGroupRequest(b, b.CreateString(m.group_id), b.CreateVector(members));
    return finish(std::move(w), fbs::ApiKey::LeaveGroup, id, client_id,
                  fbs::Body::LeaveGroupRequest, body.Union());
}

result<group_status> decode_leave_group(const response& r) {
    SLUICE_TRY(const auto* b, body_of<fbs::LeaveGroupResponse>(r));
    group_status s{static_cast<errc>(b->error_code()), str(b->error_message())};
    if (s.error == errc::none) {
        for (const auto* m : items(b->members())) {
            if (m->error_code() != 0) {
                s.error = static_cast<errc>(m->error_code());
                break;
            }
        }
    }
    return s;
}

std::unique_ptr<frame::writer> encode_offset_commit(int32_t id, std::string_view client_id,
                                                    const member_ref& m,
                                                    std::span<const commit_entry> entries) {
    auto w = std::make_unique<frame::writer>();
    auto& b = w->fbb();
    std::vector<flatbuffers::Offset<fbs::OffsetCommitTopic>> topics;
    by_topic(entries, [&](std::span<const commit_entry> run) {
        std::vector<flatbuffers::Offset<fbs::OffsetCommitPartition>> parts;
        for (const auto& e : run) {
            parts.push_back(fbs::CreateOffsetCommitPartition(
                b, e.partition, e.offset, e.leader_epoch, b.CreateString(e.metadata)));
        }
        topics.push_back(fbs::CreateOffsetCommitTopic(b, b.CreateString(run.front().topic),
                                                      b.CreateVector(parts)));
    });
    const auto body = fbs::CreateOffsetCommitRequest(
        b, b.CreateString(m.group_id), m.generation, b.CreateString(m.member_id),
        opt_string(b, m.instance_id), b.CreateVector(topics));
    return finish(std::move(w), fbs::ApiKey::OffsetCommit, id, client_id,
                  fbs::Body::OffsetCommitRequest, body.Union());
}

result<commit_answer> decode_offset_commit(const response& r) {
    SLUICE_TRY(const auto* b, body_of<fbs::OffsetCommitResponse>(r));
    commit_answer a;
    a.error = static_cast<errc>(b->error_code());
    a.message = str(b->error_message());
    for (const auto* t : items(b->topics())) {
        for (const auto* p : items(t->partitions())) {
            a.partitions.push_back(
                commit_result{str(t->name()), p->partition(), static_cast<errc>(p->error_code())});
        }
    }
    return a;
}

std::unique_ptr<frame::writer> encode_offset_fetch(
    int32_t id, std::string_view client_id, std::string_view group_id,
    const std::optional<std::map<std::string, std::vector<int32_t>>>& partitions) {
    auto w = std::make_unique<frame::writer>();
    auto& b = w->fbb();
    flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fbs::OffsetFetchTopic>>> topics;
    if (partitions) {
        std::vector<flatbuffers::Offset<fbs::OffsetFetchTopic>> list;
        for (const auto& [topic, parts] : *partitions) {
            list.push_back(
                fbs::CreateOffsetFetchTopic(b, b.CreateString(topic), b.CreateVector(parts)));
        }
        topics = b.CreateVector(list);
    }
    const auto body = fbs::CreateOffsetFetchRequest(b, b.CreateString(group_id), topics);
    return finish(std::move(w), fbs::ApiKey::OffsetFetch, id, client_id,
                  fbs::Body::OffsetFetchRequest, body.Union());
}

result<offset_fetch_answer> decode_offset_fetch(const response& r) {
    SLUICE_TRY(const auto* b, body_of<fbs::OffsetFetchResponse>(r));
    offset_fetch_answer a;
    a.error = static_cast<errc>(b->error_code());
    a.message = str(b->error_message());
    for (const auto* t : items(b->topics())) {
        for (const auto* p : items(t->partitions())) {
            a.partitions.push_back(committed_meta{
                str(t->name()), p->partition(), p->committed_offset(), p->committed_leader_epoch(),
                str(p->metadata()), static_cast<errc>(p->error_code())});
        }
    }
    return a;
}

std::unique_ptr<frame::writer> encode_list_groups(int32_t id, std::string_view client_id) {
    auto w = std::make_unique<frame::writer>();
    const auto body = fbs::CreateListGroupsRequest(w->fbb());
    return finish(std::move(w), fbs::ApiKey::ListGroups, id, client_id,
                  fbs::Body::ListGroupsRequest, body.Union());
}

result<list_groups_answer> decode_list_groups(const response& r) {
    SLUICE_TRY(const auto* b, body_of<fbs::ListGroupsResponse>(r));
    list_groups_answer a;
    a.error = static_cast<errc>(b->error_code());
    a.message = str(b->error_message());
    for (const auto* g : items(b->groups())) {
        a.groups.push_back(
            group_listing_meta{str(g->group_id()), str(g->protocol_type()), str(g->group_state())});
    }
    return a;
}

std::unique_ptr<frame::writer> encode_describe_groups(int32_t id, std::string_view client_id,
                                                      std::span<const std::string> groups) {
    auto w = std::make_unique<frame::writer>();
    auto& b = w->fbb();
    const auto body = fbs::CreateDescribeGroupsRequest(b, string_vector(b, groups));
    return finish(std::move(w), fbs::ApiKey::DescribeGroups, id, client_id,
                  fbs::Body::DescribeGroupsRequest, body.Union());
}

result<std::vector<group_description_meta>> decode_describe_groups(const response& r) {
    SLUICE_TRY(const auto* b, body_of<fbs::DescribeGroupsResponse>(r));
    std::vector<group_description_meta> out;
    for (const auto* g : items(b->groups())) {
        group_description_meta d;
        d.error = static_cast<errc>(g->error_code());
        d.message = str(g->error_message());
        d.group_id = str(g->group_id());
        d.state = str(g->group_state());
        d.protocol_type = str(g->protocol_type());
        d.protocol_name = str(g->protocol_data());
        d.generation = g->generation_id();
        for (const auto* m : items(g->members())) {
            d.members.push_back(described_member_meta{
                str(m->member_id()), opt(m->group_instance_id()), str(m->client_id()),
                str(m->client_host()), bytes(m->member_metadata()), bytes(m->member_assignment())});
        }
        out.push_back(std::move(d));
    }
    return out;
}

std::unique_ptr<frame::writer> encode_delete_groups(int32_t id, std::string_view client_id,
                                                    std::span<const std::string> groups) {
    auto w = std::make_unique<frame::writer>();
    auto& b = w->fbb();
    const auto body = fbs::CreateDeleteGroupsRequest(b, string_vector(b, groups));
    return finish(std::move(w), fbs::ApiKey::DeleteGroups, id, client_id,
                  fbs::Body::DeleteGroupsRequest, body.Union());
}

result<std::vector<deleted_group_meta>> decode_delete_groups(const response& r) {
    SLUICE_TRY(const auto* b, body_of<fbs::DeleteGroupsResponse>(r));
    std::vector<deleted_group_meta> out;
    for (const auto* g : items(b->results())) {
        out.push_back(deleted_group_meta{str(g->group_id()), static_cast<errc>(g->error_code()),
                                         str(g->error_message())});
    }
    return out;
}

std::string encode_subscription(const subscription_meta& s) {
    fbb_t fbb;
    std::vector<flatbuffers::Offset<flatbuffers::String>> topics;
    for (const auto& t : s.topics) {
        topics.push_back(fbb.CreateString(t));
    }
    const auto tv = fbb.CreateVector(topics);
    const auto owned = write_partitions(fbb, s.owned);
    fbb.Finish(fbs::CreateConsumerSubscription(fbb, tv, 0, owned, s.generation));
    return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

std::optional<subscription_meta> decode_subscription(std::string_view in) {
    std::vector<uint64_t> words;
    const auto* s = verified_root<fbs::ConsumerSubscription>(in, words);
    if (s == nullptr) {
        return std::nullopt;
    }
    subscription_meta out;
    if (s->topics() != nullptr) {
        for (const auto* t : *s->topics()) {
            out.topics.push_back(str(t));
        }
    }
    out.owned = read_partitions(s->owned_partitions());
    out.generation = s->generation_id();
    return out;
}

std::string encode_assignment(const partition_map& partitions) {
    fbb_t fbb;
    const auto parts = write_partitions(fbb, partitions);
    fbb.Finish(fbs::CreateConsumerAssignment(fbb, parts));
    return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

std::optional<partition_map> decode_assignment(std::string_view in) {
    if (in.empty()) {
        return partition_map{};  // a member the leader gave nothing
    }
    std::vector<uint64_t> words;
    const auto* a = verified_root<fbs::ConsumerAssignment>(in, words);
    if (a == nullptr) {
        return std::nullopt;
    }
    return read_partitions(a->partitions());
}

}  // namespace sluice::client
