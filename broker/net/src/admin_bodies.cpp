#include "sluice/net/admin_bodies.h"

#include <fmt/format.h>

namespace sluice::broker::bodies {
namespace {

std::string str(const flatbuffers::String* s) {
    return s == nullptr ? std::string() : s->str();
}

// The strings a decoder copies out, counted: FlatBuffers lets many offsets share one string, so
// a small frame could otherwise make a huge request.
class text_budget {
  public:
    std::string take(const flatbuffers::String* s) {
        const size_t n = s == nullptr ? 0 : s->size();
        if (over_ || n > decoded_bytes_max - used_) {
            over_ = true;
            return {};
        }
        used_ += n;
        return str(s);
    }
    bool over() const { return over_; }

  private:
    size_t used_ = 0;
    bool over_ = false;
};

constexpr std::string_view too_much_text =
    "the request's names, keys and values add up to more than 16 MiB";

struct bad {
    std::string* why;
    std::nullopt_t operator()(std::string_view reason) const {
        if (why != nullptr) {
            *why = reason;
        }
        return std::nullopt;
    }
};

template <typename V>
bool too_long(const V* v) {
    return v != nullptr && v->size() > list_max;
}

std::optional<std::vector<quorum_replica>> read_replicas(
    const flatbuffers::Vector<off<fbs::QuorumReplica>>* list) {
    std::vector<quorum_replica> out;
    if (list == nullptr) {
        return out;
    }
    if (too_long(list)) {
        return std::nullopt;
    }
    for (const auto* r : *list) {
        if (r == nullptr) {
            return std::nullopt;
        }
        out.push_back({node_id_t(r->replica_id()), offset_t(r->log_end_offset()),
                       r->last_fetch_timestamp(), r->last_caught_up_timestamp()});
    }
    return out;
}

off<flatbuffers::Vector<off<fbs::QuorumReplica>>> write_replicas(
    builder& b, const std::vector<quorum_replica>& list) {
    std::vector<off<fbs::QuorumReplica>> out;
    for (const auto& r : list) {
        out.push_back(fbs::CreateQuorumReplica(b, r.id.value(), r.log_end.value(), r.last_fetch_ms,
                                               r.last_caught_up_ms));
    }
    return b.CreateVector(out);
}

}  // namespace

std::optional<std::vector<create_topic_request>> read(const fbs::CreateTopicsRequest& r,
                                                      std::string* why) {
    const bad fail{why};
    text_budget text;
    std::vector<create_topic_request> out;
    if (r.topics() == nullptr) {
        return out;
    }
    if (too_long(r.topics())) {
        return fail("a CreateTopics request with too many topics");
    }
    for (const auto* t : *r.topics()) {
        if (t == nullptr) {
            return fail("a CreateTopics request with a null topic");
        }
        create_topic_request req{
            text.take(t->name()), t->num_partitions(), t->replication_factor(), {}, {}};
        if (too_long(t->configs())) {
            return fail("a CreateTopics request with too many configs");
        }
        if (t->configs() != nullptr) {
            for (const auto* kv : *t->configs()) {
                if (kv == nullptr) {
                    return fail("a CreateTopics request with a null config");
                }
                auto key = text.take(kv->key());
                if (!req.configs.emplace(key, text.take(kv->value())).second) {
                    req.duplicate_config = key;
                }
            }
        }
        out.push_back(std::move(req));
    }
    if (text.over()) {
        return fail(too_much_text);
    }
    return out;
}

namespace {

// A request's list of names (null: empty), or nothing with `*why` naming `request`.
std::optional<std::vector<std::string>> read_names(
    const flatbuffers::Vector<off<flatbuffers::String>>* names, std::string_view request,
    std::string* why) {
    std::vector<std::string> out;
    if (too_long(names)) {
        return bad{why}(fmt::format("a {} request with too many names", request));
    }
    text_budget text;
    if (names != nullptr) {
        for (const auto* n : *names) {
            out.push_back(text.take(n));
        }
    }
    if (text.over()) {
        return bad{why}(too_much_text);
    }
    return out;
}

}  // namespace

std::optional<std::vector<std::string>> read(const fbs::DeleteTopicsRequest& r, std::string* why) {
    return read_names(r.names(), "DeleteTopics", why);
}

std::optional<std::vector<std::string>> read(const fbs::ElectLeadersRequest& r, std::string* why) {
    if (r.election_type() != 0) {
        return bad{why}(fmt::format(
            "election type {} is not served: only preferred elections (0) are; unclean ones "
            "happen by themselves on topics with unclean.leader.election.enable=true",
            int(r.election_type())));
    }
    return read_names(r.topics(), "ElectLeaders", why);
}

std::optional<std::vector<election_result>> read(const fbs::ElectLeadersResponse& r,
                                                 std::string* why) {
    std::vector<election_result> out;
    if (r.results() == nullptr) {
        return out;
    }
    if (too_long(r.results())) {
        return bad{why}("too many election results");
    }
    text_budget text;
    for (const auto* e : *r.results()) {
        if (e == nullptr) {
            return bad{why}("a null election result");
        }
        out.push_back({text.take(e->topic()), e->partition(), errc(e->error_code()),
                       text.take(e->error_message())});
    }
    if (text.over()) {
        return bad{why}(too_much_text);
    }
    return out;
}

std::optional<std::vector<partition_count_request>> read(const fbs::CreatePartitionsRequest& r,
                                                         std::string* why) {
    const bad fail{why};
    std::vector<partition_count_request> out;
    if (too_long(r.topics())) {
        return fail("a CreatePartitions request with too many topics");
    }
    text_budget text;
    if (r.topics() != nullptr) {
        for (const auto* t : *r.topics()) {
            if (t == nullptr) {
                return fail("a CreatePartitions request with a null topic");
            }
            out.push_back({text.take(t->name()), t->count()});
        }
    }
    if (text.over()) {
        return fail(too_much_text);
    }
    return out;
}

std::optional<std::vector<config_change_request>> read(const fbs::IncrementalAlterConfigsRequest& r,
                                                       std::string* why) {
    const bad fail{why};
    std::vector<config_change_request> out;
    if (too_long(r.topics())) {
        return fail("an IncrementalAlterConfigs request with too many topics");
    }
    if (r.topics() == nullptr) {
        return out;
    }
    text_budget text;
    for (const auto* t : *r.topics()) {
        if (t == nullptr || too_long(t->changes())) {
            return fail("an IncrementalAlterConfigs request with a null topic or too many changes");
        }
        config_change_request req{text.take(t->name()), {}, {}};
        if (t->changes() != nullptr) {
            for (const auto* c : *t->changes()) {
                if (c == nullptr) {
                    return fail("an IncrementalAlterConfigs request with a null change");
                }
                auto key = text.take(c->key());
                std::optional<std::string> value;
                if (c->op() == fbs::ConfigOp::Set) {
                    if (c->value() == nullptr) {
                        return fail(fmt::format("config '{}' is to be set without a value", key));
                    }
                    value = text.take(c->value());
                } else if (c->op() != fbs::ConfigOp::Delete) {
                    return fail(fmt::format("config '{}': unknown operation {} (0 set, 1 delete)",
                                            key, int(c->op())));
                }
                if (!req.changes.emplace(key, std::move(value)).second) {
                    req.duplicate_key = key;
                }
            }
        }
        out.push_back(std::move(req));
    }
    if (text.over()) {
        return fail(too_much_text);
    }
    return out;
}

std::optional<std::vector<topic_result>> read(
    const flatbuffers::Vector<off<fbs::TopicResult>>* results, std::string* why) {
    std::vector<topic_result> out;
    if (results == nullptr) {
        return out;
    }
    if (too_long(results)) {
        return bad{why}("too many topic results");
    }
    text_budget text;
    for (const auto* r : *results) {
        if (r == nullptr) {
            return bad{why}("a null topic result");
        }
        out.push_back({text.take(r->name()), errc(r->error_code()), text.take(r->error_message())});
    }
    if (text.over()) {
        return bad{why}(too_much_text);
    }
    return out;
}

std::optional<quorum_status> read(const fbs::DescribeQuorumResponse& r, std::string* why) {
    quorum_status out;
    out.error = errc(r.error_code());
    out.message = str(r.error_message());
    out.leader = node_id_t(r.leader_id());
    out.epoch = r.leader_epoch();
    out.high_watermark = offset_t(r.high_watermark());
    auto voters = read_replicas(r.voters());
    auto observers = read_replicas(r.observers());
    if (!voters || !observers) {
        return bad{why}("a DescribeQuorum answer with a null or too long replica list");
    }
    out.voters = std::move(*voters);
    out.observers = std::move(*observers);
    for (const auto& v : out.voters) {
        if (v.id == out.leader) {
            out.leader_log_end = v.log_end;
        }
    }
    return out;
}

off<fbs::CreateTopicsRequest> write(builder& b, const std::vector<create_topic_request>& topics,
                                    bool validate_only) {
    std::vector<off<fbs::CreatableTopic>> list;
    for (const auto& t : topics) {
        std::vector<off<fbs::TopicConfig>> configs;
        for (const auto& [k, v] : t.configs) {
            configs.push_back(fbs::CreateTopicConfig(b, b.CreateString(k), b.CreateString(v)));
        }
        if (auto dup = t.configs.find(t.duplicate_config); dup != t.configs.end()) {
            // Named twice: so the reader finds it twice too, and refuses it as the client's
            // listener would.
            configs.push_back(
                fbs::CreateTopicConfig(b, b.CreateString(dup->first), b.CreateString(dup->second)));
        }
        list.push_back(fbs::CreateCreatableTopic(b, b.CreateString(t.name), t.partitions,
                                                 t.replication_factor, b.CreateVector(configs)));
    }
    return fbs::CreateCreateTopicsRequest(b, b.CreateVector(list), 30000, validate_only);
}

off<fbs::DeleteTopicsRequest> write(builder& b, const std::vector<std::string>& names) {
    std::vector<off<flatbuffers::String>> list;
    for (const auto& n : names) {
        list.push_back(b.CreateString(n));
    }
    return fbs::CreateDeleteTopicsRequest(b, b.CreateVector(list));
}

off<fbs::CreatePartitionsRequest> write(builder& b,
                                        const std::vector<partition_count_request>& topics,
                                        bool validate_only) {
    std::vector<off<fbs::PartitionCount>> list;
    for (const auto& t : topics) {
        list.push_back(fbs::CreatePartitionCount(b, b.CreateString(t.name), t.total));
    }
    return fbs::CreateCreatePartitionsRequest(b, b.CreateVector(list), 30000, validate_only);
}

off<fbs::IncrementalAlterConfigsRequest> write(builder& b,
                                               const std::vector<config_change_request>& topics,
                                               bool validate_only) {
    std::vector<off<fbs::TopicConfigChanges>> list;
    for (const auto& t : topics) {
        std::vector<off<fbs::ConfigChange>> changes;
        auto change = [&](const std::string& k, const std::optional<std::string>& v) {
            changes.push_back(fbs::CreateConfigChange(
                b, b.CreateString(k), v ? fbs::ConfigOp::Set : fbs::ConfigOp::Delete,
                v ? b.CreateString(*v) : 0));
        };
        for (const auto& [k, v] : t.changes) {
            change(k, v);
        }
        if (auto dup = t.changes.find(t.duplicate_key); dup != t.changes.end()) {
            change(dup->first, dup->second);  // named twice, as it came
        }
        list.push_back(
            fbs::CreateTopicConfigChanges(b, b.CreateString(t.name), b.CreateVector(changes)));
    }
    return fbs::CreateIncrementalAlterConfigsRequest(b, b.CreateVector(list), validate_only);
}

off<flatbuffers::Vector<off<fbs::TopicResult>>> write(builder& b,
                                                      const std::vector<topic_result>& results) {
    std::vector<off<fbs::TopicResult>> out;
    out.reserve(results.size());
    for (const auto& r : results) {
        out.push_back(fbs::CreateTopicResult(b, b.CreateString(r.name), int16_t(r.error),
                                             r.message.empty() ? 0 : b.CreateString(r.message)));
    }
    return b.CreateVector(out);
}

off<fbs::ElectLeadersRequest> write_election(builder& b, const std::vector<std::string>& topics) {
    std::vector<off<flatbuffers::String>> list;
    for (const auto& t : topics) {
        list.push_back(b.CreateString(t));
    }
    return fbs::CreateElectLeadersRequest(b, 0, b.CreateVector(list));
}

off<fbs::ElectLeadersResponse> write(builder& b, const std::vector<election_result>& results) {
    std::vector<off<fbs::PartitionElectionResult>> out;
    out.reserve(results.size());
    for (const auto& r : results) {
        out.push_back(fbs::CreatePartitionElectionResult(
            b, b.CreateString(r.topic), r.partition, int16_t(r.error),
            r.message.empty() ? 0 : b.CreateString(r.message)));
    }
    return fbs::CreateElectLeadersResponse(b, b.CreateVector(out));
}

off<fbs::DescribeQuorumResponse> write(builder& b, const quorum_status& q) {
    return fbs::CreateDescribeQuorumResponse(
        b, int16_t(q.error), q.message.empty() ? 0 : b.CreateString(q.message), q.leader.value(),
        q.epoch, q.high_watermark.value(), write_replicas(b, q.voters),
        write_replicas(b, q.observers));
}

}  // namespace sluice::broker::bodies
