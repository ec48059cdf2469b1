#include "sluice/controller/metadata_records.h"

#include "fb_ids.h"

#include <random>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sluice/fbs/metadata_generated.h"

namespace sluice::controller {
namespace {

namespace mfb = fbs::metadata;
using fb = flatbuffers::FlatBufferBuilder;
template <typename T>
using off = flatbuffers::Offset<T>;

// Bounds a decoded batch may not exceed; far above anything the controller writes, they keep a
// hostile entry from making a huge image.
constexpr size_t ids_max = 1024;
constexpr size_t string_max = 64 * 1024;

// ---- encoding

mfb::Uuid encode_uuid(const uuid& u) {
    return mfb::Uuid(u.hi, u.lo);
}

struct encoded {
    mfb::Record type;
    off<void> body;
};

encoded encode_record(fb& b, const records::register_broker& r) {
    std::vector<off<mfb::Endpoint>> eps;
    for (const auto& e : r.endpoints) {
        eps.push_back(
            mfb::CreateEndpoint(b, b.CreateString(e.listener), b.CreateString(e.host), e.port));
    }
    const auto endpoints = b.CreateVector(eps);
    const auto rack = r.rack.empty() ? 0 : b.CreateString(r.rack);
    const auto inc = encode_uuid(r.incarnation);
    return {
        mfb::Record::RegisterBroker,
        mfb::CreateRegisterBroker(b, r.id.value(), &inc, endpoints, rack, r.broker_epoch).Union()};
}

encoded encode_record(fb& b, const records::fence_broker& r) {
    return {mfb::Record::FenceBroker,
            mfb::CreateFenceBroker(b, r.id.value(), r.broker_epoch).Union()};
}

encoded encode_record(fb& b, const records::unfence_broker& r) {
    return {mfb::Record::UnfenceBroker,
            mfb::CreateUnfenceBroker(b, r.id.value(), r.broker_epoch).Union()};
}

encoded encode_record(fb& b, const records::topic& r) {
    const auto name = b.CreateString(r.name);
    const auto id = encode_uuid(r.id);
    return {mfb::Record::Topic, mfb::CreateTopic(b, name, &id).Union()};
}

encoded encode_record(fb& b, const records::partition& r) {
    const auto replicas = encode_ids(b, r.replicas);
    const auto isr = encode_ids(b, r.isr);
    const auto id = encode_uuid(r.topic_id);
    return {mfb::Record::Partition,
            mfb::CreatePartition(b, &id, r.index, replicas, isr, r.leader.value(),
                                 r.leader_epoch.value(), r.partition_epoch)
                .Union()};
}

encoded encode_record(fb& b, const records::partition_change& r) {
    const auto isr = r.isr ? encode_ids(b, *r.isr) : 0;
    const auto replicas = r.replicas ? encode_ids(b, *r.replicas) : 0;
    const auto id = encode_uuid(r.topic_id);
    return {mfb::Record::PartitionChange,
            mfb::CreatePartitionChange(b, &id, r.index, r.leader ? r.leader->value() : -2, isr,
                                       replicas)
                .Union()};
}

encoded encode_record(fb& b, const records::remove_topic& r) {
    const auto id = encode_uuid(r.topic_id);
    return {mfb::Record::RemoveTopic, mfb::CreateRemoveTopic(b, &id).Union()};
}

encoded encode_record(fb& b, const records::topic_config& r) {
    const auto key = b.CreateString(r.key);
    const auto value = r.value ? b.CreateString(*r.value) : 0;
    const auto id = encode_uuid(r.topic_id);
    return {mfb::Record::TopicConfig, mfb::CreateTopicConfig(b, &id, key, value).Union()};
}

encoded encode_record(fb& b, const records::producer_ids& r) {
    return {mfb::Record::ProducerIds,
            mfb::CreateProducerIds(b, r.id.value(), r.broker_epoch, r.next_producer_id).Union()};
}

// ---- decoding: each returns the record, or nothing with `why` set.

struct bad {
    std::string* why;
    template <typename... A>
    std::nullopt_t operator()(fmt::format_string<A...> f, A&&... args) const {
        if (why != nullptr) {
            *why = fmt::format(f, std::forward<A>(args)...);
        }
        return std::nullopt;
    }
};

std::optional<uuid> decode_uuid(const mfb::Uuid* u) {
    if (u == nullptr || (u->hi() == 0 && u->lo() == 0)) {
        return std::nullopt;
    }
    return uuid{u->hi(), u->lo()};
}

std::optional<std::vector<node_id_t>> decode_ids(const flatbuffers::Vector<int32_t>* v) {
    if (v == nullptr || v->size() > ids_max) {
        return std::nullopt;
    }
    std::vector<node_id_t> ids;
    ids.reserve(v->size());
    for (int32_t id : *v) {
        if (id < 0) {
            return std::nullopt;
        }
        ids.emplace_back(id);
    }
    return ids;
}

bool fits(const flatbuffers::String* s) {
    return s != nullptr && s->size() <= string_max;
}

std::optional<metadata_record> decode_record(const mfb::RecordEntry* entry, const bad& fail) {
    if (entry == nullptr || entry->record() == nullptr) {
        return fail("a record without a body");  // a type with no body, too
    }
    switch (entry->record_type()) {
        case mfb::Record::RegisterBroker: {
            const auto* r = entry->record_as_RegisterBroker();
            records::register_broker out;
            auto inc = decode_uuid(r->incarnation());
            if (r->broker_id() < 0 || !inc || r->endpoints() == nullptr ||
                r->endpoints()->size() == 0 || r->endpoints()->size() > ids_max ||
                r->broker_epoch() < epoch_of_this_record ||
                (r->rack() != nullptr && !fits(r->rack()))) {
                return fail(
                    "a RegisterBroker record without a broker id, an incarnation or an "
                    "endpoint, or with a bad epoch or rack");
            }
            out.id = node_id_t(r->broker_id());
            out.incarnation = *inc;
            out.broker_epoch = r->broker_epoch();
            out.rack = r->rack() != nullptr ? r->rack()->str() : std::string();
            for (const auto* e : *r->endpoints()) {
                if (e == nullptr || !fits(e->listener()) || !fits(e->host()) ||
                    e->listener()->size() == 0 || e->port() <= 0 || e->port() > 65535) {
                    return fail("a RegisterBroker record with a bad endpoint");
                }
                out.endpoints.push_back({e->listener()->str(), e->host()->str(), e->port()});
            }
            return out;
        }
        case mfb::Record::FenceBroker: {
            const auto* r = entry->record_as_FenceBroker();
            if (r->broker_id() < 0 || r->broker_epoch() < 0) {
                return fail("a FenceBroker record without a broker id or epoch");
            }
            return records::fence_broker{node_id_t(r->broker_id()), r->broker_epoch()};
        }
        case mfb::Record::UnfenceBroker: {
            const auto* r = entry->record_as_UnfenceBroker();
            if (r->broker_id() < 0 || r->broker_epoch() < 0) {
                return fail("an UnfenceBroker record without a broker id or epoch");
            }
            return records::unfence_broker{node_id_t(r->broker_id()), r->broker_epoch()};
        }
        case mfb::Record::Topic: {
            const auto* r = entry->record_as_Topic();
            auto id = decode_uuid(r->topic_id());
            if (!id || !fits(r->name()) || r->name()->size() == 0) {
                return fail("a Topic record without a name or id");
            }
            return records::topic{r->name()->str(), *id};
        }
        case mfb::Record::Partition: {
            const auto* r = entry->record_as_Partition();
            auto id = decode_uuid(r->topic_id());
            auto replicas = decode_ids(r->replicas());
            auto isr = decode_ids(r->isr());
            if (!id || r->partition() < 0 || !replicas || !isr || r->leader() < -1 ||
                r->leader_epoch() < 0 || r->partition_epoch() < 0) {
                return fail("a Partition record with a missing or negative field");
            }
            return records::partition{*id,
                                      r->partition(),
                                      std::move(*replicas),
                                      std::move(*isr),
                                      node_id_t(r->leader()),
                                      leader_epoch_t(r->leader_epoch()),
                                      r->partition_epoch()};
        }
        case mfb::Record::PartitionChange: {
            const auto* r = entry->record_as_PartitionChange();
            auto id = decode_uuid(r->topic_id());
            records::partition_change out;
            if (!id || r->partition() < 0 || r->leader() < -2) {
                return fail("a PartitionChange record without a topic id or partition");
            }
            out.topic_id = *id;
            out.index = r->partition();
            if (r->leader() != -2) {
                out.leader = node_id_t(r->leader());
            }
            if (r->isr() != nullptr) {
                out.isr = decode_ids(r->isr());
                if (!out.isr) {
                    return fail("a PartitionChange record with a bad ISR");
                }
            }
            if (r->replicas() != nullptr) {
                out.replicas = decode_ids(r->replicas());
                if (!out.replicas) {
                    return fail("a PartitionChange record with bad replicas");
                }
            }
            return out;
        }
        case mfb::Record::RemoveTopic: {
            auto id = decode_uuid(entry->record_as_RemoveTopic()->topic_id());
            if (!id) {
                return fail("a RemoveTopic record without a topic id");
            }
            return records::remove_topic{*id};
        }
        case mfb::Record::TopicConfig: {
            const auto* r = entry->record_as_TopicConfig();
            auto id = decode_uuid(r->topic_id());
            if (!id || !fits(r->key()) || r->key()->size() == 0 ||
                (r->value() != nullptr && !fits(r->value()))) {
                return fail("a TopicConfig record without a topic id or key");
            }
            records::topic_config out{*id, r->key()->str(), std::nullopt};
            if (r->value() != nullptr) {
                out.value = r->value()->str();
            }
            return out;
        }
        case mfb::Record::ProducerIds: {
            const auto* r = entry->record_as_ProducerIds();
            if (r->next_producer_id() < 0) {
                return fail("a ProducerIds record with a negative next id");
            }
            return records::producer_ids{node_id_t(r->broker_id()), r->broker_epoch(),
                                         r->next_producer_id()};
        }
        default:
            return fail("a record of unknown type {}", int(entry->record_type()));
    }
}

std::string ids_text(const std::vector<node_id_t>& ids) {
    std::vector<int32_t> raw;
    for (auto id : ids) {
        raw.push_back(id.value());
    }
    return fmt::format("[{}]", fmt::join(raw, ","));
}

}  // namespace

std::string uuid::to_string() const {
    return fmt::format("{:016x}{:016x}", hi, lo);
}

uuid uuid::random() {
    static thread_local std::mt19937_64 gen{std::random_device{}()};
    uuid u;
    while (u.is_zero()) {
        u = uuid{gen(), gen()};
    }
    return u;
}

std::string encode_batch(std::span<const metadata_record> batch) {
    fb b(256);
    std::vector<off<mfb::RecordEntry>> entries;
    entries.reserve(batch.size());
    for (const auto& r : batch) {
        const auto e = std::visit([&](const auto& rec) { return encode_record(b, rec); }, r);
        entries.push_back(mfb::CreateRecordEntry(b, e.type, e.body));
    }
    b.Finish(mfb::CreateMetadataBatch(b, b.CreateVector(entries)));
    return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

std::optional<std::vector<metadata_record>> decode_batch(std::string_view bytes, std::string* why) {
    const bad fail{why};
    flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    if (!v.VerifyBuffer<mfb::MetadataBatch>(nullptr)) {
        return fail("not a MetadataBatch");
    }
    const auto* batch = flatbuffers::GetRoot<mfb::MetadataBatch>(bytes.data());
    if (batch->records() == nullptr || batch->records()->size() == 0) {
        return fail("a batch without records");
    }
    std::vector<metadata_record> out;  // grown as records decode: a count is only a claim
    for (const auto* entry : *batch->records()) {
        auto r = decode_record(entry, fail);
        if (!r) {
            return std::nullopt;
        }
        out.push_back(std::move(*r));
    }
    return out;
}

std::string describe(const metadata_record& r) {
    struct visitor {
        std::string operator()(const records::register_broker& x) const {
            std::vector<std::string> eps;
            for (const auto& e : x.endpoints) {
                eps.push_back(fmt::format("{}://{}:{}", e.listener, e.host, e.port));
            }
            return fmt::format("RegisterBroker(id={} incarnation={} epoch={} endpoints={} rack={})",
                               x.id, x.incarnation.to_string(), x.broker_epoch, fmt::join(eps, ","),
                               x.rack);
        }
        std::string operator()(const records::fence_broker& x) const {
            return fmt::format("FenceBroker(id={} epoch={})", x.id, x.broker_epoch);
        }
        std::string operator()(const records::unfence_broker& x) const {
            return fmt::format("UnfenceBroker(id={} epoch={})", x.id, x.broker_epoch);
        }
        std::string operator()(const records::topic& x) const {
            return fmt::format("Topic(name={} id={})", x.name, x.id.to_string());
        }
        std::string operator()(const records::partition& x) const {
            return fmt::format(
                "Partition(topic={} partition={} replicas={} isr={} leader={} leader_epoch={} "
                "partition_epoch={})",
                x.topic_id.to_string(), x.index, ids_text(x.replicas), ids_text(x.isr), x.leader,
                x.leader_epoch, x.partition_epoch);
        }
        std::string operator()(const records::partition_change& x) const {
            return fmt::format(
                "PartitionChange(topic={} partition={} leader={} isr={} replicas={})",
                x.topic_id.to_string(), x.index,
                x.leader ? fmt::format("{}", *x.leader) : std::string("-"),
                x.isr ? ids_text(*x.isr) : std::string("-"),
                x.replicas ? ids_text(*x.replicas) : std::string("-"));
        }
        std::string operator()(const records::remove_topic& x) const {
            return fmt::format("RemoveTopic(id={})", x.topic_id.to_string());
        }
        std::string operator()(const records::topic_config& x) const {
            return fmt::format("TopicConfig(topic={} {}={})", x.topic_id.to_string(), x.key,
                               x.value ? *x.value : std::string("(removed)"));
        }
        std::string operator()(const records::producer_ids& x) const {
            return fmt::format("ProducerIds(broker={} epoch={} next={})", x.id, x.broker_epoch,
                               x.next_producer_id);
        }
    };
    return std::visit(visitor{}, r);
}

}  // namespace sluice::controller
