// Request encoding and answer decoding over frames built by hand: what the client sends parses
// as the schema says, answers decode into the plain structs, and malformed answers are errors
// (never crashes).
#include <doctest/doctest.h>

#include <cstring>

#include "sluice/client/errc.h"
#include "sluice/client/internal/cluster.h"
#include "sluice/client/internal/requests.h"
#include "sluice/protocol/record_batch.h"

using namespace sluice;
using namespace sluice::client;

namespace {

// The frame as a connection would hand it over: copied into new[] memory and parsed.
response to_response(const frame::writer& w) {
    const std::vector<std::byte> bytes = w.to_bytes();
    std::shared_ptr<std::byte[]> buf(new std::byte[bytes.size()]);
    std::memcpy(buf.get(), bytes.data(), bytes.size());
    auto view = frame::parse(frame::bytes_view(buf.get(), bytes.size()));
    REQUIRE(view);
    return response{buf, bytes.size(), view.value()};
}

template <typename Build>
response answer(fbs::ApiKey key, fbs::Body type, Build build) {
    frame::writer w;
    auto body = build(w);
    w.finish(frame::make_envelope(w.fbb(), key, 0, 7, type, body.Union()));
    return to_response(w);
}

std::vector<std::byte> one_batch(std::string_view value) {
    batch_builder b;
    const record_input r{std::nullopt, as_bytes(value), timestamp_ms_t(5), {}};
    b.add(r);
    return b.finish();
}

}  // namespace

TEST_CASE("metadata request and answer") {
    metadata_request req;
    req.topics = {"a", "b"};
    req.allow_auto_topic_creation = true;
    auto w = encode_metadata(42, "cid", req);
    response sent = to_response(*w);
    const fbs::Envelope* env = sent.envelope();
    CHECK(env->api_key() == fbs::ApiKey::Metadata);
    CHECK(env->correlation_id() == 42);
    REQUIRE(env->client_id() != nullptr);
    CHECK(env->client_id()->str() == "cid");
    const auto* m = env->body_as_MetadataRequest();
    REQUIRE(m != nullptr);
    REQUIRE(m->topics()->size() == 2);
    CHECK(m->topics()->Get(1)->str() == "b");
    CHECK(m->allow_auto_topic_creation());
    CHECK_FALSE(m->all_topics());

    auto r = answer(fbs::ApiKey::Metadata, fbs::Body::MetadataResponse, [](frame::writer& fw) {
        auto& fbb = fw.fbb();
        std::vector<flatbuffers::Offset<fbs::BrokerMetadata>> brokers{
            fbs::CreateBrokerMetadataDirect(fbb, 2, "h2", 92),
            fbs::CreateBrokerMetadataDirect(fbb, 1, "h1", 91)};
        std::vector<int32_t> replicas{1};
        std::vector<flatbuffers::Offset<fbs::PartitionMetadata>> parts{
            fbs::CreatePartitionMetadataDirect(fbb, 0, 1, 1, 3, &replicas, &replicas),
            fbs::CreatePartitionMetadataDirect(fbb, 0, 0, 1, 3, &replicas, &replicas)};
        std::vector<flatbuffers::Offset<fbs::TopicMetadata>> topics{
            fbs::CreateTopicMetadataDirect(fbb, 0, nullptr, "a", &parts),
            fbs::CreateTopicMetadataDirect(fbb, 3, "no such topic", "b", nullptr)};
        return fbs::CreateMetadataResponseDirect(fbb, &brokers, "c", 1, &topics);
    });
    auto a = decode_metadata(r);
    REQUIRE(a);
    REQUIRE(a.value().brokers.size() == 2);
    CHECK(a.value().brokers[0].node_id == 1);  // sorted
    CHECK(a.value().brokers[0].host == "h1");
    CHECK(a.value().brokers[0].port == 91);
    CHECK(a.value().controller_id == 1);
    REQUIRE(a.value().topics.size() == 2);
    const topic_meta& t = a.value().topics[0];
    CHECK(t.name == "a");
    REQUIRE(t.partitions.size() == 2);
    CHECK(t.partitions[0].partition == 0);  // sorted
    CHECK(t.partitions[0].leader == 1);
    CHECK(t.partitions[0].leader_epoch == 3);
    CHECK(t.partitions[0].replicas == std::vector<int32_t>{1});
    CHECK(a.value().topics[1].error == errc::unknown_topic_or_partition);
    CHECK(a.value().topics[1].error_message == "no such topic");

    metadata_cache cache;
    cache.apply(a.value(), false, clock::now());
    CHECK(cache.partition("a", 1) != nullptr);
    CHECK(cache.partition("a", 2) == nullptr);
    CHECK(cache.topic("b") == nullptr);
    CHECK(cache.broker(2)->host == "h2");
}

