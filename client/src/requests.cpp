#include "sluice/client/internal/requests.h"

#include <algorithm>

#include <fmt/format.h>

#include "request_codec.h"
#include "sluice/client/errc.h"
#include "sluice/protocol/api.h"

namespace sluice::client {
namespace {

using namespace codec;

std::vector<topic_result> topic_results(
    const flatbuffers::Vector<flatbuffers::Offset<fbs::TopicResult>>* v) {
    std::vector<topic_result> out;
    for (const fbs::TopicResult* t : items(v)) {
        out.push_back(
            {str(t->name()), static_cast<errc>(t->error_code()), str(t->error_message())});
    }
    return out;
}

}  // namespace

std::unique_ptr<frame::writer> encode_metadata(int32_t id, std::string_view client_id,
                                               const metadata_request& req) {
    auto w = std::make_unique<frame::writer>();
    fbb_t& fbb = w->fbb();
    const auto topics = fbb.CreateVectorOfStrings(req.topics);
    const auto body = fbs::CreateMetadataRequest(
        fbb, topics, req.all_topics, req.allow_auto_topic_creation, req.include_replica_offsets);
    return finish(std::move(w), fbs::ApiKey::Metadata, id, client_id, fbs::Body::MetadataRequest,
                  body.Union());
}

result<metadata_answer> decode_metadata(const response& r) {
    SLUICE_TRY(const fbs::MetadataResponse* m, body_of<fbs::MetadataResponse>(r));
    metadata_answer out;
    out.controller_id = m->controller_id();
    for (const fbs::BrokerMetadata* b : items(m->brokers())) {
        out.brokers.push_back({b->node_id(), str(b->host()), b->port()});
    }
    std::sort(out.brokers.begin(), out.brokers.end(),
              [](const broker_meta& a, const broker_meta& b) { return a.node_id < b.node_id; });
    for (const fbs::TopicMetadata* t : items(m->topics())) {
        topic_meta tm;
        tm.name = str(t->name());
        tm.error = static_cast<errc>(t->error_code());
        tm.error_message = str(t->error_message());
        for (const fbs::PartitionMetadata* p : items(t->partitions())) {
            std::vector<int64_t> ends;
            if (const auto* v = p->replica_log_end_offsets(); v != nullptr) {
                ends.assign(v->begin(), v->end());
            }
            tm.partitions.push_back({p->partition(), static_cast<errc>(p->error_code()),
                                     p->leader(), p->leader_epoch(), ints(p->replicas()),
                                     ints(p->isr()), std::move(ends)});
        }
        std::sort(tm.partitions.begin(), tm.partitions.end(),
                  [](const partition_meta& a, const partition_meta& b) {
                      return a.partition < b.partition;
                  });
        out.topics.push_back(std::move(tm));
    }
    return out;
}

std::unique_ptr<frame::writer> encode_create_topics(int32_t id, std::string_view client_id,
                                                    std::span<const new_topic> topics,
                                                    int32_t timeout_ms) {
    auto w = std::make_unique<frame::writer>();
    fbb_t& fbb = w->fbb();
    std::vector<flatbuffers::Offset<fbs::CreatableTopic>> list;
    for (const new_topic& t : topics) {
        std::vector<flatbuffers::Offset<fbs::TopicConfig>> configs;
        for (const auto& [k, v] : t.configs) {
            configs.push_back(fbs::CreateTopicConfigDirect(fbb, k.c_str(), v.c_str()));
        }
        list.push_back(fbs::CreateCreatableTopicDirect(fbb, t.name.c_str(), t.partitions,
                                                       t.replication_factor, &configs));
    }
    const auto body = fbs::CreateCreateTopicsRequestDirect(fbb, &list, timeout_ms, false);
    return finish(std::move(w), fbs::ApiKey::CreateTopics, id, client_id,
                  fbs::Body::CreateTopicsRequest, body.Union());
}

result<std::vector<topic_result>> decode_create_topics(const response& r) {
    SLUICE_TRY(const fbs::CreateTopicsResponse* b, body_of<fbs::CreateTopicsResponse>(r));
    return topic_results(b->results());
}

std::unique_ptr<frame::writer> encode_delete_topics(int32_t id, std::string_view client_id,
                                                    std::span<const std::string> names,
                                                    int32_t timeout_ms) {
    auto w = std::make_unique<frame::writer>();
    fbb_t& fbb = w->fbb();
    const auto list =
        fbb.CreateVectorOfStrings(std::vector<std::string>(names.begin(), names.end()));
    const auto body = fbs::CreateDeleteTopicsRequest(fbb, list, timeout_ms);
    return finish(std::move(w), fbs::ApiKey::DeleteTopics, id, client_id,
                  fbs::Body::DeleteTopicsRequest, body.Union());
}

result<std::vector<topic_result>> decode_delete_topics(const response& r) {
    SLUICE_TRY(const fbs::DeleteTopicsResponse* b, body_of<fbs::DeleteTopicsResponse>(r));
    return topic_results(b->results());
}

std::unique_ptr<frame::writer> encode_create_partitions(int32_t id, std::string_view client_id,
                                                        const std::string& topic, int32_t total,
                                                        int32_t timeout_ms) {
    auto w = std::make_unique<frame::writer>();
    fbb_t& fbb = w->fbb();
    const std::vector<flatbuffers::Offset<fbs::PartitionCount>> list{
        fbs::CreatePartitionCountDirect(fbb, topic.c_str(), total)};
    const auto body = fbs::CreateCreatePartitionsRequestDirect(fbb, &list, timeout_ms, false);
    return finish(std::move(w), fbs::ApiKey::CreatePartitions, id, client_id,
                  fbs::Body::CreatePartitionsRequest, body.Union());
}

result<std::vector<topic_result>> decode_create_partitions(const response& r) {
    SLUICE_TRY(const fbs::CreatePartitionsResponse* b, body_of<fbs::CreatePartitionsResponse>(r));
    return topic_results(b->results());
}

std::unique_ptr<frame::writer> encode_alter_configs(
    int32_t id, std::string_view client_id, const std::string& topic,
    const std::map<std::string, std::optional<std::string>>& changes) {
    auto w = std::make_unique<frame::writer>();
    fbb_t& fbb = w->fbb();
    std::vector<flatbuffers::Offset<fbs::ConfigChange>> list;
    for (const auto& [k, v] : changes) {
        list.push_back(fbs::CreateConfigChangeDirect(fbb, k.c_str(),
                                                     v ? fbs::ConfigOp::Set : fbs::ConfigOp::Delete,
                                                     v ? v->c_str() : nullptr));
    }
    const std::vector<flatbuffers::Offset<fbs::TopicConfigChanges>> topics{
        fbs::CreateTopicConfigChangesDirect(fbb, topic.c_str(), &list)};
    const auto body = fbs::CreateIncrementalAlterConfigsRequestDirect(fbb, &topics, false);
    return finish(std::move(w), fbs::ApiKey::IncrementalAlterConfigs, id, client_id,
                  fbs::Body::IncrementalAlterConfigsRequest, body.Union());
}

result<std::vector<topic_result>> decode_alter_configs(const response& r) {
    SLUICE_TRY(const fbs::IncrementalAlterConfigsResponse* b,
               body_of<fbs::IncrementalAlterConfigsResponse>(r));
    return topic_results(b->results());
}

std::unique_ptr<frame::writer> encode_describe_configs(int32_t id, std::string_view client_id,
                                                       const std::string& topic) {
    auto w = std::make_unique<frame::writer>();
    fbb_t& fbb = w->fbb();
    const auto body = fbs::CreateDescribeConfigsRequest(fbb, fbb.CreateVectorOfStrings({topic}));
    return finish(std::move(w), fbs::ApiKey::DescribeConfigs, id, client_id,
                  fbs::Body::DescribeConfigsRequest, body.Union());
}

result<std::vector<topic_configs_meta>> decode_describe_configs(const response& r) {
    SLUICE_TRY(const fbs::DescribeConfigsResponse* b, body_of<fbs::DescribeConfigsResponse>(r));
    std::vector<topic_configs_meta> out;
    for (const fbs::TopicConfigs* t : items(b->results())) {
        topic_configs_meta m{
            str(t->name()), static_cast<errc>(t->error_code()), str(t->error_message()), {}};
        for (const fbs::ConfigEntry* c : items(t->configs())) {
            m.configs.push_back(
                {str(c->name()), str(c->value()), c->source() == fbs::ConfigSource::TopicOverride});
        }
        out.push_back(std::move(m));
    }
    return out;
}

std::unique_ptr<frame::writer> encode_describe_quorum(int32_t id, std::string_view client_id) {
    auto w = std::make_unique<frame::writer>();
    const auto body = fbs::CreateDescribeQuorumRequest(w->fbb());
    return finish(std::move(w), fbs::ApiKey::DescribeQuorum, id, client_id,
                  fbs::Body::DescribeQuorumRequest, body.Union());
}

result<quorum_meta> decode_describe_quorum(const response& r) {
    SLUICE_TRY(const fbs::DescribeQuorumResponse* b, body_of<fbs::DescribeQuorumResponse>(r));
    quorum_meta out{static_cast<errc>(b->error_code()),
                    str(b->error_message()),
                    b->leader_id(),
                    b->leader_epoch(),
                    b->high_watermark(),
                    {},
                    {}};
    auto replicas = [](const auto* v) {
        std::vector<quorum_replica_meta> list;
        for (const fbs::QuorumReplica* q : items(v)) {
            list.push_back({q->replica_id(), q->log_end_offset(), q->last_fetch_timestamp(),
                            q->last_caught_up_timestamp()});
        }
        return list;
    };
    out.voters = replicas(b->voters());
    out.observers = replicas(b->observers());
    return out;
}

std::unique_ptr<frame::writer> encode_init_producer_id(int32_t id, std::string_view client_id) {
    auto w = std::make_unique<frame::writer>();
    const auto body = fbs::CreateInitProducerIdRequest(w->fbb());
    return finish(std::move(w), fbs::ApiKey::InitProducerId, id, client_id,
                  fbs::Body::InitProducerIdRequest, body.Union());
}

result<producer_id_meta> decode_init_producer_id(const response& r) {
    SLUICE_TRY(const fbs::InitProducerIdResponse* b, body_of<fbs::InitProducerIdResponse>(r));
    return producer_id_meta{static_cast<errc>(b->error_code()), str(b->error_message()),
                            b->producer_id(), b->producer_epoch()};
}

std::unique_ptr<frame::writer> encode_elect_leaders(int32_t id, std::string_view client_id,
                                                    const std::vector<std::string>& topics) {
    auto w = std::make_unique<frame::writer>();
    auto& b = w->fbb();
    std::vector<flatbuffers::Offset<flatbuffers::String>> names;
    for (const auto& t : topics) {
        names.push_back(b.CreateString(t));
    }
    const auto body = fbs::CreateElectLeadersRequest(b, 0, b.CreateVector(names));
    return finish(std::move(w), fbs::ApiKey::ElectLeaders, id, client_id,
                  fbs::Body::ElectLeadersRequest, body.Union());
}

result<std::vector<election_meta>> decode_elect_leaders(const response& r) {
    SLUICE_TRY(const fbs::ElectLeadersResponse* b, body_of<fbs::ElectLeadersResponse>(r));
    std::vector<election_meta> out;
    for (const fbs::PartitionElectionResult* e : items(b->results())) {
        out.push_back({str(e->topic()), e->partition(), static_cast<errc>(e->error_code()),
                       str(e->error_message())});
    }
    return out;
}

std::unique_ptr<frame::writer> encode_list_offsets(int32_t id, std::string_view client_id,
                                                   std::span<const offset_query> queries) {
    auto w = std::make_unique<frame::writer>();
    fbb_t& fbb = w->fbb();
    std::vector<flatbuffers::Offset<fbs::ListOffsetsTopic>> topics;
    by_topic(queries, [&](std::span<const offset_query> run) {
        std::vector<flatbuffers::Offset<fbs::ListOffsetsPartition>> parts;
        for (const offset_query& q : run) {
            parts.push_back(fbs::CreateListOffsetsPartition(fbb, q.partition, q.timestamp));
        }
        topics.push_back(fbs::CreateListOffsetsTopicDirect(fbb, run[0].topic.c_str(), &parts));
    });
    const auto body = fbs::CreateListOffsetsRequestDirect(fbb, &topics);
    return finish(std::move(w), fbs::ApiKey::ListOffsets, id, client_id,
                  fbs::Body::ListOffsetsRequest, body.Union());
}

result<std::vector<offset_answer>> decode_list_offsets(const response& r) {
    SLUICE_TRY(const fbs::ListOffsetsResponse* b, body_of<fbs::ListOffsetsResponse>(r));
    std::vector<offset_answer> out;
    for (const fbs::ListOffsetsTopicResponse* t : items(b->topics())) {
        for (const fbs::ListOffsetsPartitionResponse* p : items(t->partitions())) {
            out.push_back({str(t->name()), p->partition(), static_cast<errc>(p->error_code()),
                           p->offset(), p->timestamp()});
        }
    }
    return out;
}

std::unique_ptr<frame::writer> encode_produce(int32_t id, std::string_view client_id, int16_t acks,
                                              int32_t timeout_ms,
                                              std::span<const produce_partition> parts) {
    auto w = std::make_unique<frame::writer>();
    fbb_t& fbb = w->fbb();
    std::vector<flatbuffers::Offset<fbs::ProduceTopic>> topics;
    std::vector<flatbuffers::Offset<fbs::ProducePartition>> list;
    by_topic(parts, [&](std::span<const produce_partition> run) {
        list.clear();
        for (const produce_partition& p : run) {
            const fbs::DataRef ref = w->add_data_ref(p.records);
            list.push_back(
                fbs::CreateProducePartition(fbb, p.partition, &ref, p.expected_end_offset));
        }
        const auto name = fbb.CreateString(run[0].topic.data(), run[0].topic.size());
        topics.push_back(fbs::CreateProduceTopic(fbb, name, fbb.CreateVector(list)));
    });
    const auto body = fbs::CreateProduceRequestDirect(fbb, acks, timeout_ms, &topics);
    return finish(std::move(w), fbs::ApiKey::Produce, id, client_id, fbs::Body::ProduceRequest,
                  body.Union());
}

result<std::vector<produce_answer>> decode_produce(const response& r) {
    SLUICE_TRY(const fbs::ProduceResponse* b, body_of<fbs::ProduceResponse>(r));
    std::vector<produce_answer> out;
    for (const fbs::ProduceTopicResponse* t : items(b->topics())) {
        for (const fbs::ProducePartitionResponse* p : items(t->partitions())) {
            out.push_back({view(t->name()), p->partition(), static_cast<errc>(p->error_code()),
                           p->base_offset(), p->log_append_time_ms(), p->log_end_offset(),
                           str(p->error_message())});
        }
    }
    return out;
}

std::unique_ptr<frame::writer> encode_fetch(int32_t id, std::string_view client_id,
                                            const fetch_limits& limits,
                                            std::span<const fetch_query> parts) {
    auto w = std::make_unique<frame::writer>();
    fbb_t& fbb = w->fbb();
    std::vector<flatbuffers::Offset<fbs::FetchTopic>> topics;
    std::vector<flatbuffers::Offset<fbs::FetchPartition>> list;
    by_topic(parts, [&](std::span<const fetch_query> run) {
        list.clear();
        for (const fetch_query& p : run) {
            list.push_back(fbs::CreateFetchPartition(fbb, p.partition, p.offset, p.max_bytes,
                                                     p.current_leader_epoch, p.last_fetched_epoch));
        }
        const auto name = fbb.CreateString(run[0].topic.data(), run[0].topic.size());
        topics.push_back(fbs::CreateFetchTopic(fbb, name, fbb.CreateVector(list)));
    });
    const auto body = fbs::CreateFetchRequestDirect(fbb, limits.replica_id, limits.max_wait_ms,
                                                    limits.min_bytes, limits.max_bytes, &topics);
    return finish(std::move(w), fbs::ApiKey::Fetch, id, client_id, fbs::Body::FetchRequest,
                  body.Union());
}

result<std::vector<fetch_answer>> decode_fetch(const response& r) {
    SLUICE_TRY(const fbs::FetchResponse* b, body_of<fbs::FetchResponse>(r));
    if (b->error_code() != 0) {
        return make_error_code(static_cast<errc>(b->error_code()));
    }
    std::vector<fetch_answer> out;
    for (const fbs::FetchTopicResponse* t : items(b->topics())) {
        for (const fbs::FetchPartitionResponse* p : items(t->partitions())) {
            SLUICE_TRY(frame::bytes_view records, frame::resolve(p->records(), r.view.data));
            out.push_back({view(t->name()), p->partition(), static_cast<errc>(p->error_code()),
                           p->high_watermark(), p->log_start_offset(), records,
                           p->diverging_epoch(), p->diverging_end_offset()});
        }
    }
    return out;
}

}  // namespace sluice::client
