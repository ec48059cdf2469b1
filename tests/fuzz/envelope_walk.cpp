#include "envelope_walk.h"

#include <optional>
#include <type_traits>
#include <vector>

#include "sluice/protocol/record_batch.h"

namespace sluice::fuzz {
namespace {

// Accumulates what the walk read (FNV-1a over values and lengths).
class digest {
  public:
    template <typename T>
    requires std::is_arithmetic_v<T> || std::is_enum_v<T>
    void mix(T v) { mix_u64(uint64_t(v)); }

    void mix(const flatbuffers::String* s) {
        if (s == nullptr) {
            mix_u64(~uint64_t{0});
            return;
        }
        mix_u64(s->size());
        for (char c : s->string_view()) {
            mix_u64(uint8_t(c));
        }
    }

    void mix_bytes(frame::bytes_view b) {
        mix_u64(b.size());
        for (std::byte c : b) {
            mix_u64(uint8_t(c));
        }
    }

    template <typename T>
    void mix(const flatbuffers::Vector<T>* v) {
        if (v == nullptr) {
            mix_u64(~uint64_t{0});
            return;
        }
        mix_u64(v->size());
        for (auto e : *v) {
            mix(e);
        }
    }

    void mix_u64(uint64_t v) { h_ = (h_ ^ v) * 0x100000001b3ull; }
    uint64_t value() const { return h_; }