TEST_CASE("an ErrorResponse or a wrong body is an error") {
    auto err = answer(fbs::ApiKey::Metadata, fbs::Body::ErrorResponse, [](frame::writer& fw) {
        return fbs::CreateErrorResponseDirect(fw.fbb(), 35, "unsupported");
    });
    auto a = decode_metadata(err);
    REQUIRE_FALSE(a);
    CHECK(a.error() == errc::unsupported_version);

    auto wrong =
        answer(fbs::ApiKey::Metadata, fbs::Body::DeleteTopicsResponse,
               [](frame::writer& fw) { return fbs::CreateDeleteTopicsResponse(fw.fbb()); });
    auto b = decode_metadata(wrong);
    REQUIRE_FALSE(b);
    CHECK(b.error() == client_errc::protocol_error);
    CHECK(b.error().message().find("expected a MetadataResponse body") != std::string::npos);

    CHECK(decode_produce(response{}).error() == client_errc::protocol_error);
}

TEST_CASE("produce request carries the batches by reference; the answer decodes") {
    const auto b0 = one_batch("zero");
    const auto b1 = one_batch("one");
    const auto b2 = one_batch("two");
    const std::string t1 = "t1";
    const std::string t2 = "t2";
    std::vector<produce_partition> parts{{t1, 0, b0}, {t1, 3, b1}, {t2, 1, b2}};
    auto w = encode_produce(9, "p", 1, 1500, parts);
    response sent = to_response(*w);
    const auto* req = sent.envelope()->body_as_ProduceRequest();
    REQUIRE(req != nullptr);
    CHECK(req->acks() == 1);
    CHECK(req->timeout_ms() == 1500);
    REQUIRE(req->topics()->size() == 2);  // adjacent partitions of a topic share an entry
    const auto* pt = req->topics()->Get(0);
    CHECK(pt->name()->str() == "t1");
    REQUIRE(pt->partitions()->size() == 2);
    CHECK(pt->partitions()->Get(1)->partition() == 3);
    auto data = frame::resolve(pt->partitions()->Get(1)->records(), sent.view.data);
    REQUIRE(data);
    CHECK(std::equal(data.value().begin(), data.value().end(), b1.begin(), b1.end()));
    auto v = batch_view::parse(data.value());
    CHECK(v);

    auto r = answer(fbs::ApiKey::Produce, fbs::Body::ProduceResponse, [](frame::writer& fw) {
        auto& fbb = fw.fbb();
        std::vector<flatbuffers::Offset<fbs::ProducePartitionResponse>> ps{
            fbs::CreateProducePartitionResponseDirect(fbb, 0, 0, nullptr, 100, -1, 0),
            fbs::CreateProducePartitionResponseDirect(fbb, 3, 6, "not leader", -1, -1, 0)};
        std::vector<flatbuffers::Offset<fbs::ProduceTopicResponse>> ts{
            fbs::CreateProduceTopicResponseDirect(fbb, "t1", &ps)};
        return fbs::CreateProduceResponseDirect(fbb, &ts);
    });
    auto answers = decode_produce(r);
    REQUIRE(answers);
    REQUIRE(answers.value().size() == 2);
    CHECK(answers.value()[0].topic == "t1");
    CHECK(answers.value()[0].base_offset == 100);
    CHECK(answers.value()[1].error == errc::not_leader_or_follower);
}

