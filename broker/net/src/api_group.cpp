// Consumer groups: each request decoded into the group service's plain structs
// (core/group_service.h), answered by the coordinator, encoded back. Decoding checks what the
// verifier cannot: a hostile frame may name one long string many times, so the bytes a request
// decodes to are bounded (decoded_bytes_max) and so is every list (list_max).
#include <fmt/format.h>

#include "sluice/net/admin_bodies.h"
#include "sluice/net/request.h"

namespace sluice::broker {
namespace {

using bodies::decoded_bytes_max;
using bodies::list_max;

// Counts the bytes a request decodes to; refuses past the bound.
class decode_budget {
  public:
    bool ok() const { return why_.empty(); }
    const std::string& why() const { return why_; }

    std::string str(const flatbuffers::String* s) {
        if (s == nullptr || !take(s->size())) {
            return {};
        }
        return s->str();
    }
    std::optional<std::string> opt(const flatbuffers::String* s) {
        if (s == nullptr) {
            return std::nullopt;
        }
        return str(s);
    }
    std::string bytes(const flatbuffers::Vector<uint8_t>* v) {
        if (v == nullptr || !take(v->size())) {
            return {};
        }
        return std::string(reinterpret_cast<const char*>(v->data()), v->size());
    }
    template <typename V>
    bool list(const V* v, std::string_view what) {
        if (v != nullptr && v->size() > list_max) {
            fail(fmt::format("{} lists {} entries, more than {}", what, v->size(), list_max));
            return false;
        }
        return ok();
    }

