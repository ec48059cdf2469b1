// The metadata log's record batches: every record type survives encoding, and a batch that is
// damaged or misses what a record needs is refused with a reason, never half read.
#include <doctest/doctest.h>

#include "sluice/controller/metadata_records.h"
#include "sluice/fbs/metadata_generated.h"

using namespace sluice;
using namespace sluice::controller;

namespace {

const uuid topic_a{0x1234, 0x5678};

std::vector<metadata_record> every_kind() {
    return {
        records::register_broker{node_id_t{1},
                                 uuid{7, 9},
                                 {{"PLAINTEXT", "127.0.0.1", 9192}, {"CONTROLLER", "::1", 9193}},
                                 "rack-a",
                                 epoch_of_this_record},
        records::register_broker{node_id_t{2}, uuid{1, 1}, {{"PLAINTEXT", "h", 1}}, "", 42},
        records::fence_broker{node_id_t{1}, 3},
        records::unfence_broker{node_id_t{1}, 3},
        records::topic{"orders", topic_a},
        records::partition{topic_a,
                           0,
                           {node_id_t{1}, node_id_t{2}},
                           {node_id_t{2}},
                           node_id_t{2},
                           leader_epoch_t{4},
                           6},
        records::partition{topic_a, 1, {node_id_t{1}}, {}, node_id_t{-1}, leader_epoch_t{0}, 0},
        records::partition_change{topic_a, 0, node_id_t{1}, std::vector{node_id_t{1}}, {}},
        records::partition_change{topic_a, 1, node_id_t{-1}, {}, std::vector{node_id_t{3}}},
        records::partition_change{topic_a, 1, std::nullopt, std::vector<node_id_t>{}, {}},
        records::remove_topic{topic_a},
        records::topic_config{topic_a, "retention.ms", "1000"},
        records::topic_config{topic_a, "retention.ms", std::nullopt},
        records::producer_ids{node_id_t{1}, 3, 1000},
    };
}

std::string why_refused(std::string_view bytes) {
    std::string why;
    auto r = decode_batch(bytes, &why);
    CHECK_FALSE(r.has_value());
    return why;
}

}  // namespace

TEST_CASE("every record type decodes to what was encoded") {
    const auto batch = every_kind();
    const auto bytes = encode_batch(batch);
    std::string why;
    auto back = decode_batch(bytes, &why);
    REQUIRE_MESSAGE(back.has_value(), why);
    REQUIRE(back->size() == batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
        CHECK_MESSAGE((*back)[i] == batch[i], describe(batch[i]), " came back as ",
                      describe((*back)[i]));
    }
    // An unchanged leader and an absent ISR stay absent; an empty ISR stays empty.
    const auto& change = std::get<records::partition_change>((*back)[9]);
    CHECK_FALSE(change.leader.has_value());
    REQUIRE(change.isr.has_value());
    CHECK(change.isr->empty());
    CHECK_FALSE(change.replicas.has_value());
}

TEST_CASE("a damaged or incomplete batch is refused with a reason") {
    CHECK(why_refused("") == "not a MetadataBatch");
    CHECK(why_refused("garbage that is no flatbuffer") == "not a MetadataBatch");
    CHECK(why_refused(encode_batch({})) == "a batch without records");

    // (The last bytes may be padding, which the batch does not need; a CRC guards those.)
    auto bytes = encode_batch(every_kind());
    for (size_t cut : {size_t(1), size_t(16), bytes.size() / 2}) {
        CHECK_FALSE(decode_batch(std::string_view(bytes).substr(0, cut)).has_value());
    }

    const std::vector<std::pair<metadata_record, std::string_view>> bad = {
        {records::topic{"t", uuid{}}, "a Topic record without a name or id"},
        {records::topic{"", topic_a}, "a Topic record without a name or id"},
        {records::register_broker{node_id_t{1}, uuid{}, {{"PLAINTEXT", "h", 1}}, "", -1},
         "a RegisterBroker record without a broker id, an incarnation or an endpoint, or with "
         "a bad epoch or rack"},
        {records::register_broker{node_id_t{1}, uuid{1, 2}, {}, "", -1},
         "a RegisterBroker record without a broker id, an incarnation or an endpoint, or with "
         "a bad epoch or rack"},
        {records::register_broker{node_id_t{1}, uuid{1, 2}, {{"PLAINTEXT", "h", 70000}}, "", -1},
         "a RegisterBroker record with a bad endpoint"},
        {records::fence_broker{node_id_t{-1}, 3},
         "a FenceBroker record without a broker id or epoch"},
        {records::unfence_broker{node_id_t{2}, -1},
         "an UnfenceBroker record without a broker id or epoch"},
        {records::partition{topic_a, 0, {node_id_t{-3}}, {}, node_id_t{-1}, leader_epoch_t{0}, 0},
         "a Partition record with a missing or negative field"},
        {records::partition{topic_a, 0, {node_id_t{1}}, {}, node_id_t{1}, leader_epoch_t{-1}, 0},
         "a Partition record with a missing or negative field"},
        {records::partition_change{topic_a, -1, {}, {}, {}},
         "a PartitionChange record without a topic id or partition"},
        {records::partition_change{topic_a, 0, {}, std::vector{node_id_t{-2}}, {}},
         "a PartitionChange record with a bad ISR"},
        {records::remove_topic{uuid{}}, "a RemoveTopic record without a topic id"},
        {records::topic_config{topic_a, "", "1"}, "a TopicConfig record without a topic id or key"},
        {records::producer_ids{node_id_t{1}, 1, -5},
         "a ProducerIds record with a negative next id"},
    };
    for (const auto& [record, reason] : bad) {
        CAPTURE(describe(record));
        // A good record before the bad one: the whole batch is refused.
        const std::vector<metadata_record> batch{records::remove_topic{topic_a}, record};
        CHECK(why_refused(encode_batch(batch)) == reason);
    }
}

TEST_CASE("a record that names its type but has no body is refused") {
    namespace mfb = fbs::metadata;
    for (auto type : {mfb::Record::Topic, mfb::Record::RegisterBroker, mfb::Record::ProducerIds}) {
        flatbuffers::FlatBufferBuilder b;
        mfb::RecordEntryBuilder e(b);
        e.add_record_type(type);
        const auto entry = e.Finish();
        b.Finish(mfb::CreateMetadataBatch(b, b.CreateVector(std::vector{entry})));
        const std::string bytes(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
        CHECK(why_refused(bytes) == "a record without a body");
    }
}

TEST_CASE("uuids are random, never zero, and print as 32 hex digits") {
    const uuid a = uuid::random();
    const uuid b = uuid::random();
    CHECK_FALSE(a.is_zero());
    CHECK(a != b);
    CHECK(uuid{0x1, 0xab}.to_string() == "000000000000000100000000000000ab");
}