TEST_CASE("fetch answers resolve their records; a DataRef outside the frame is corrupt") {
    const std::string topic = "t";
    std::vector<fetch_query> q{{topic, 0, 5, 1000}, {topic, 1, 0, 2000}};
    auto w = encode_fetch(3, "c", fetch_limits{250, 10, 4096}, q);
    response sent = to_response(*w);
    const auto* req = sent.envelope()->body_as_FetchRequest();
    REQUIRE(req != nullptr);
    CHECK(req->max_wait_ms() == 250);
    CHECK(req->min_bytes() == 10);
    CHECK(req->max_bytes() == 4096);
    CHECK(req->replica_id() == -1);
    REQUIRE(req->topics()->size() == 1);
    CHECK(req->topics()->Get(0)->partitions()->Get(0)->fetch_offset() == 5);
    CHECK(req->topics()->Get(0)->partitions()->Get(1)->partition_max_bytes() == 2000);

    const auto batch = one_batch("payload");
    auto r = answer(fbs::ApiKey::Fetch, fbs::Body::FetchResponse, [&](frame::writer& fw) {
        auto& fbb = fw.fbb();
        const fbs::DataRef ref = fw.add_data(batch);
        std::vector<flatbuffers::Offset<fbs::FetchPartitionResponse>> ps{
            fbs::CreateFetchPartitionResponse(fbb, 0, 0, 11, 0, &ref, 11),
            fbs::CreateFetchPartitionResponse(fbb, 1, 1, 11, 0, nullptr, -1)};
        std::vector<flatbuffers::Offset<fbs::FetchTopicResponse>> ts{
            fbs::CreateFetchTopicResponseDirect(fbb, "t", &ps)};
        return fbs::CreateFetchResponseDirect(fbb, 0, &ts);
    });
    auto answers = decode_fetch(r);
    REQUIRE(answers);
    REQUIRE(answers.value().size() == 2);
    CHECK(answers.value()[0].high_watermark == 11);
    CHECK(answers.value()[0].records.size() == batch.size());
    CHECK(answers.value()[1].error == errc::offset_out_of_range);
    CHECK(answers.value()[1].records.empty());

    auto bad = answer(fbs::ApiKey::Fetch, fbs::Body::FetchResponse, [&](frame::writer& fw) {
        auto& fbb = fw.fbb();
        const fbs::DataRef ref(4, 100000);
        std::vector<flatbuffers::Offset<fbs::FetchPartitionResponse>> ps{
            fbs::CreateFetchPartitionResponse(fbb, 0, 0, 11, 0, &ref, 11)};
        std::vector<flatbuffers::Offset<fbs::FetchTopicResponse>> ts{
            fbs::CreateFetchTopicResponseDirect(fbb, "t", &ps)};
        return fbs::CreateFetchResponseDirect(fbb, 0, &ts);
    });
    CHECK(decode_fetch(bad).error() == errc::corrupt_message);
}

TEST_CASE("list offsets, create and delete topics") {
    std::vector<offset_query> q{{"a", 0, -2}, {"a", 1, -1}, {"b", 0, 1234}};
    response sent = to_response(*encode_list_offsets(1, "c", q));
    const auto* req = sent.envelope()->body_as_ListOffsetsRequest();
    REQUIRE(req->topics()->size() == 2);
    CHECK(req->topics()->Get(0)->partitions()->Get(0)->timestamp() == -2);
    CHECK(req->topics()->Get(1)->partitions()->Get(0)->timestamp() == 1234);

    auto r =
        answer(fbs::ApiKey::ListOffsets, fbs::Body::ListOffsetsResponse, [](frame::writer& fw) {
            auto& fbb = fw.fbb();
            std::vector<flatbuffers::Offset<fbs::ListOffsetsPartitionResponse>> ps{
                fbs::CreateListOffsetsPartitionResponse(fbb, 0, 0, -1, 17, 0)};
            std::vector<flatbuffers::Offset<fbs::ListOffsetsTopicResponse>> ts{
                fbs::CreateListOffsetsTopicResponseDirect(fbb, "a", &ps)};
            return fbs::CreateListOffsetsResponseDirect(fbb, &ts);
        });
    auto offsets = decode_list_offsets(r);
    REQUIRE(offsets);
    REQUIRE(offsets.value().size() == 1);
    CHECK(offsets.value()[0].offset == 17);

    std::vector<new_topic> topics{{"n", 3, 1, {{"retention.ms", "1000"}}}};
    response create = to_response(*encode_create_topics(2, "c", topics, 5000));
    const auto* cr = create.envelope()->body_as_CreateTopicsRequest();
    REQUIRE(cr->topics()->size() == 1);
    CHECK(cr->topics()->Get(0)->num_partitions() == 3);
    CHECK(cr->topics()->Get(0)->configs()->Get(0)->key()->str() == "retention.ms");
    CHECK(cr->timeout_ms() == 5000);

    auto cans =
        answer(fbs::ApiKey::CreateTopics, fbs::Body::CreateTopicsResponse, [](frame::writer& fw) {
            auto& fbb = fw.fbb();
            std::vector<flatbuffers::Offset<fbs::TopicResult>> rs{
                fbs::CreateTopicResultDirect(fbb, "n", 36, "exists")};
            return fbs::CreateCreateTopicsResponseDirect(fbb, &rs);
        });
    auto results = decode_create_topics(cans);
    REQUIRE(results);
    CHECK(results.value()[0].error == errc::topic_already_exists);
    CHECK(results.value()[0].error_message == "exists");

    std::vector<std::string> names{"x"};
    response del = to_response(*encode_delete_topics(3, "c", names, 100));
    CHECK(del.envelope()->body_as_DeleteTopicsRequest()->names()->Get(0)->str() == "x");
}