  private:
    bool take(size_t n) {
        used_ += n;
        if (used_ > decoded_bytes_max) {
            fail(fmt::format("the request decodes to more than {} bytes of names and data",
                             decoded_bytes_max));
            return false;
        }
        return true;
    }
    void fail(std::string why) {
        if (why_.empty()) {
            why_ = std::move(why);
        }
    }
    size_t used_ = 0;
    std::string why_;
};

handler_result reply(request& req, fbs::Body type, std::unique_ptr<response> r,
                     flatbuffers::Offset<void> body) {
    finish_response(*r, *req.envelope, type, body);
    return handler_result{std::move(r), ""};
}

handler_result refuse(request& req, errc e, std::string_view why) {
    return handler_result{error_response(*req.envelope, e, why), ""};
}

flatbuffers::Offset<flatbuffers::String> opt_string(flatbuffers::FlatBufferBuilder& fbb,
                                                    const std::optional<std::string>& s) {
    return s ? fbb.CreateString(*s) : 0;
}

flatbuffers::Offset<flatbuffers::Vector<uint8_t>> byte_vector(flatbuffers::FlatBufferBuilder& fbb,
                                                              const std::string& s) {
    return fbb.CreateVector(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

const std::string no_coordinator =
    "this broker has no group coordinator: group requests are not served here";

}  // namespace

awaitable<handler_result> handle_find_coordinator(request_context& ctx, request& req) {
    const auto* in = req.envelope->body_as_FindCoordinatorRequest();
    coordinator_answer a;
    decode_budget d;
    std::string key = d.str(in->key());
    if (!d.ok()) {
        co_return refuse(req, errc::invalid_request, d.why());
    }
    if (in->key_type() != 0) {
        a.error = errc::invalid_request;
        a.message = fmt::format("key type {} is not served: only groups (0) have coordinators",
                                in->key_type());
    } else if (ctx.broker.groups == nullptr) {
        a.error = errc::coordinator_not_available;
        a.message = no_coordinator;
    } else {
        a = co_await ctx.broker.groups->find_coordinator(std::move(key));
    }
    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    auto body =
        fbs::CreateFindCoordinatorResponse(fbb, int16_t(a.error), fbb.CreateString(a.message),
                                           a.node_id, fbb.CreateString(a.host), a.port);
    co_return reply(req, fbs::Body::FindCoordinatorResponse, std::move(r), body.Union());
}

awaitable<handler_result> handle_join_group(request_context& ctx, request& req) {
    const auto* in = req.envelope->body_as_JoinGroupRequest();
    decode_budget d;
    join_group_request j;
    j.group_id = d.str(in->group_id());
    j.member_id = d.str(in->member_id());
    j.instance_id = d.opt(in->group_instance_id());
    j.client_id = d.str(req.envelope->client_id());
    j.client_host = ctx.peer;
    j.session_timeout_ms = in->session_timeout_ms();
    j.rebalance_timeout_ms = in->rebalance_timeout_ms();
    j.protocol_type = d.str(in->protocol_type());
    j.reason = d.str(in->reason());
    if (d.list(in->protocols(), "protocols") && in->protocols() != nullptr) {
        for (const auto* p : *in->protocols()) {
            j.protocols.push_back(group_protocol{d.str(p->name()), d.bytes(p->metadata())});
        }
    }
    if (!d.ok()) {
        co_return refuse(req, errc::invalid_request, d.why());
    }
    join_group_result res;
    if (ctx.broker.groups == nullptr) {
        res.error = errc::coordinator_not_available;
        res.message = no_coordinator;
    } else {
        res = co_await ctx.broker.groups->join_group(std::move(j), ctx.cancel);
    }
    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    std::vector<flatbuffers::Offset<fbs::JoinGroupMember>> members;
    for (const auto& m : res.members) {
        members.push_back(fbs::CreateJoinGroupMember(fbb, fbb.CreateString(m.member_id),
                                                     opt_string(fbb, m.instance_id),
                                                     byte_vector(fbb, m.metadata)));
    }
    auto body = fbs::CreateJoinGroupResponse(
        fbb, int16_t(res.error), fbb.CreateString(res.message), res.generation,
        fbb.CreateString(res.protocol_type), fbb.CreateString(res.protocol_name),
        fbb.CreateString(res.leader), fbb.CreateString(res.member_id), fbb.CreateVector(members));
    co_return reply(req, fbs::Body::JoinGroupResponse, std::move(r), body.Union());
}

awaitable<handler_result> handle_sync_group(request_context& ctx, request& req) {
    const auto* in = req.envelope->body_as_SyncGroupRequest();
    decode_budget d;
    sync_group_request s;
    s.group_id = d.str(in->group_id());
    s.generation = in->generation_id();
    s.member_id = d.str(in->member_id());
    s.instance_id = d.opt(in->group_instance_id());
    s.protocol_type = d.str(in->protocol_type());
    s.protocol_name = d.str(in->protocol_name());
    if (d.list(in->assignments(), "assignments") && in->assignments() != nullptr) {
        for (const auto* a : *in->assignments()) {
            s.assignments.push_back(
                member_assignment{d.str(a->member_id()), d.bytes(a->assignment())});
        }
    }
    if (!d.ok()) {
        co_return refuse(req, errc::invalid_request, d.why());
    }
    sync_group_result res;
    if (ctx.broker.groups == nullptr) {
        res.error = errc::coordinator_not_available;
        res.message = no_coordinator;
    } else {
        res = co_await ctx.broker.groups->sync_group(std::move(s), ctx.cancel);
    }
    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    auto body = fbs::CreateSyncGroupResponse(
        fbb, int16_t(res.error), fbb.CreateString(res.message), fbb.CreateString(res.protocol_type),
        fbb.CreateString(res.protocol_name), byte_vector(fbb, res.assignment));
    co_return reply(req, fbs::Body::SyncGroupResponse, std::move(r), body.Union());
}

awaitable<handler_result> handle_heartbeat(request_context& ctx, request& req) {
    const auto* in = req.envelope->body_as_HeartbeatRequest();
    decode_budget d;
    heartbeat_request h;
    h.group_id = d.str(in->group_id());
    h.generation = in->generation_id();
    h.member_id = d.str(in->member_id());
    h.instance_id = d.opt(in->group_instance_id());
    if (!d.ok()) {
        co_return refuse(req, errc::invalid_request, d.why());
    }
    group_answer a{errc::coordinator_not_available, no_coordinator};
    if (ctx.broker.groups != nullptr) {
        a = co_await ctx.broker.groups->heartbeat(std::move(h));
    }
    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    auto body = fbs::CreateHeartbeatResponse(fbb, int16_t(a.error), fbb.CreateString(a.message));
    co_return reply(req, fbs::Body::HeartbeatResponse, std::move(r), body.Union());
}

awaitable<handler_result> handle_leave_group(request_context& ctx, request& req) {
    const auto* in = req.envelope->body_as_LeaveGroupRequest();
    decode_budget d;
    leave_group_request l;
    l.group_id = d.str(in->group_id());
    if (d.list(in->members(), "members") && in->members() != nullptr) {
        for (const auto* m : *in->members()) {
            l.members.push_back(leaving_member{d.str(m->member_id()), d.opt(m->group_instance_id()),
                                               d.str(m->reason())});
        }
    }
    if (!d.ok()) {
        co_return refuse(req, errc::invalid_request, d.why());
    }
    leave_group_result res;
    if (ctx.broker.groups == nullptr) {
        res.error = errc::coordinator_not_available;
        res.message = no_coordinator;
    } else {
        res = co_await ctx.broker.groups->leave_group(std::move(l));
    }
    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    std::vector<flatbuffers::Offset<fbs::LeftMember>> members;
    for (const auto& m : res.members) {
        members.push_back(fbs::CreateLeftMember(fbb, fbb.CreateString(m.member_id),
                                                opt_string(fbb, m.instance_id), int16_t(m.error)));
    }
    auto body = fbs::CreateLeaveGroupResponse(
        fbb, int16_t(res.error), fbb.CreateString(res.message), fbb.CreateVector(members));
    co_return reply(req, fbs::Body::LeaveGroupResponse, std::move(r), body.Union());
}

awaitable<handler_result> handle_offset_commit(request_context& ctx, request& req) {
    const auto* in = req.envelope->body_as_OffsetCommitRequest();
    decode_budget d;
    offset_commit_request c;
    c.group_id = d.str(in->group_id());
    c.generation = in->generation_id();
    c.member_id = d.str(in->member_id());
    c.instance_id = d.opt(in->group_instance_id());
    // Per entry: the index of its topic, to answer in the request's shape.
    std::vector<std::pair<std::string, std::vector<size_t>>> shape;
    if (d.list(in->topics(), "topics") && in->topics() != nullptr) {
        for (const auto* t : *in->topics()) {
            auto& [name, entries] = shape.emplace_back(d.str(t->name()), std::vector<size_t>{});
            if (!d.list(t->partitions(), "partitions") || t->partitions() == nullptr) {
                continue;
            }
            if (c.offsets.size() + t->partitions()->size() > list_max) {
                co_return refuse(req, errc::invalid_request,
                                 fmt::format("a commit of more than {} partitions", list_max));
            }
            for (const auto* p : *t->partitions()) {
                entries.push_back(c.offsets.size());
                c.offsets.push_back(offset_to_commit{name, p->partition(), p->committed_offset(),
                                                     p->committed_leader_epoch(),
                                                     d.str(p->committed_metadata())});
            }
        }
    }
    if (!d.ok()) {
        co_return refuse(req, errc::invalid_request, d.why());
    }
    std::vector<int32_t> partitions;
    for (const auto& o : c.offsets) {
        partitions.push_back(o.partition);
    }
    offset_commit_result res;
    if (ctx.broker.groups == nullptr) {
        res.error = errc::coordinator_not_available;
        res.message = no_coordinator;
        res.errors.assign(c.offsets.size(), res.error);
    } else {
        res = co_await ctx.broker.groups->commit_offsets(std::move(c));
    }
    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    std::vector<flatbuffers::Offset<fbs::OffsetCommitTopicResponse>> topics;
    for (const auto& [name, entries] : shape) {
        std::vector<flatbuffers::Offset<fbs::OffsetCommitPartitionResponse>> parts;
        for (size_t k : entries) {
            parts.push_back(fbs::CreateOffsetCommitPartitionResponse(
                fbb, partitions[k], int16_t(k < res.errors.size() ? res.errors[k] : res.error)));
        }
        topics.push_back(fbs::CreateOffsetCommitTopicResponse(fbb, fbb.CreateString(name),
                                                              fbb.CreateVector(parts)));
    }
    auto body = fbs::CreateOffsetCommitResponse(
        fbb, int16_t(res.error), fbb.CreateString(res.message), fbb.CreateVector(topics));
    co_return reply(req, fbs::Body::OffsetCommitResponse, std::move(r), body.Union());
}

awaitable<handler_result> handle_offset_fetch(request_context& ctx, request& req) {
    const auto* in = req.envelope->body_as_OffsetFetchRequest();
    decode_budget d;
    offset_fetch_request f;
    f.group_id = d.str(in->group_id());
    if (d.list(in->topics(), "topics") && in->topics() != nullptr) {
        f.partitions.emplace();
        for (const auto* t : *in->topics()) {
            std::string name = d.str(t->name());
            if (!d.list(t->partitions(), "partitions") || t->partitions() == nullptr) {
                continue;
            }
            if (f.partitions->size() + t->partitions()->size() > list_max) {
                co_return refuse(req, errc::invalid_request,
                                 fmt::format("a fetch of more than {} partitions", list_max));
            }
            for (int32_t p : *t->partitions()) {
                f.partitions->push_back(topic_partition_id{name, p});
            }
        }
    }
    if (!d.ok()) {
        co_return refuse(req, errc::invalid_request, d.why());
    }
    offset_fetch_result res;
    if (ctx.broker.groups == nullptr) {
        res.error = errc::coordinator_not_available;
        res.message = no_coordinator;
    } else {
        res = co_await ctx.broker.groups->fetch_offsets(std::move(f));
    }
    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    std::vector<flatbuffers::Offset<fbs::OffsetFetchTopicResponse>> topics;
    std::vector<flatbuffers::Offset<fbs::OffsetFetchPartitionResponse>> parts;
    for (size_t k = 0; k < res.offsets.size(); ++k) {
        const committed_offset& c = res.offsets[k];
        parts.push_back(fbs::CreateOffsetFetchPartitionResponse(
            fbb, c.partition, c.offset, c.leader_epoch, fbb.CreateString(c.metadata),
            int16_t(c.error)));
        if (k + 1 == res.offsets.size() || res.offsets[k + 1].topic != c.topic) {
            topics.push_back(fbs::CreateOffsetFetchTopicResponse(fbb, fbb.CreateString(c.topic),
                                                                 fbb.CreateVector(parts)));
            parts.clear();
        }
    }
    auto body = fbs::CreateOffsetFetchResponse(
        fbb, int16_t(res.error), fbb.CreateString(res.message), fbb.CreateVector(topics));
    co_return reply(req, fbs::Body::OffsetFetchResponse, std::move(r), body.Union());
}

awaitable<handler_result> handle_list_groups(request_context& ctx, request& req) {
    const auto* in = req.envelope->body_as_ListGroupsRequest();
    decode_budget d;
    std::vector<std::string> states;
    if (d.list(in->states_filter(), "states_filter") && in->states_filter() != nullptr) {
        for (const auto* s : *in->states_filter()) {
            states.push_back(d.str(s));
        }
    }
    if (!d.ok()) {
        co_return refuse(req, errc::invalid_request, d.why());
    }
    list_groups_result res;
    if (ctx.broker.groups == nullptr) {
        res.error = errc::coordinator_not_available;
        res.message = no_coordinator;
    } else {
        res = co_await ctx.broker.groups->list_groups(std::move(states));
    }
    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    std::vector<flatbuffers::Offset<fbs::ListedGroup>> groups;
    for (const auto& g : res.groups) {
        groups.push_back(fbs::CreateListedGroup(fbb, fbb.CreateString(g.group_id),
                                                fbb.CreateString(g.protocol_type),
                                                fbb.CreateString(g.state)));
    }
    auto body = fbs::CreateListGroupsResponse(
        fbb, int16_t(res.error), fbb.CreateString(res.message), fbb.CreateVector(groups));
    co_return reply(req, fbs::Body::ListGroupsResponse, std::move(r), body.Union());
}

awaitable<handler_result> handle_describe_groups(request_context& ctx, request& req) {
    const auto* in = req.envelope->body_as_DescribeGroupsRequest();
    decode_budget d;
    std::vector<std::string> ids;
    if (d.list(in->groups(), "groups") && in->groups() != nullptr) {
        for (const auto* s : *in->groups()) {
            ids.push_back(d.str(s));
        }
    }
    if (!d.ok()) {
        co_return refuse(req, errc::invalid_request, d.why());
    }
    std::vector<group_description> res;
    if (ctx.broker.groups == nullptr) {
        for (auto& id : ids) {
            res.push_back(group_description{errc::coordinator_not_available, no_coordinator, id});
        }
    } else {
        res = co_await ctx.broker.groups->describe_groups(std::move(ids));
    }
    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    std::vector<flatbuffers::Offset<fbs::DescribedGroup>> groups;
    for (const auto& g : res) {
        std::vector<flatbuffers::Offset<fbs::DescribedGroupMember>> members;
        for (const auto& m : g.members) {
            members.push_back(fbs::CreateDescribedGroupMember(
                fbb, fbb.CreateString(m.member_id), opt_string(fbb, m.instance_id),
                fbb.CreateString(m.client_id), fbb.CreateString(m.client_host),
                byte_vector(fbb, m.metadata), byte_vector(fbb, m.assignment)));
        }
        groups.push_back(fbs::CreateDescribedGroup(
            fbb, int16_t(g.error), fbb.CreateString(g.message), fbb.CreateString(g.group_id),
            fbb.CreateString(g.state), fbb.CreateString(g.protocol_type),
            fbb.CreateString(g.protocol_name), fbb.CreateVector(members), g.generation));
    }
    auto body = fbs::CreateDescribeGroupsResponse(fbb, fbb.CreateVector(groups));
    co_return reply(req, fbs::Body::DescribeGroupsResponse, std::move(r), body.Union());
}

awaitable<handler_result> handle_delete_groups(request_context& ctx, request& req) {
    const auto* in = req.envelope->body_as_DeleteGroupsRequest();
    decode_budget d;
    std::vector<std::string> ids;
    if (d.list(in->groups_names(), "groups_names") && in->groups_names() != nullptr) {
        for (const auto* s : *in->groups_names()) {
            ids.push_back(d.str(s));
        }
    }
    if (!d.ok()) {
        co_return refuse(req, errc::invalid_request, d.why());
    }
    std::vector<deleted_group> res;
    if (ctx.broker.groups == nullptr) {
        for (auto& id : ids) {
            res.push_back(deleted_group{id, errc::coordinator_not_available, no_coordinator});
        }
    } else {
        res = co_await ctx.broker.groups->delete_groups(std::move(ids));
    }
    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    std::vector<flatbuffers::Offset<fbs::DeletedGroup>> out;
    for (const auto& g : res) {
        out.push_back(fbs::CreateDeletedGroup(fbb, fbb.CreateString(g.group_id), int16_t(g.error),
                                              fbb.CreateString(g.message)));
    }
    auto body = fbs::CreateDeleteGroupsResponse(fbb, fbb.CreateVector(out));
    co_return reply(req, fbs::Body::DeleteGroupsResponse, std::move(r), body.Union());
}

}  // namespace sluice::broker