  private:
    uint64_t h_ = 0xcbf29ce484222325ull;
};

// Resolves `ref` and, when the body carries batches there, walks them. A ref outside the data
// section is an error the receiver reports per partition; the walk notes it and goes on.
void walk_records(digest& d, const fbs::DataRef* ref, frame::bytes_view data,
                  bool allow_partial_tail) {
    auto bytes = frame::resolve(ref, data);
    if (!bytes) {
        d.mix(bytes.error().value());
        return;
    }
    d.mix_u64(walk_batches(bytes.value(), allow_partial_tail));
}

void walk(digest& d, const fbs::ApiVersionsRequest& b) {
    d.mix(b.client_software_name());
    d.mix(b.client_software_version());
}

void walk(digest& d, const fbs::ApiVersionsResponse& b) {
    d.mix(b.error_code());
    d.mix(b.error_message());
    if (b.apis() != nullptr) {
        for (const auto* a : *b.apis()) {
            d.mix(a->api_key());
            d.mix(a->min_version());
            d.mix(a->max_version());
        }
    }
}

void walk(digest& d, const fbs::MetadataRequest& b) {
    d.mix(b.topics());
    d.mix(b.all_topics());
    d.mix(b.allow_auto_topic_creation());
    d.mix(b.include_replica_offsets());
}

void walk(digest& d, const fbs::MetadataResponse& b) {
    if (b.brokers() != nullptr) {
        for (const auto* br : *b.brokers()) {
            d.mix(br->node_id());
            d.mix(br->host());
            d.mix(br->port());
        }
    }
    d.mix(b.cluster_id());
    d.mix(b.controller_id());
    if (b.topics() == nullptr) {
        return;
    }
    for (const auto* t : *b.topics()) {
        d.mix(t->error_code());
        d.mix(t->error_message());
        d.mix(t->name());
        if (t->partitions() == nullptr) {
            continue;
        }
        for (const auto* p : *t->partitions()) {
            d.mix(p->error_code());
            d.mix(p->partition());
            d.mix(p->leader());
            d.mix(p->leader_epoch());
            d.mix(p->replicas());
            d.mix(p->isr());
            d.mix(p->replica_log_end_offsets());
        }
    }
}

void walk(digest& d, const fbs::CreateTopicsRequest& b) {
    d.mix(b.timeout_ms());
    d.mix(b.validate_only());
    if (b.topics() == nullptr) {
        return;
    }
    for (const auto* t : *b.topics()) {
        d.mix(t->name());
        d.mix(t->num_partitions());
        d.mix(t->replication_factor());
        if (t->configs() == nullptr) {
            continue;
        }
        for (const auto* c : *t->configs()) {
            d.mix(c->key());
            d.mix(c->value());
        }
    }
}

void walk_results(digest& d, const flatbuffers::Vector<flatbuffers::Offset<fbs::TopicResult>>* v) {
    if (v == nullptr) {
        return;
    }
    for (const auto* r : *v) {
        d.mix(r->name());
        d.mix(r->error_code());
        d.mix(r->error_message());
    }
}

void walk(digest& d, const fbs::CreateTopicsResponse& b) {
    walk_results(d, b.results());
}

void walk(digest& d, const fbs::DeleteTopicsRequest& b) {
    d.mix(b.names());
    d.mix(b.timeout_ms());
}

void walk(digest& d, const fbs::DeleteTopicsResponse& b) {
    walk_results(d, b.results());
}

void walk(digest& d, const fbs::CreatePartitionsRequest& b) {
    d.mix(b.timeout_ms());
    d.mix(b.validate_only());
    if (b.topics() != nullptr) {
        for (const auto* t : *b.topics()) {
            d.mix(t->name());
            d.mix(t->count());
        }
    }
}

void walk(digest& d, const fbs::CreatePartitionsResponse& b) {
    walk_results(d, b.results());
}

void walk(digest& d, const fbs::DescribeConfigsRequest& b) {
    d.mix(b.topics());
}

void walk(digest& d, const fbs::DescribeConfigsResponse& b) {
    if (b.results() == nullptr) {
        return;
    }
    for (const auto* t : *b.results()) {
        d.mix(t->name());
        d.mix(t->error_code());
        d.mix(t->error_message());
        if (t->configs() == nullptr) {
            continue;
        }
        for (const auto* c : *t->configs()) {
            d.mix(c->name());
            d.mix(c->value());
            d.mix(c->source());
        }
    }
}

void walk(digest& d, const fbs::IncrementalAlterConfigsRequest& b) {
    d.mix(b.validate_only());
    if (b.topics() == nullptr) {
        return;
    }
    for (const auto* t : *b.topics()) {
        d.mix(t->name());
        if (t->changes() == nullptr) {
            continue;
        }
        for (const auto* c : *t->changes()) {
            d.mix(c->key());
            d.mix(c->op());
            d.mix(c->value());
        }
    }
}

void walk(digest& d, const fbs::IncrementalAlterConfigsResponse& b) {
    walk_results(d, b.results());
}

void walk(digest&, const fbs::DescribeQuorumRequest&) {}

void walk_replicas(digest& d,
                   const flatbuffers::Vector<flatbuffers::Offset<fbs::QuorumReplica>>* v) {
    if (v == nullptr) {
        return;
    }
    for (const auto* r : *v) {
        d.mix(r->replica_id());
        d.mix(r->log_end_offset());
        d.mix(r->last_fetch_timestamp());
        d.mix(r->last_caught_up_timestamp());
    }
}

void walk(digest& d, const fbs::DescribeQuorumResponse& b) {
    d.mix(b.error_code());
    d.mix(b.error_message());
    d.mix(b.leader_id());
    d.mix(b.leader_epoch());
    d.mix(b.high_watermark());
    walk_replicas(d, b.voters());
    walk_replicas(d, b.observers());
}

void walk(digest& d, const fbs::ElectLeadersRequest& b) {
    d.mix(b.election_type());
    d.mix(b.timeout_ms());
    if (b.topics() != nullptr) {
        for (const auto* t : *b.topics()) {
            d.mix(t);
        }
    }
}

void walk(digest& d, const fbs::InitProducerIdRequest& b) {
    d.mix(b.transactional_id());
    d.mix(b.transaction_timeout_ms());
    d.mix(b.producer_id());
    d.mix(b.producer_epoch());
}

void walk(digest& d, const fbs::InitProducerIdResponse& b) {
    d.mix(b.error_code());
    d.mix(b.error_message());
    d.mix(b.producer_id());
    d.mix(b.producer_epoch());
}

// ---- Consumer groups ----
template <typename T, typename F>
void each(digest& d, const flatbuffers::Vector<flatbuffers::Offset<T>>* v, F f) {
    if (v == nullptr) {
        d.mix_u64(~uint64_t{0});
        return;
    }
    d.mix_u64(v->size());
    for (const T* e : *v) {
        f(*e);
    }
}

void walk(digest& d, const fbs::FindCoordinatorRequest& b) {
    d.mix(b.key());
    d.mix(b.key_type());
}

void walk(digest& d, const fbs::FindCoordinatorResponse& b) {
    d.mix(b.error_code());
    d.mix(b.error_message());
    d.mix(b.node_id());
    d.mix(b.host());
    d.mix(b.port());
}

void walk(digest& d, const fbs::JoinGroupRequest& b) {
    d.mix(b.group_id());
    d.mix(b.session_timeout_ms());
    d.mix(b.rebalance_timeout_ms());
    d.mix(b.member_id());
    d.mix(b.group_instance_id());
    d.mix(b.protocol_type());
    each(d, b.protocols(), [&](const fbs::JoinGroupProtocol& p) {
        d.mix(p.name());
        d.mix(p.metadata());
    });
    d.mix(b.reason());
}

void walk(digest& d, const fbs::JoinGroupResponse& b) {
    d.mix(b.error_code());
    d.mix(b.error_message());
    d.mix(b.generation_id());
    d.mix(b.protocol_type());
    d.mix(b.protocol_name());
    d.mix(b.leader());
    d.mix(b.member_id());
    each(d, b.members(), [&](const fbs::JoinGroupMember& m) {
        d.mix(m.member_id());
        d.mix(m.group_instance_id());
        d.mix(m.metadata());
    });
    d.mix(b.skip_assignment());
}

void walk(digest& d, const fbs::SyncGroupRequest& b) {
    d.mix(b.group_id());
    d.mix(b.generation_id());
    d.mix(b.member_id());
    d.mix(b.group_instance_id());
    d.mix(b.protocol_type());
    d.mix(b.protocol_name());
    each(d, b.assignments(), [&](const fbs::SyncGroupAssignment& a) {
        d.mix(a.member_id());
        d.mix(a.assignment());
    });
}

void walk(digest& d, const fbs::SyncGroupResponse& b) {
    d.mix(b.error_code());
    d.mix(b.error_message());
    d.mix(b.protocol_type());
    d.mix(b.protocol_name());
    d.mix(b.assignment());
}

void walk(digest& d, const fbs::HeartbeatRequest& b) {
    d.mix(b.group_id());
    d.mix(b.generation_id());
    d.mix(b.member_id());
    d.mix(b.group_instance_id());
}

void walk(digest& d, const fbs::HeartbeatResponse& b) {
    d.mix(b.error_code());
    d.mix(b.error_message());
}

void walk(digest& d, const fbs::LeaveGroupRequest& b) {
    d.mix(b.group_id());
    each(d, b.members(), [&](const fbs::LeavingMember& m) {
        d.mix(m.member_id());
        d.mix(m.group_instance_id());
        d.mix(m.reason());
    });
}

void walk(digest& d, const fbs::LeaveGroupResponse& b) {
    d.mix(b.error_code());
    d.mix(b.error_message());
    each(d, b.members(), [&](const fbs::LeftMember& m) {
        d.mix(m.member_id());
        d.mix(m.group_instance_id());
        d.mix(m.error_code());
    });
}

void walk(digest& d, const fbs::OffsetCommitRequest& b) {
    d.mix(b.group_id());
    d.mix(b.generation_id());
    d.mix(b.member_id());
    d.mix(b.group_instance_id());
    each(d, b.topics(), [&](const fbs::OffsetCommitTopic& t) {
        d.mix(t.name());
        each(d, t.partitions(), [&](const fbs::OffsetCommitPartition& p) {
            d.mix(p.partition());
            d.mix(p.committed_offset());
            d.mix(p.committed_leader_epoch());
            d.mix(p.committed_metadata());
        });
    });
}

void walk(digest& d, const fbs::OffsetCommitResponse& b) {
    d.mix(b.error_code());
    d.mix(b.error_message());
    each(d, b.topics(), [&](const fbs::OffsetCommitTopicResponse& t) {
        d.mix(t.name());
        each(d, t.partitions(), [&](const fbs::OffsetCommitPartitionResponse& p) {
            d.mix(p.partition());
            d.mix(p.error_code());
        });
    });
}

void walk(digest& d, const fbs::OffsetFetchRequest& b) {
    d.mix(b.group_id());
    each(d, b.topics(), [&](const fbs::OffsetFetchTopic& t) {
        d.mix(t.name());
        d.mix(t.partitions());
    });
}

void walk(digest& d, const fbs::OffsetFetchResponse& b) {
    d.mix(b.error_code());
    d.mix(b.error_message());
    each(d, b.topics(), [&](const fbs::OffsetFetchTopicResponse& t) {
        d.mix(t.name());
        each(d, t.partitions(), [&](const fbs::OffsetFetchPartitionResponse& p) {
            d.mix(p.partition());
            d.mix(p.committed_offset());
            d.mix(p.committed_leader_epoch());
            d.mix(p.metadata());
            d.mix(p.error_code());
        });
    });
}

void walk(digest& d, const fbs::ListGroupsRequest& b) {
    each(d, b.states_filter(), [&](const flatbuffers::String& s) { d.mix(&s); });
}

void walk(digest& d, const fbs::ListGroupsResponse& b) {
    d.mix(b.error_code());
    d.mix(b.error_message());
    each(d, b.groups(), [&](const fbs::ListedGroup& g) {
        d.mix(g.group_id());
        d.mix(g.protocol_type());
        d.mix(g.group_state());
    });
}

void walk(digest& d, const fbs::DescribeGroupsRequest& b) {
    each(d, b.groups(), [&](const flatbuffers::String& s) { d.mix(&s); });
}

void walk(digest& d, const fbs::DescribeGroupsResponse& b) {
    each(d, b.groups(), [&](const fbs::DescribedGroup& g) {
        d.mix(g.error_code());
        d.mix(g.error_message());
        d.mix(g.group_id());
        d.mix(g.group_state());
        d.mix(g.protocol_type());
        d.mix(g.protocol_data());
        d.mix(g.generation_id());
        each(d, g.members(), [&](const fbs::DescribedGroupMember& m) {
            d.mix(m.member_id());
            d.mix(m.group_instance_id());
            d.mix(m.client_id());
            d.mix(m.client_host());
            d.mix(m.member_metadata());
            d.mix(m.member_assignment());
        });
    });
}

void walk(digest& d, const fbs::DeleteGroupsRequest& b) {
    each(d, b.groups_names(), [&](const flatbuffers::String& s) { d.mix(&s); });
}

void walk(digest& d, const fbs::DeleteGroupsResponse& b) {
    each(d, b.results(), [&](const fbs::DeletedGroup& g) {
        d.mix(g.group_id());
        d.mix(g.error_code());
        d.mix(g.error_message());
    });
}

void walk(digest& d, const fbs::ElectLeadersResponse& b) {
    if (b.results() == nullptr) {
        return;
    }
    for (const auto* r : *b.results()) {
        d.mix(r->topic());
        d.mix(r->partition());
        d.mix(r->error_code());
        d.mix(r->error_message());
    }
}

void walk(digest& d, const fbs::ProduceRequest& b, frame::bytes_view data) {
    d.mix(b.acks());
    d.mix(b.timeout_ms());
    if (b.topics() == nullptr) {
        return;
    }
    for (const auto* t : *b.topics()) {
        d.mix(t->name());
        if (t->partitions() == nullptr) {
            continue;
        }
        for (const auto* p : *t->partitions()) {
            d.mix(p->partition());
            d.mix(p->expected_end_offset());
            // A produce request carries whole batches: a partial tail is corrupt.
            walk_records(d, p->records(), data, false);
        }
    }
}

void walk(digest& d, const fbs::ProduceResponse& b) {
    if (b.topics() == nullptr) {
        return;
    }
    for (const auto* t : *b.topics()) {
        d.mix(t->name());
        if (t->partitions() == nullptr) {
            continue;
        }
        for (const auto* p : *t->partitions()) {
            d.mix(p->partition());
            d.mix(p->error_code());
            d.mix(p->error_message());
            d.mix(p->base_offset());
            d.mix(p->log_append_time_ms());
            d.mix(p->log_start_offset());
            d.mix(p->log_end_offset());
        }
    }
}

void walk(digest& d, const fbs::FetchRequest& b) {
    d.mix(b.replica_id());
    d.mix(b.max_wait_ms());
    d.mix(b.min_bytes());
    d.mix(b.max_bytes());
    if (b.topics() == nullptr) {
        return;
    }
    for (const auto* t : *b.topics()) {
        d.mix(t->name());
        if (t->partitions() == nullptr) {
            continue;
        }
        for (const auto* p : *t->partitions()) {
            d.mix(p->partition());
            d.mix(p->fetch_offset());
            d.mix(p->partition_max_bytes());
            d.mix(p->current_leader_epoch());
        }
    }
}

void walk(digest& d, const fbs::FetchResponse& b, frame::bytes_view data) {
    d.mix(b.error_code());
    if (b.topics() == nullptr) {
        return;
    }
    for (const auto* t : *b.topics()) {
        d.mix(t->name());
        if (t->partitions() == nullptr) {
            continue;
        }
        for (const auto* p : *t->partitions()) {
            d.mix(p->partition());
            d.mix(p->error_code());
            d.mix(p->high_watermark());
            d.mix(p->log_start_offset());
            d.mix(p->last_stable_offset());
            // A fetch response may be cut at a byte limit inside its last batch.
            walk_records(d, p->records(), data, true);
        }
    }
}

void walk(digest& d, const fbs::ListOffsetsRequest& b) {
    if (b.topics() == nullptr) {
        return;
    }
    for (const auto* t : *b.topics()) {
        d.mix(t->name());
        if (t->partitions() == nullptr) {
            continue;
        }
        for (const auto* p : *t->partitions()) {
            d.mix(p->partition());
            d.mix(p->timestamp());
        }
    }
}

void walk(digest& d, const fbs::ListOffsetsResponse& b) {
    if (b.topics() == nullptr) {
        return;
    }
    for (const auto* t : *b.topics()) {
        d.mix(t->name());
        if (t->partitions() == nullptr) {
            continue;
        }
        for (const auto* p : *t->partitions()) {
            d.mix(p->partition());
            d.mix(p->error_code());
            d.mix(p->timestamp());
            d.mix(p->offset());
            d.mix(p->leader_epoch());
        }
    }
}

void walk(digest& d, const fbs::ErrorResponse& b) {
    d.mix(b.error_code());
    d.mix(b.error_message());
}

// Calls walk() on the body if it is present; a body_type without a body is noted and skipped.
template <typename Body, typename... Extra>
void walk_body(digest& d, const Body* body, Extra... extra) {
    d.mix(body != nullptr);
    if (body != nullptr) {
        walk(d, *body, extra...);
    }
}

}  // namespace

uint64_t walk_batches(frame::bytes_view bytes, bool allow_partial_tail) {
    digest d;
    batch_reader reader(bytes, allow_partial_tail);
    std::vector<header_view> headers;
    while (true) {
        auto next = reader.next();
        if (!next) {
            d.mix(next.error().value());
            break;
        }
        if (!next.value()) {
            break;
        }
        const batch_view& batch = *next.value();
        const batch_header& h = batch.header();
        d.mix(h.base_offset.value());
        d.mix(h.leader_epoch.value());
        d.mix(h.record_count);
        d.mix(h.producer_id.value());
        d.mix(h.base_sequence.value());
        auto records = batch.records();
        record_view r;
        while (records.next(r)) {
            d.mix(r.offset_delta);
            d.mix(r.timestamp_delta);
            d.mix(r.key.has_value());
            if (r.key) {
                d.mix_bytes(*r.key);
            }
            d.mix(r.value.has_value());
            if (r.value) {
                d.mix_bytes(*r.value);
            }
            headers.clear();
            r.headers(headers);
            for (const auto& hv : headers) {
                d.mix_bytes(hv.key);
                d.mix(hv.value.has_value());
                if (hv.value) {
                    d.mix_bytes(*hv.value);
                }
            }
        }
    }
    return d.value();
}

uint64_t walk_envelope(const fbs::Envelope& e, frame::bytes_view data) {
    digest d;
    d.mix(e.api_key());
    d.mix(e.api_version());
    d.mix(e.correlation_id());
    d.mix(e.client_id());
    d.mix(e.body_type());
    using fbs::Body;
    switch (e.body_type()) {
        case Body::NONE:
            break;
        case Body::ApiVersionsRequest:
            walk_body(d, e.body_as_ApiVersionsRequest());
            break;
        case Body::ApiVersionsResponse:
            walk_body(d, e.body_as_ApiVersionsResponse());
            break;
        case Body::MetadataRequest:
            walk_body(d, e.body_as_MetadataRequest());
            break;
        case Body::MetadataResponse:
            walk_body(d, e.body_as_MetadataResponse());
            break;
        case Body::CreateTopicsRequest:
            walk_body(d, e.body_as_CreateTopicsRequest());
            break;
        case Body::CreateTopicsResponse:
            walk_body(d, e.body_as_CreateTopicsResponse());
            break;
        case Body::DeleteTopicsRequest:
            walk_body(d, e.body_as_DeleteTopicsRequest());
            break;
        case Body::DeleteTopicsResponse:
            walk_body(d, e.body_as_DeleteTopicsResponse());
            break;
        case Body::ProduceRequest:
            walk_body(d, e.body_as_ProduceRequest(), data);
            break;
        case Body::ProduceResponse:
            walk_body(d, e.body_as_ProduceResponse());
            break;
        case Body::FetchRequest:
            walk_body(d, e.body_as_FetchRequest());
            break;
        case Body::FetchResponse:
            walk_body(d, e.body_as_FetchResponse(), data);
            break;
        case Body::ListOffsetsRequest:
            walk_body(d, e.body_as_ListOffsetsRequest());
            break;
        case Body::ListOffsetsResponse:
            walk_body(d, e.body_as_ListOffsetsResponse());
            break;
        case Body::ErrorResponse:
            walk_body(d, e.body_as_ErrorResponse());
            break;
        case Body::CreatePartitionsRequest:
            walk_body(d, e.body_as_CreatePartitionsRequest());
            break;
        case Body::CreatePartitionsResponse:
            walk_body(d, e.body_as_CreatePartitionsResponse());
            break;
        case Body::DescribeConfigsRequest:
            walk_body(d, e.body_as_DescribeConfigsRequest());
            break;
        case Body::DescribeConfigsResponse:
            walk_body(d, e.body_as_DescribeConfigsResponse());
            break;
        case Body::IncrementalAlterConfigsRequest:
            walk_body(d, e.body_as_IncrementalAlterConfigsRequest());
            break;
        case Body::IncrementalAlterConfigsResponse:
            walk_body(d, e.body_as_IncrementalAlterConfigsResponse());
            break;
        case Body::DescribeQuorumRequest:
            walk_body(d, e.body_as_DescribeQuorumRequest());
            break;
        case Body::DescribeQuorumResponse:
            walk_body(d, e.body_as_DescribeQuorumResponse());
            break;
        case Body::ElectLeadersRequest:
            walk_body(d, e.body_as_ElectLeadersRequest());
            break;
        case Body::ElectLeadersResponse:
            walk_body(d, e.body_as_ElectLeadersResponse());
            break;
        case Body::InitProducerIdRequest:
            walk_body(d, e.body_as_InitProducerIdRequest());
            break;
        case Body::InitProducerIdResponse:
            walk_body(d, e.body_as_InitProducerIdResponse());
            break;
        case Body::FindCoordinatorRequest:
            walk_body(d, e.body_as_FindCoordinatorRequest());
            break;
        case Body::FindCoordinatorResponse:
            walk_body(d, e.body_as_FindCoordinatorResponse());
            break;
        case Body::JoinGroupRequest:
            walk_body(d, e.body_as_JoinGroupRequest());
            break;
        case Body::JoinGroupResponse:
            walk_body(d, e.body_as_JoinGroupResponse());
            break;
        case Body::SyncGroupRequest:
            walk_body(d, e.body_as_SyncGroupRequest());
            break;
        case Body::SyncGroupResponse:
            walk_body(d, e.body_as_SyncGroupResponse());
            break;
        case Body::HeartbeatRequest:
            walk_body(d, e.body_as_HeartbeatRequest());
            break;
        case Body::HeartbeatResponse:
            walk_body(d, e.body_as_HeartbeatResponse());
            break;
        case Body::LeaveGroupRequest:
            walk_body(d, e.body_as_LeaveGroupRequest());
            break;
        case Body::LeaveGroupResponse:
            walk_body(d, e.body_as_LeaveGroupResponse());
            break;
        case Body::OffsetCommitRequest:
            walk_body(d, e.body_as_OffsetCommitRequest());
            break;
        case Body::OffsetCommitResponse:
            walk_body(d, e.body_as_OffsetCommitResponse());
            break;
        case Body::OffsetFetchRequest:
            walk_body(d, e.body_as_OffsetFetchRequest());
            break;
        case Body::OffsetFetchResponse:
            walk_body(d, e.body_as_OffsetFetchResponse());
            break;
        case Body::ListGroupsRequest:
            walk_body(d, e.body_as_ListGroupsRequest());
            break;
        case Body::ListGroupsResponse:
            walk_body(d, e.body_as_ListGroupsResponse());
            break;
        case Body::DescribeGroupsRequest:
            walk_body(d, e.body_as_DescribeGroupsRequest());
            break;
        case Body::DescribeGroupsResponse:
            walk_body(d, e.body_as_DescribeGroupsResponse());
            break;
        case Body::DeleteGroupsRequest:
            walk_body(d, e.body_as_DeleteGroupsRequest());
            break;
        case Body::DeleteGroupsResponse:
            walk_body(d, e.body_as_DeleteGroupsResponse());
            break;
        case Body::RaftMessage:
            // Its fields are the raft_codec target's (the controller's decoder).
            if (const auto* m = e.body_as_RaftMessage()) {
                d.mix(m->cluster_id());
                d.mix(m->body_type());
            }
            break;
        case Body::ControllerRequest:
            // Its fields are the controller_rpc target's (the controller's decoder).
            if (const auto* m = e.body_as_ControllerRequest()) {
                d.mix(m->cluster_id());
                d.mix(m->from());
                d.mix(m->call_type());
            }
            break;
        case Body::ControllerResponse:
            if (const auto* m = e.body_as_ControllerResponse()) {
                d.mix(m->cluster_id());
                d.mix(m->answer_type());
                d.mix(m->metadata_offset());
            }
            break;
    }
    return d.value();
}

}  // namespace sluice::fuzz
