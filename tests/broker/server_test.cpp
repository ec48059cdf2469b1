// End to end over TCP against an in-process server (so sanitizers see the server's code): every
// API, long polls, bad input, limits, restart and deletion under load.
#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include "fault_fs.h"
#include "server_helpers.h"
#include "sluice/protocol/byte_order.h"

using namespace sluice;
using namespace sluice::broker;
using namespace sluice::testing;
using namespace std::chrono_literals;

TEST_CASE("ApiVersions answers the version table") {
    broker_fixture b;
    wire_client c(b.port());
    auto f = c.call(api_versions_request(42));
    CHECK(f.envelope->correlation_id() == 42);
    CHECK(f.envelope->api_key() == fbs::ApiKey::ApiVersions);
    const auto* r = f.envelope->body_as_ApiVersionsResponse();
    REQUIRE(r != nullptr);
    CHECK(r->error_code() == 0);
    CHECK(r->apis()->size() == 23);
    CHECK(r->apis()->size() == api::supported.size());
}

TEST_CASE("create, produce, fetch, list offsets") {
    broker_fixture b;
    wire_client c(b.port());
    REQUIRE(create(c, "orders", 3) == errc::none);

    auto b1 = batch(1, 10);
    auto b2 = batch(2, 5);
    auto p1 = produce(c, "orders", 1, b1);
    CHECK(p1.error == errc::none);
    CHECK(p1.base_offset == 0);
    CHECK(p1.log_start == 0);
    auto p2 = produce(c, "orders", 1, b2);
    CHECK(p2.base_offset == 10);

    auto got = fetch(c, "orders", 1, 0);
    CHECK(got.error == errc::none);
    CHECK(got.high_watermark == 15);
    CHECK(got.log_start == 0);
    auto bs = batches_of(got.records);
    REQUIRE(bs.size() == 2);
    CHECK(bs[0].header().base_offset == offset_t{0});
    CHECK(bs[0].header().leader_epoch == leader_epoch_t{0});
    CHECK(bs[1].header().base_offset == offset_t{10});
    // The bytes are the producer's, but for the base offset and leader epoch the broker stamps.
    auto expect = with_base_offset(b2, offset_t{10});
    set_leader_epoch(expect, leader_epoch_t{0});
    CHECK(std::equal(expect.begin(), expect.end(), bs[1].bytes().begin(), bs[1].bytes().end()));

    // From the middle of the second batch: the whole batch comes back.
    auto mid = fetch(c, "orders", 1, 12);
    REQUIRE(batches_of(mid.records).size() == 1);
    CHECK(batches_of(mid.records)[0].header().base_offset == offset_t{10});
    // At the end: nothing. Past it: out of range.
    CHECK(fetch(c, "orders", 1, 15).records.empty());
    CHECK(fetch(c, "orders", 1, 16).error == errc::offset_out_of_range);
    // Another partition is empty; an unknown one is unknown.
    CHECK(fetch(c, "orders", 0, 0).high_watermark == 0);
    CHECK(fetch(c, "orders", 3, 0).error == errc::unknown_topic_or_partition);
    CHECK(fetch(c, "nope", 0, 0).error == errc::unknown_topic_or_partition);

    received_frame keep;
    auto* earliest = list_offset(c, keep, "orders", 1, -2);
    CHECK(earliest->error_code() == 0);
    CHECK(earliest->offset() == 0);
    auto* latest = list_offset(c, keep, "orders", 1, -1);
    CHECK(latest->offset() == 15);
    CHECK(latest->leader_epoch() == 0);
    // Batch 1 has timestamps T..T+9, batch 2 T..T+4: the first record at or after T+7 is 7.
    auto* by_time = list_offset(c, keep, "orders", 1, 1'700'000'000'007);
    CHECK(by_time->offset() == 7);
    CHECK(by_time->timestamp() == 1'700'000'000'007);
    auto* none = list_offset(c, keep, "orders", 1, 1'800'000'000'000);
    CHECK(none->offset() == -1);
    CHECK(none->timestamp() == -1);
    CHECK(list_offset(c, keep, "orders", 9, -1)->error_code() ==
          int16_t(errc::unknown_topic_or_partition));
}

TEST_CASE("CreateTopics validation and DeleteTopics") {
    broker_fixture b;
    wire_client c(b.port());
    std::string msg;
    CHECK(create(c, "t", 2) == errc::none);
    CHECK(create(c, "t", 2, -1, {}, false, &msg) == errc::topic_already_exists);
    CHECK(msg.find("already exists") != std::string::npos);
    CHECK(create(c, "bad/name", 1, -1, {}, false, &msg) == errc::invalid_topic);
    CHECK(create(c, "..", 1) == errc::invalid_topic);
    CHECK(create(c, std::string(250, 'a'), 1) == errc::invalid_topic);
    CHECK(create(c, "p0", 0, -1, {}, false, &msg) == errc::invalid_partitions);
    CHECK(create(c, "rf3", 1, 3, {}, false, &msg) == errc::invalid_replication_factor);
    CHECK(msg == "replication factor 3 is larger than the 1 available broker");
    CHECK(create(c, "rf0", 1, 0) == errc::invalid_replication_factor);
    CHECK(create(c, "cfg", 1, -1, {{"cleanup.policy", "shred"}}, false, &msg) ==
          errc::invalid_config);
    CHECK(msg == "cleanup.policy=shred: must be delete, compact, or compact,delete");
    CHECK(create(c, "cfg", 1, -1, {{"no.such.key", "1"}}, false, &msg) == errc::invalid_config);
    CHECK(msg.find("no.such.key") != std::string::npos);
    CHECK(create(c, "cfg", 1, -1, {{"segment.bytes", "12"}}, false, &msg) == errc::invalid_config);
    CHECK(msg == "segment.bytes=12: must be at least 4096");
    CHECK(create(c, "vo", 1, -1, {{"retention.ms", "1000"}}, true) == errc::none);
    CHECK(create(c, "vo", 1) == errc::none);  // validate_only created nothing
    CHECK(create(c, "defaults", -1) == errc::none);

    auto f = c.call(metadata_request(c.next_correlation(), {}, true, false));
    const auto* m = f.envelope->body_as_MetadataResponse();
    REQUIRE(m->topics()->size() == 3);
    CHECK(m->topics()->Get(0)->name()->str() == "defaults");
    CHECK(m->topics()->Get(0)->partitions()->size() == 1);
    CHECK(m->topics()->Get(1)->name()->str() == "t");
    CHECK(m->topics()->Get(1)->partitions()->size() == 2);
    REQUIRE(m->brokers()->size() == 1);
    CHECK(m->brokers()->Get(0)->host()->str() == "127.0.0.1");
    CHECK(m->brokers()->Get(0)->port() == b.port());
    CHECK(m->controller_id() == 0);
    CHECK(m->cluster_id()->size() > 0);
    const auto* p1 = m->topics()->Get(1)->partitions()->Get(1);
    CHECK(p1->partition() == 1);
    CHECK(p1->leader() == 0);
    CHECK(p1->leader_epoch() == 0);
    CHECK(p1->replicas()->size() == 1);
    CHECK(p1->isr()->Get(0) == 0);

    REQUIRE(produce(c, "t", 0, batch(1, 3)).error == errc::none);
    CHECK(std::filesystem::exists(b.log_dir() / "t-0"));
    auto d = c.call(delete_topics_request(c.next_correlation(), {"t", "missing"}));
    const auto* dr = d.envelope->body_as_DeleteTopicsResponse();
    REQUIRE(dr->results()->size() == 2);
    CHECK(dr->results()->Get(0)->error_code() == 0);
    CHECK(dr->results()->Get(1)->error_code() == int16_t(errc::unknown_topic_or_partition));
    CHECK_FALSE(std::filesystem::exists(b.log_dir() / "t-0"));
    CHECK_FALSE(std::filesystem::exists(b.log_dir() / "t-1"));
    CHECK(produce(c, "t", 0, batch(1, 3)).error == errc::unknown_topic_or_partition);
    // The name is free again, and the new topic starts empty.
    CHECK(create(c, "t", 1) == errc::none);
    CHECK(fetch(c, "t", 0, 0).high_watermark == 0);
}

TEST_CASE("Metadata creates named topics when allowed") {
    broker_fixture b(properties{{"num.partitions", "4"}});
    wire_client c(b.port());
    auto f = c.call(metadata_request(c.next_correlation(), {"auto", "bad name"}, false, true));
    const auto* m = f.envelope->body_as_MetadataResponse();
    REQUIRE(m->topics()->size() == 2);
    CHECK(m->topics()->Get(0)->error_code() == 0);
    CHECK(m->topics()->Get(0)->partitions()->size() == 4);
    CHECK(m->topics()->Get(1)->error_code() == int16_t(errc::invalid_topic));
    auto g = c.call(metadata_request(c.next_correlation(), {"other"}, false, false));
    CHECK(g.envelope->body_as_MetadataResponse()->topics()->Get(0)->error_code() ==
          int16_t(errc::unknown_topic_or_partition));

    broker_fixture off(properties{{"auto.create.topics.enable", "false"}});
    wire_client c2(off.port());
    auto h = c2.call(metadata_request(c2.next_correlation(), {"auto"}, false, true));
    CHECK(h.envelope->body_as_MetadataResponse()->topics()->Get(0)->error_code() ==
          int16_t(errc::unknown_topic_or_partition));
}

TEST_CASE("produce errors are per partition") {
    broker_fixture b(properties{{"message.max.bytes", "2000"}});
    wire_client c(b.port());
    REQUIRE(create(c, "t", 1) == errc::none);

    auto bad_crc = batch(1, 3);
    bad_crc.back() ^= std::byte{1};
    auto r = produce(c, "t", 0, bad_crc);
    CHECK(r.error == errc::corrupt_message);
    CHECK(r.base_offset == -1);

    auto big = batch(2, 30, 100);  // ~3.5 KB > 2000
    auto big_r = produce(c, "t", 0, big);
    CHECK(big_r.error == errc::message_too_large);
    CHECK(big_r.message.find("2000") != std::string::npos);

    // Two good batches and a bad one in the same partition: nothing is appended.
    auto two = batch(3, 2);
    auto tail = batch(4, 2);
    two.insert(two.end(), tail.begin(), tail.end());
    auto three = two;
    three.insert(three.end(), bad_crc.begin(), bad_crc.end());
    CHECK(produce(c, "t", 0, three).error == errc::corrupt_message);
    auto ok = produce(c, "t", 0, two);
    CHECK(ok.error == errc::none);
    CHECK(ok.base_offset == 0);
    CHECK(fetch(c, "t", 0, 0).high_watermark == 4);

    CHECK(produce(c, "t", 0, {}).error == errc::invalid_record);
    CHECK(produce(c, "t", 0, batch(5, 1), 2).error == errc::invalid_required_acks);
    CHECK(produce(c, "t", 7, batch(5, 1)).error == errc::unknown_topic_or_partition);

    // The connection still serves after all of that.
    CHECK(produce(c, "t", 0, batch(6, 1)).base_offset == 4);
}

TEST_CASE("acks=0 gets no response; responses keep request order") {
    // A read-ahead of one frame: the reader waits for the handler, nothing is lost or reordered.
    broker_fixture b(properties{{"queued.max.requests.per.connection", "1"}});
    wire_client c(b.port());
    REQUIRE(create(c, "t", 1) == errc::none);
    c.send(produce_request(100, "t", 0, batch(1, 2), 0));
    // Pipelined: all sent before any is read.
    for (int i = 0; i < 20; ++i) {
        c.send(produce_request(200 + i, "t", 0, batch(10 + i, 1), 1));
    }
    c.send(api_versions_request(300));
    for (int i = 0; i < 20; ++i) {
        auto f = c.receive();
        REQUIRE(f.has_value());
        CHECK(f->envelope->correlation_id() == 200 + i);
        const auto* pr =
            f->envelope->body_as_ProduceResponse()->topics()->Get(0)->partitions()->Get(0);
        CHECK(pr->base_offset() == 2 + i);
    }
    auto last = c.receive();
    REQUIRE(last.has_value());
    CHECK(last->envelope->correlation_id() == 300);

    // A failing acks=0 produce closes the connection (the producer learns something is wrong).
    c.send(produce_request(400, "missing", 0, batch(1, 1), 0));
    CHECK(c.wait_closed());
}

TEST_CASE("unknown API, unsupported version and mismatched body get ErrorResponse") {
    broker_fixture b;
    wire_client c(b.port());
    {
        frame::writer w;
        auto body = fbs::CreateApiVersionsRequest(w.fbb());
        w.finish(frame::make_envelope(w.fbb(), fbs::ApiKey(99), 0, 7, fbs::Body::ApiVersionsRequest,
                                      body.Union()));
        auto f = c.call(w);
        CHECK(f.envelope->correlation_id() == 7);
        const auto* e = f.envelope->body_as_ErrorResponse();
        REQUIRE(e != nullptr);
        CHECK(e->error_code() == int16_t(errc::unsupported_version));
    }
    {
        // A controller quorum's message on the client listener: not an API it serves.
        frame::writer w;
        auto& fbb = w.fbb();
        const auto cluster = fbb.CreateString("c1");
        const auto epoch = fbs::CreateRaftBeginEpoch(fbb, 3);
        const auto raft = fbs::CreateRaftMessage(fbb, cluster, 1, 2, fbs::RaftBody::RaftBeginEpoch,
                                                 epoch.Union());
        w.finish(frame::make_envelope(fbb, fbs::ApiKey::RaftMessage, 0, 10, fbs::Body::RaftMessage,
                                      raft.Union()));
        auto f = c.call(w);
        CHECK(f.envelope->correlation_id() == 10);
        const auto* e = f.envelope->body_as_ErrorResponse();
        REQUIRE(e != nullptr);
        CHECK(e->error_code() == int16_t(errc::unsupported_version));
    }
    {
        frame::writer w;
        auto body = fbs::CreateApiVersionsRequest(w.fbb());
        w.finish(frame::make_envelope(w.fbb(), fbs::ApiKey::ApiVersions, 5, 8,
                                      fbs::Body::ApiVersionsRequest, body.Union()));
        auto f = c.call(w);
        CHECK(f.envelope->body_as_ErrorResponse()->error_code() ==
              int16_t(errc::unsupported_version));
    }
    {
        frame::writer w;
        auto body = fbs::CreateApiVersionsRequest(w.fbb());
        w.finish(frame::make_envelope(w.fbb(), fbs::ApiKey::Fetch, 0, 9,
                                      fbs::Body::ApiVersionsRequest, body.Union()));
        auto f = c.call(w);
        CHECK(f.envelope->api_key() == fbs::ApiKey::Fetch);
        CHECK(f.envelope->body_as_ErrorResponse()->error_code() == int16_t(errc::invalid_request));
    }
    CHECK(c.call(api_versions_request(10)).envelope->correlation_id() == 10);
}

TEST_CASE("a request that names a body but carries none gets INVALID_REQUEST") {
    broker_fixture b;
    wire_client c(b.port());
    REQUIRE(create(c, "t", 1) == errc::none);
    REQUIRE(produce(c, "t", 0, batch(1, 3)).error == errc::none);
    const std::pair<fbs::ApiKey, fbs::Body> apis[] = {
        {fbs::ApiKey::Produce, fbs::Body::ProduceRequest},
        {fbs::ApiKey::Fetch, fbs::Body::FetchRequest},
        {fbs::ApiKey::ListOffsets, fbs::Body::ListOffsetsRequest},
        {fbs::ApiKey::Metadata, fbs::Body::MetadataRequest},
        {fbs::ApiKey::ApiVersions, fbs::Body::ApiVersionsRequest},
        {fbs::ApiKey::CreateTopics, fbs::Body::CreateTopicsRequest},
        {fbs::ApiKey::DeleteTopics, fbs::Body::DeleteTopicsRequest},
        {fbs::ApiKey::DescribeConfigs, fbs::Body::DescribeConfigsRequest},
        {fbs::ApiKey::CreatePartitions, fbs::Body::CreatePartitionsRequest},
        {fbs::ApiKey::ElectLeaders, fbs::Body::ElectLeadersRequest},
        {fbs::ApiKey::IncrementalAlterConfigs, fbs::Body::IncrementalAlterConfigsRequest},
        {fbs::ApiKey::DescribeQuorum, fbs::Body::DescribeQuorumRequest},
        {fbs::ApiKey::InitProducerId, fbs::Body::InitProducerIdRequest},
        {fbs::ApiKey::FindCoordinator, fbs::Body::FindCoordinatorRequest},
        {fbs::ApiKey::JoinGroup, fbs::Body::JoinGroupRequest},
        {fbs::ApiKey::SyncGroup, fbs::Body::SyncGroupRequest},
        {fbs::ApiKey::Heartbeat, fbs::Body::HeartbeatRequest},
        {fbs::ApiKey::LeaveGroup, fbs::Body::LeaveGroupRequest},
        {fbs::ApiKey::OffsetCommit, fbs::Body::OffsetCommitRequest},
        {fbs::ApiKey::OffsetFetch, fbs::Body::OffsetFetchRequest},
        {fbs::ApiKey::ListGroups, fbs::Body::ListGroupsRequest},
        {fbs::ApiKey::DescribeGroups, fbs::Body::DescribeGroupsRequest},
        {fbs::ApiKey::DeleteGroups, fbs::Body::DeleteGroupsRequest},
    };
    REQUIRE(std::size(apis) == api::supported.size());
    for (const auto& [key, type] : apis) {
        // The envelope names the right body type for the API but holds no body: FlatBuffers'
        // verifier accepts that, so the broker must not take the body as present.
        CAPTURE(fbs::EnumNameApiKey(key));
        frame::writer w;
        const int32_t id = c.next_correlation();
        w.finish(frame::make_envelope(w.fbb(), key, api::find(key)->max_version, id, type, {}));
        auto f = c.call(w);
        CHECK(f.envelope->correlation_id() == id);
        const auto* e = f.envelope->body_as_ErrorResponse();
        REQUIRE(e != nullptr);
        CHECK(e->error_code() == int16_t(errc::invalid_request));
    }
    // The same connection and a new one still work, and the records are still there.
    CHECK(c.call(api_versions_request(c.next_correlation())).envelope != nullptr);
    wire_client other(b.port());
    CHECK(fetch(other, "t", 0, 0).high_watermark == 3);
}

TEST_CASE("garbage closes only that connection") {
    broker_fixture b(properties{{"socket.request.max.bytes", "65536"}});
    wire_client good(b.port());
    REQUIRE(create(good, "t", 1) == errc::none);

    wire_client huge(b.port());
    std::vector<std::byte> head(8);
    store_be<uint32_t>(head.data(), 1u << 30);
    store_be<uint32_t>(head.data() + 4, 16);
    huge.send_raw(head);
    CHECK(huge.wait_closed());

    wire_client junk(b.port());
    std::vector<std::byte> bad(64, std::byte{0x5a});
    store_be<uint32_t>(bad.data(), 60);
    store_be<uint32_t>(bad.data() + 4, 40);
    junk.send_raw(bad);  // a frame whose envelope fails verification
    CHECK(junk.wait_closed());

    CHECK(produce(good, "t", 0, batch(1, 2)).error == errc::none);
    wire_client later(b.port());
    CHECK(fetch(later, "t", 0, 0).high_watermark == 2);
}

TEST_CASE("fetch long-polls until data arrives or max_wait passes") {
    broker_fixture b;
    wire_client consumer(b.port());
    wire_client producer(b.port());
    REQUIRE(create(producer, "t", 2) == errc::none);

    // Nothing there: waits about max_wait_ms, then answers empty.
    auto t0 = std::chrono::steady_clock::now();
    auto empty = fetch(consumer, "t", 0, 0, 300, 1);
    auto waited = std::chrono::steady_clock::now() - t0;
    CHECK(empty.records.empty());
    CHECK(waited >= 290ms);
    CHECK(waited < 3s);

    // A produce during the wait answers it early.
    consumer.send(fetch_request(consumer.next_correlation(), "t", 0, 0, 10000, 1));
    std::this_thread::sleep_for(200ms);
    t0 = std::chrono::steady_clock::now();
    REQUIRE(produce(producer, "t", 0, batch(1, 4)).error == errc::none);
    auto f = consumer.receive();
    auto latency = std::chrono::steady_clock::now() - t0;
    REQUIRE(f.has_value());
    auto got = fetch_from(*f);
    CHECK(got.high_watermark == 4);
    CHECK(batches_of(got.records).size() == 1);
    CHECK(latency < 2s);

    // min_bytes: woken by small appends, the fetch keeps waiting until enough has come.
    consumer.send(fetch_request(consumer.next_correlation(), "t", 0, 4, 10000, 3000));
    for (int i = 0; i < 3; ++i) {
        std::this_thread::sleep_for(50ms);
        REQUIRE(produce(producer, "t", 0, batch(10 + i, 3, 100)).error == errc::none);
    }
    CHECK_FALSE(consumer.receive(300ms).has_value());
    for (int i = 0; i < 10; ++i) {
        REQUIRE(produce(producer, "t", 0, batch(20 + i, 3, 100)).error == errc::none);
    }
    auto enough = consumer.receive();
    REQUIRE(enough.has_value());
    auto e = fetch_from(*enough);
    CHECK(e.records.size() >= 3000);
    auto bs = batches_of(e.records);
    REQUIRE(!bs.empty());
    CHECK(bs[0].header().base_offset == offset_t{4});
    for (size_t i = 1; i < bs.size(); ++i) {
        CHECK(bs[i].header().base_offset == bs[i - 1].header().next_offset());
    }
}

TEST_CASE("fetch byte limits: first batch whole, later ones only if they fit") {
    broker_fixture b;
    wire_client c(b.port());
    REQUIRE(create(c, "t", 1) == errc::none);
    auto b1 = batch(1, 10, 200);
    REQUIRE(produce(c, "t", 0, b1).error == errc::none);
    REQUIRE(produce(c, "t", 0, batch(2, 10, 200)).error == errc::none);
    auto small = fetch(c, "t", 0, 0, 0, 1, 100);
    REQUIRE(batches_of(small.records).size() == 1);  // larger than 100 bytes, still whole
    CHECK(small.records.size() == b1.size());
    auto two = fetch(c, "t", 0, 0, 0, 1, 1 << 20, int32_t(b1.size() + 10));
    CHECK(batches_of(two.records).size() == 1);  // the request's max_bytes stops the second
    auto all = fetch(c, "t", 0, 0);
    CHECK(batches_of(all.records).size() == 2);
}

// Fetches partitions 0 and 1 of `topic` from `next` and advances `next` past what came back;
// returns how many batches each partition returned.
std::array<size_t, 2> fetch_two(wire_client& c, const std::string& topic,
                                std::array<int64_t, 2>& next, int32_t partition_max_bytes,
                                int32_t max_bytes) {
    auto f = c.call(fetch_partitions_request(
        c.next_correlation(), topic, {{0, next[0]}, {1, next[1]}}, partition_max_bytes, max_bytes));
    const auto* r = f.envelope->body_as_FetchResponse();
    REQUIRE(r != nullptr);
    std::array<size_t, 2> got{0, 0};
    for (const auto* pr : *r->topics()->Get(0)->partitions()) {
        REQUIRE(errc(pr->error_code()) == errc::none);
        auto bytes = frame::resolve(pr->records(), f.data);
        REQUIRE(bytes.has_value());
        auto batches = batches_of({bytes.value().begin(), bytes.value().end()});
        const auto p = size_t(pr->partition());
        got[p] = batches.size();
        if (!batches.empty()) {
            next[p] = batches.back().header().next_offset().value();
        }
    }
    return got;
}

TEST_CASE(
    "fetch: a partition's batch larger than its limit still comes when the request has room") {
    broker_fixture b;
    wire_client c(b.port());
    REQUIRE(create(c, "t", 2) == errc::none);
    REQUIRE(produce(c, "t", 0, batch(1, 10, 200)).error == errc::none);
    REQUIRE(produce(c, "t", 1, batch(2, 20, 200)).error == errc::none);  // ~4 KiB
    std::array<int64_t, 2> next{0, 0};
    // Both batches exceed the 1 KiB partition limit; the request has room for both.
    auto got = fetch_two(c, "t", next, 1024, 1 << 20);
    CHECK(got[0] == 1);
    CHECK(got[1] == 1);
    CHECK(next[1] == 20);
}

TEST_CASE("fetch: partitions take turns at the head, so none starves behind another's data") {
    broker_fixture b;
    wire_client c(b.port());
    REQUIRE(create(c, "t", 2) == errc::none);
    for (int i = 0; i < 4; ++i) {
        REQUIRE(produce(c, "t", 0, batch(uint64_t(i), 10, 200)).error == errc::none);
        REQUIRE(produce(c, "t", 1, batch(uint64_t(i) + 10, 10, 200)).error == errc::none);
    }
    // Room for one ~2.2 KiB batch per fetch: whichever partition is read first takes it.
    std::array<int64_t, 2> next{0, 0};
    std::array<size_t, 2> total{0, 0};
    for (int round = 0; round < 4; ++round) {
        auto got = fetch_two(c, "t", next, 1 << 20, 3000);
        CHECK(got[0] + got[1] == 1);
        total[0] += got[0];
        total[1] += got[1];
    }
    CHECK(total[0] == 2);
    CHECK(total[1] == 2);
}

// The leader epoch of partition 0 of `topic`, as Metadata gives it.
int32_t leader_epoch_of(wire_client& c, const std::string& topic) {
    auto f = c.call(metadata_request(c.next_correlation(), {topic}, false, false));
    return f.envelope->body_as_MetadataResponse()
        ->topics()
        ->Get(0)
        ->partitions()
        ->Get(0)
        ->leader_epoch();
}

TEST_CASE("topics, data and epochs survive a restart") {
    temp_dir dir("sluice-broker-restart");
    auto path = dir.path();
    int32_t epoch_before = -1;
    {
        broker_fixture b({}, &path);
        wire_client c(b.port());
        REQUIRE(create(c, "kept", 2, -1, {{"retention.ms", "-1"}}) == errc::none);
        REQUIRE(produce(c, "kept", 1, batch(1, 7)).error == errc::none);
        REQUIRE(produce(c, "kept", 1, batch(2, 3)).error == errc::none);
        epoch_before = leader_epoch_of(c, "kept");
    }
    broker_fixture b({}, &path);
    wire_client c(b.port());
    CHECK(create(c, "kept", 1) == errc::topic_already_exists);
    auto got = fetch(c, "kept", 1, 0);
    CHECK(got.high_watermark == 10);
    CHECK(batches_of(got.records).size() == 2);
    auto f = c.call(metadata_request(c.next_correlation(), {"kept"}, false, false));
    const auto* t = f.envelope->body_as_MetadataResponse()->topics()->Get(0);
    CHECK(t->error_code() == 0);
    CHECK(t->partitions()->size() == 2);
    // A new process leads at a new epoch: the old one's leadership ended with it.
    CHECK(epoch_before == 0);
    CHECK(t->partitions()->Get(0)->leader_epoch() > epoch_before);
    CHECK(produce(c, "kept", 1, batch(3, 1)).base_offset == 10);
}

namespace {

struct granted {
    errc error;
    int64_t id;
    int16_t epoch;
};

granted init_producer_id(wire_client& c, const char* transactional_id = nullptr) {
    frame::writer w;
    auto& fbb = w.fbb();
    const auto body = fbs::CreateInitProducerIdRequest(
        fbb, transactional_id ? fbb.CreateString(transactional_id) : 0);
    w.finish(frame::make_envelope(fbb, fbs::ApiKey::InitProducerId, 0, c.next_correlation(),
                                  fbs::Body::InitProducerIdRequest, body.Union()));
    auto f = c.call(w);
    const auto* r = f.envelope->body_as_InitProducerIdResponse();
    REQUIRE(r != nullptr);
    return {errc(r->error_code()), r->producer_id(), r->producer_epoch()};
}

std::vector<std::byte> idempotent_batch(int64_t id, int32_t seq, int records) {
    batch_builder b({producer_id_t{id}, producer_epoch_t{0}, sequence_t{seq}, 0});
    for (int i = 0; i < records; ++i) {
        b.add(record_input{std::nullopt, as_bytes("v"), timestamp_ms_t{1'700'000'000'000}, {}});
    }
    return b.finish();
}

}  // namespace

TEST_CASE("InitProducerId hands out new ids; retries are answered, across a restart too") {
    temp_dir dir("sluice-broker-producer-ids");
    auto path = dir.path();
    std::set<int64_t> ids;
    int64_t used = -1;
    {
        broker_fixture b({}, &path);
        wire_client c(b.port());
        for (int i = 0; i < 3; ++i) {
            auto g = init_producer_id(c);
            REQUIRE(g.error == errc::none);
            CHECK(g.id >= 0);
            CHECK(g.epoch == 0);
            ids.insert(g.id);
        }
        CHECK(ids.size() == 3);
        CHECK(init_producer_id(c, "tx-1").error == errc::invalid_request);
        used = *ids.begin();
        REQUIRE(create(c, "t", 1) == errc::none);
        CHECK(produce(c, "t", 0, idempotent_batch(used, 0, 3)).base_offset == 0);
        CHECK(produce(c, "t", 0, idempotent_batch(used, 3, 2)).base_offset == 3);
        // The acknowledgement was lost: the retry is answered with the first offsets.
        auto retry = produce(c, "t", 0, idempotent_batch(used, 3, 2));
        CHECK(retry.error == errc::none);
        CHECK(retry.base_offset == 3);
        auto gap = produce(c, "t", 0, idempotent_batch(used, 9, 1));
        CHECK(gap.error == errc::out_of_order_sequence_number);
        CHECK(gap.message.find("expected 5") != std::string::npos);
        CHECK(fetch(c, "t", 0, 0).high_watermark == 5);
    }
    broker_fixture b({}, &path);
    wire_client c(b.port());
    // Ids of the block the last process held are never handed out again.
    auto g = init_producer_id(c);
    REQUIRE(g.error == errc::none);
    CHECK(g.id > *ids.rbegin());
    // The restarted leader knows the producer's batches (from its snapshot).
    auto retry = produce(c, "t", 0, idempotent_batch(used, 3, 2));
    CHECK(retry.error == errc::none);
    CHECK(retry.base_offset == 3);
    CHECK(produce(c, "t", 0, idempotent_batch(used, 5, 1)).base_offset == 5);
    CHECK(fetch(c, "t", 0, 0).high_watermark == 6);
}

namespace {

struct conditional {
    errc error;
    int64_t base_offset;
    int64_t log_end;
    std::string message;
};

conditional produce_if(wire_client& c, const std::string& topic,
                       const std::vector<std::byte>& batch, int64_t expected_end) {
    frame::writer w;
    auto& fbb = w.fbb();
    auto ref = w.add_data(batch);
    std::vector<flatbuffers::Offset<fbs::ProducePartition>> parts{
        fbs::CreateProducePartition(fbb, 0, &ref, expected_end)};
    std::vector<flatbuffers::Offset<fbs::ProduceTopic>> topics{
        fbs::CreateProduceTopic(fbb, fbb.CreateString(topic), fbb.CreateVector(parts))};
    auto body = fbs::CreateProduceRequest(fbb, -1, 10000, fbb.CreateVector(topics));
    w.finish(frame::make_envelope(fbb, fbs::ApiKey::Produce, 0, c.next_correlation(),
                                  fbs::Body::ProduceRequest, body.Union()));
    auto f = c.call(w);
    const auto* pr = f.envelope->body_as_ProduceResponse()->topics()->Get(0)->partitions()->Get(0);
    return {errc(pr->error_code()), pr->base_offset(), pr->log_end_offset(),
            pr->error_message() ? pr->error_message()->str() : ""};
}

}  // namespace

TEST_CASE("conditional append: only at the expected end; a retry of a success is no conflict") {
    broker_fixture b;
    wire_client c(b.port());
    REQUIRE(create(c, "cas", 1) == errc::none);
    auto first = produce_if(c, "cas", batch(1, 2), 0);
    CHECK(first.error == errc::none);
    CHECK(first.base_offset == 0);
    CHECK(first.log_end == 2);
    // A writer that read the end before that append: nothing appended, the true end answered.
    auto stale = produce_if(c, "cas", batch(2, 1), 0);
    CHECK(stale.error == errc::conflict);
    CHECK(stale.log_end == 2);
    CHECK(stale.message.find("not at the expected 0") != std::string::npos);
    CHECK(produce_if(c, "cas", batch(3, 1), 2).error == errc::none);
    // An idempotent conditional append whose answer was lost is answered as the retry it is.
    auto once = produce_if(c, "cas", idempotent_batch(9, 0, 2), 3);
    CHECK(once.error == errc::none);
    CHECK(once.base_offset == 3);
    auto again = produce_if(c, "cas", idempotent_batch(9, 0, 2), 3);
    CHECK(again.error == errc::none);
    CHECK(again.base_offset == 3);
    CHECK(produce_if(c, "cas", batch(4, 1), -5).error == errc::invalid_request);
    CHECK(fetch(c, "cas", 0, 0).high_watermark == 5);
}

TEST_CASE("a partition whose durable data is damaged goes offline; the broker serves the rest") {
    temp_dir dir("sluice-broker-damaged");
    auto path = dir.path();
    {
        broker_fixture b({}, &path);
        wire_client c(b.port());
        REQUIRE(create(c, "t", 2) == errc::none);
        REQUIRE(produce(c, "t", 0, batch(1, 7)).error == errc::none);
        REQUIRE(produce(c, "t", 0, batch(2, 3)).error == errc::none);
        REQUIRE(produce(c, "t", 1, batch(3, 4)).error == errc::none);
    }  // a clean stop: the checkpoint vouches for every record
    // The segment of partition 0 loses its last bytes behind the broker's back.
    const auto segment = path / "t-0" / "00000000000000000000.log";
    const auto size = std::filesystem::file_size(segment);
    std::filesystem::resize_file(segment, size - 10);

    broker_fixture b({}, &path);  // starts: one bad partition does not stop the broker
    wire_client c(b.port());
    CHECK(produce(c, "t", 0, batch(4, 1)).error == errc::kafka_storage_error);
    CHECK(fetch(c, "t", 0, 0).error == errc::kafka_storage_error);
    CHECK(std::filesystem::file_size(segment) == size - 10);  // nothing was cut further
    auto f = c.call(metadata_request(c.next_correlation(), {"t"}, false, false));
    const auto* parts = f.envelope->body_as_MetadataResponse()->topics()->Get(0)->partitions();
    CHECK(errc(parts->Get(0)->error_code()) == errc::kafka_storage_error);
    CHECK(parts->Get(0)->leader() == -1);
    CHECK(errc(parts->Get(1)->error_code()) == errc::none);
    CHECK(fetch(c, "t", 1, 0).high_watermark == 4);
    CHECK(produce(c, "t", 1, batch(5, 1)).base_offset == 4);
}

size_t open_fds() {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
        ++n;
    }
    return n;
}

// Whether the open files drop below `limit` within 2 s: a response's segment files are let go
// just after its last byte is sent, which may be after the client has read it.
bool fds_settle_below(size_t limit) {
    for (int i = 0; i < 200; ++i) {
        if (open_fds() < limit) {
            return true;
        }
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

TEST_CASE("thousands of tiny segments hold few files; serving, deleting and restarting go on") {
    temp_dir dir("sluice-broker-fds");
    auto path = dir.path();
    const properties props{{"log.open.files.max", "16"}};
    constexpr int batches = 3000;  // two per 4 KiB segment: 1500 segments
    size_t baseline = 0;
    {
        broker_fixture b(props, &path);
        wire_client c(b.port());
        REQUIRE(create(c, "tiny", 1, -1, {{"segment.bytes", "4096"}}) == errc::none);
        baseline = open_fds();
        for (int i = 0; i < batches; ++i) {
            REQUIRE(produce(c, "tiny", 0, batch(uint64_t(i), 1, 1500)).error == errc::none);
        }
        CHECK(fds_settle_below(baseline + 32));
        // Every sealed segment is read again: each is opened on demand and closed once others
        // are read.
        int64_t next = 0;
        size_t seen = 0;
        while (next < batches) {
            auto got = fetch(c, "tiny", 0, next, 0, 1, 64 * 1024);
            REQUIRE(got.error == errc::none);
            auto bs = batches_of(got.records);
            REQUIRE(!bs.empty());
            seen += bs.size();
            next = bs.back().header().next_offset().value();
        }
        CHECK(seen == size_t(batches));
        CHECK(fds_settle_below(baseline + 32));
    }
    // A restart recovers and serves the same log without opening every segment at once.
    broker_fixture b(props, &path);
    wire_client c(b.port());
    CHECK(fetch(c, "tiny", 0, 0).high_watermark == batches);
    CHECK(fds_settle_below(baseline + 32));
    std::string msg;
    auto f = c.call(delete_topics_request(c.next_correlation(), {"tiny"}));
    CHECK(f.envelope->body_as_DeleteTopicsResponse()->results()->Get(0)->error_code() == 0);
    CHECK(!std::filesystem::exists(path / "tiny-0"));
    CHECK(create(c, "after", 1) == errc::none);
}

TEST_CASE("a fetch over tiny segments spans at most 16 of them, and goes on from there") {
    broker_fixture b;
    wire_client c(b.port());
    REQUIRE(create(c, "tiny", 1, -1, {{"segment.bytes", "4096"}}) == errc::none);
    for (int i = 0; i < 100; ++i) {  // two batches per segment: 50 segments
        REQUIRE(produce(c, "tiny", 0, batch(uint64_t(i), 1, 1500)).error == errc::none);
    }
    auto first = fetch(c, "tiny", 0, 0);
    REQUIRE(first.error == errc::none);
    auto bs = batches_of(first.records);
    CHECK(bs.size() == 32);  // 16 segments, although 1 MiB would hold all 100 batches
    auto rest = fetch(c, "tiny", 0, bs.back().header().next_offset().value());
    CHECK(batches_of(rest.records).size() == 32);
}

TEST_CASE("clients that hang up in the middle of a large fetch leave the broker serving") {
    // The broker is sending from the segment files on the blocking pool (sendfile, or read and
    // sent) when the socket goes away: the send fails with EPIPE or ECONNRESET, the connection
    // closes, and no SIGPIPE takes the process down (this test process does not ignore it).
    for (const std::string setting : {"true", "false"}) {
        CAPTURE(setting);
        broker_fixture b(properties{{"num.io.threads", "2"}, {"fetch.sendfile", setting}});
        {
            wire_client c(b.port());
            REQUIRE(create(c, "big", 1) == errc::none);
            for (int i = 0; i < 16; ++i) {
                REQUIRE(produce(c, "big", 0, batch(uint64_t(i), 50, 10000)).error == errc::none);
            }
        }
        for (int i = 0; i < 20; ++i) {
            wire_client quitter(b.port());
            quitter.send(fetch_request(quitter.next_correlation(), "big", 0, 0, 0, 1, 16 << 20));
            quitter.send(fetch_request(quitter.next_correlation(), "big", 0, 0, 0, 1, 16 << 20));
        }  // closed without reading
        wire_client c(b.port());
        auto all = fetch(c, "big", 0, 0, 0, 1, 16 << 20);
        CHECK(all.error == errc::none);
        CHECK(batches_of(all.records).size() == 16);
        const auto st = b.stats();
        CHECK((setting == "true" ? st.sendfile_bytes : st.copied_bytes) > 0);
    }
}

TEST_CASE("max.partitions caps the partitions a broker holds, auto-created topics included") {
    broker_fixture b(properties{{"max.partitions", "5"}, {"num.partitions", "2"}});
    wire_client c(b.port());
    std::string msg;
    REQUIRE(create(c, "a", 3) == errc::none);
    CHECK(create(c, "b", 3, -1, {}, false, &msg) == errc::invalid_partitions);
    CHECK(msg == "broker 0 holds 3 partitions; 3 more would pass max.partitions (5)");
    CHECK(create(c, "c", 2) == errc::none);
    // A topic that Metadata would create on first use is refused the same way.
    auto f = c.call(metadata_request(c.next_correlation(), {"auto"}, false, true));
    const auto* t = f.envelope->body_as_MetadataResponse()->topics()->Get(0);
    CHECK(errc(t->error_code()) == errc::invalid_partitions);
    CHECK(produce(c, "a", 2, batch(1, 1)).error == errc::none);  // the others keep working
}

TEST_CASE("a second broker on the same log.dirs is refused") {
    broker_fixture b;
    auto cfg = make_config({{"listeners", "PLAINTEXT://127.0.0.1:0"},
                            {"log.dirs", b.log_dir().string()},
                            {"log.level", "error"}});
    REQUIRE(cfg.has_value());
    server second(cfg.value());
    CHECK_FALSE(second.start().has_value());
}

TEST_CASE("fsync mode acknowledges after the group commit") {
    broker_fixture b(properties{{"log.flush.interval.messages", "1"}});
    wire_client c(b.port());
    REQUIRE(create(c, "durable", 1) == errc::none);
    REQUIRE(create(c, "cached", 1, -1, {{"flush.messages", "9223372036854775807"}}) == errc::none);
    for (int i = 0; i < 5; ++i) {
        CHECK(produce(c, "durable", 0, batch(i, 2), -1).base_offset == 4 * i);
        CHECK(produce(c, "durable", 0, batch(i, 2), 1).base_offset == 4 * i + 2);
        CHECK(produce(c, "cached", 0, batch(i, 2), -1).error == errc::none);
    }
    CHECK(fetch(c, "durable", 0, 0).high_watermark == 20);
}

TEST_CASE("pipelined produces on one connection share a group-commit fsync") {
    // Each fsync takes 1 s. Requests are started as they arrive, so the appends of requests 2 to
    // 4 do not wait for request 1's acknowledgement: they go into the second fsync together.
    // Handled one after another, each request would wait for its own fsync: 4 syncs, 4 s, and
    // the last ones past their timeout.
    fault_fs fs;
    broker_fixture b(properties{{"log.flush.interval.messages", "1"}}, nullptr, &fs);
    wire_client c(b.port());
    REQUIRE(create(c, "durable", 1) == errc::none);
    // The first append also syncs the new segment's directory entry; it is not counted.
    REQUIRE(produce(c, "durable", 0, batch(9, 2), 1).error == errc::none);
    fs.set_sync_delay(std::chrono::seconds(1));
    const uint64_t syncs_before = fs.syncs();
    std::vector<int32_t> ids;
    for (int i = 0; i < 4; ++i) {
        ids.push_back(c.next_correlation());
        c.send(produce_request(ids.back(), "durable", 0, batch(uint64_t(i), 2), 1, 2500));
    }
    for (int i = 0; i < 4; ++i) {
        auto f = c.receive();
        REQUIRE(f.has_value());
        CHECK(f->envelope->correlation_id() == ids[size_t(i)]);  // answers keep request order
        const auto* pr =
            f->envelope->body_as_ProduceResponse()->topics()->Get(0)->partitions()->Get(0);
        CHECK(errc(pr->error_code()) == errc::none);
        CHECK(pr->base_offset() == 2 + 2 * i);
    }
    CHECK(fs.syncs() - syncs_before <= 2);
    fs.clear_faults();
}

TEST_CASE("fetched records arrive byte for byte, through sendfile and through reads") {
    // fetch.sendfile=true sends a file with a descriptor with sendfile; auto reads and sends to
    // this test's loopback peer; the test file system's files have no descriptor, so they are
    // read and sent whatever the setting. Batches of ~20 KiB in 64 KiB segments: responses span
    // several segments (file_send_test.cpp covers ranges larger than the reads' buffer). With
    // the test file system saying the page cache holds each file's first 30,000 bytes, a range
    // is sent partly from the connection's thread and the rest from the pool.
    struct way {
        const char* setting;
        bool test_fs;
        bool sendfile;  // expected
        uint64_t cached_below = 0;
    };
    for (const way w :
         {way{"true", false, true}, way{"auto", false, false}, way{"false", false, false},
          way{"true", true, false}, way{"false", true, false, 30000}}) {
        CAPTURE(w.setting);
        CAPTURE(w.test_fs);
        CAPTURE(w.cached_below);
        const bool sendfile = w.sendfile;
        fault_fs fs;
        fs.set_cached_below(w.cached_below);
        broker_fixture b({{"fetch.sendfile", w.setting}}, nullptr, w.test_fs ? &fs : nullptr);
        wire_client c(b.port());
        REQUIRE(create(c, "files", 1, -1, {{"segment.bytes", "65536"}}) == errc::none);
        std::vector<std::vector<std::byte>> sent;
        for (int i = 0; i < 40; ++i) {
            auto one = batch(uint64_t(i), 10, 2000);
            REQUIRE(produce(c, "files", 0, one).error == errc::none);
            auto expect = with_base_offset(one, offset_t{10 * i});
            set_leader_epoch(expect, leader_epoch_t{0});
            sent.push_back(std::move(expect));
        }
        for (int32_t limit : {1, 100000, 300000, 1 << 20}) {
            CAPTURE(limit);
            size_t next = 0;
            int64_t offset = 0;
            while (offset < 400) {
                auto got = fetch(c, "files", 0, offset, 0, 1, limit, limit);
                REQUIRE(got.error == errc::none);
                auto bs = batches_of(got.records);
                REQUIRE(!bs.empty());
                for (const auto& one : bs) {
                    REQUIRE(next < sent.size());
                    CHECK(std::equal(sent[next].begin(), sent[next].end(), one.bytes().begin(),
                                     one.bytes().end()));
                    ++next;
                }
                offset = 10 * int64_t(next);
            }
            CHECK(next == sent.size());
        }
        const auto st = b.stats();
        CHECK((st.sendfile_bytes > 0) == sendfile);
        CHECK((st.copied_bytes > 0) == !sendfile);
        CHECK((fs.cached_reads() > 0) == (w.cached_below > 0));
    }
}

TEST_CASE("a produce whose timeout has passed on arrival still appends before it answers") {
    // The append writes into the request's own buffer, so the request never answers (and its
    // buffer is never reused) before the append ran; only the acknowledgement wait is bounded.
    broker_fixture b;
    wire_client c(b.port());
    REQUIRE(create(c, "t", 1) == errc::none);
    for (int i = 0; i < 50; ++i) {
        auto f = c.call(produce_request(c.next_correlation(), "t", 0, batch(uint64_t(i), 2), 1, 0));
        const auto* pr =
            f.envelope->body_as_ProduceResponse()->topics()->Get(0)->partitions()->Get(0);
        REQUIRE(errc(pr->error_code()) == errc::none);
        CHECK(pr->base_offset() == 2 * i);
    }
    auto all = fetch(c, "t", 0, 0);
    CHECK(all.high_watermark == 100);
    CHECK(batches_of(all.records).size() == 50);
}

TEST_CASE("a slow request at the head of a connection does not hold the requests behind it") {
    // A long poll that cannot be satisfied is at the head of the connection; the produce behind
    // it is appended and acknowledged at once (another client sees it), and its answer follows
    // the long poll's, in order.
    broker_fixture b;
    wire_client c(b.port());
    REQUIRE(create(c, "quiet", 1) == errc::none);
    REQUIRE(create(c, "busy", 1) == errc::none);
    const int32_t poll_id = c.next_correlation();
    c.send(fetch_request(poll_id, "quiet", 0, 0, 3000, 1));
    const int32_t produce_id = c.next_correlation();
    c.send(produce_request(produce_id, "busy", 0, batch(1, 5), -1, 1000));
    wire_client other(b.port());
    bool seen = false;
    for (int i = 0; i < 200 && !seen; ++i) {
        seen = fetch(other, "busy", 0, 0).high_watermark == 5;
        if (!seen) {
            std::this_thread::sleep_for(5ms);
        }
    }
    CHECK(seen);
    auto first = c.receive();
    REQUIRE(first.has_value());
    CHECK(first->envelope->correlation_id() == poll_id);
    auto second = c.receive();
    REQUIRE(second.has_value());
    CHECK(second->envelope->correlation_id() == produce_id);
    // Acknowledged when appended, although its answer could only leave after the poll's.
    const auto* pr =
        second->envelope->body_as_ProduceResponse()->topics()->Get(0)->partitions()->Get(0);
    CHECK(errc(pr->error_code()) == errc::none);
}

std::vector<std::byte> concat(std::vector<std::byte> a, const std::vector<std::byte>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

TEST_CASE("a produce appends all of its batches or none") {
    fault_fs fs;
    broker_fixture b({}, nullptr, &fs);
    wire_client c(b.port());
    auto small = batch(1, 5, 100);
    auto large = batch(2, 40, 500);  // ~20 KiB
    SUBCASE("a batch over segment.bytes fails the request before anything is written") {
        REQUIRE(create(c, "seg", 1, -1, {{"segment.bytes", "16384"}}) == errc::none);
        auto r = produce(c, "seg", 0, concat(small, large));
        CHECK(r.error == errc::record_list_too_large);
        CHECK(r.message.find("segment.bytes") != std::string::npos);
        CHECK(fetch(c, "seg", 0, 0).high_watermark == 0);
        received_frame keep;
        CHECK(list_offset(c, keep, "seg", 0, api::latest_timestamp)->offset() == 0);
    }
    SUBCASE("a disk that fills midway leaves no prefix behind") {
        REQUIRE(create(c, "full", 1) == errc::none);
        fs.set_space_left(small.size() + large.size() / 2);
        auto r = produce(c, "full", 0, concat(small, large));
        CHECK(r.error != errc::none);
        fs.clear_faults();
        CHECK(fetch(c, "full", 0, 0).high_watermark == 0);
        // The retry is the first and only copy.
        auto again = produce(c, "full", 0, concat(small, large));
        REQUIRE(again.error == errc::none);
        CHECK(again.base_offset == 0);
        auto all = fetch(c, "full", 0, 0);
        CHECK(all.high_watermark == 45);
        CHECK(batches_of(all.records).size() == 2);
    }
}

TEST_CASE("limits: max.connections and connections.max.idle.ms") {
    broker_fixture b(properties{{"max.connections", "2"}, {"connections.max.idle.ms", "300"}});
    wire_client a(b.port());
    wire_client c2(b.port());
    CHECK(a.call(api_versions_request(1)).envelope->correlation_id() == 1);
    CHECK(c2.call(api_versions_request(2)).envelope->correlation_id() == 2);
    wire_client third(b.port());
    CHECK(third.wait_closed(2s));
    // Idle connections close; then there is room again.
    CHECK(a.wait_closed(3s));
    CHECK(c2.wait_closed(3s));
    wire_client fourth(b.port());
    CHECK(fourth.call(api_versions_request(4)).envelope->correlation_id() == 4);
}

// Connects until the broker answers an ApiVersions (it closes refused connections at once) and
// returns that connection, or null after `limit`.
std::unique_ptr<wire_client> served_within(uint16_t port, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        auto probe = std::make_unique<wire_client>(port);
        const int32_t id = probe->next_correlation();
        probe->send(api_versions_request(id));
        auto f = probe->receive(500ms);
        if (f && f->envelope->correlation_id() == id) {
            return probe;
        }
        std::this_thread::sleep_for(20ms);
    }
    return nullptr;
}

TEST_CASE("a client that stops reading is cut off, and its memory and slot come back") {
    for (const std::string setting : {"true", "false"}) {  // sendfile, or read and sent
        CAPTURE(setting);
        broker_fixture b(properties{{"max.connections", "1"},
                                    {"connections.max.idle.ms", "500"},
                                    {"fetch.sendfile", setting}});
        {
            wire_client c(b.port());
            REQUIRE(create(c, "big", 1) == errc::none);
            for (int i = 0; i < 16; ++i) {
                REQUIRE(produce(c, "big", 0, batch(uint64_t(i), 50, 10000)).error == errc::none);
            }
        }
        // The hog asks for the whole 8 MB 32 times and reads none: the socket's buffers fill and
        // the broker's write stops making progress.
        auto hog = served_within(b.port(), 5s);
        REQUIRE(hog);
        for (int i = 0; i < 32; ++i) {
            hog->send(fetch_request(hog->next_correlation(), "big", 0, 0, 0, 1, 16 << 20));
        }
        // With the hog holding the only slot, a new client is served only once the broker cuts the
        // stalled connection off; then nothing of the hog's stays in the memory budget.
        CHECK(served_within(b.port(), 10s) != nullptr);
        bool released = false;
        for (int i = 0; i < 200 && !released; ++i) {
            released = b.stats().queued_bytes == 0;
            if (!released) {
                std::this_thread::sleep_for(10ms);
            }
        }
        CHECK(released);
        // 256 MB of fetch responses were queued, but fetched records are sent from the segment
        // files: the budget held only requests and response envelopes.
        CHECK(b.stats().queued_bytes_peak < (2u << 20));
    }
}

TEST_CASE("queued.max.request.bytes bounds what the broker holds; clients wait, none fails") {
    // 256 KiB frames at most, 512 KiB held at once; 8 clients pipeline 4 requests of ~200 KiB.
    broker_fixture b(
        properties{{"socket.request.max.bytes", "262144"}, {"queued.max.request.bytes", "524288"}});
    {
        wire_client c(b.port());
        REQUIRE(create(c, "t", 4) == errc::none);
    }
    std::vector<std::thread> clients;
    std::atomic<int> ok{0};
    for (int k = 0; k < 8; ++k) {
        clients.emplace_back([&, k] {
            wire_client c(b.port());
            std::vector<int32_t> ids;
            for (int i = 0; i < 4; ++i) {
                ids.push_back(c.next_correlation());
                c.send(produce_request(ids.back(), "t", k % 4,
                                       batch(uint64_t(k * 10 + i), 20, 10000)));
            }
            for (int i = 0; i < 4; ++i) {
                auto f = c.receive(30s);
                if (f && f->envelope->correlation_id() == ids[size_t(i)] &&
                    f->envelope->body_as_ProduceResponse()
                            ->topics()
                            ->Get(0)
                            ->partitions()
                            ->Get(0)
                            ->error_code() == 0) {
                    ++ok;
                }
            }
        });
    }
    for (auto& t : clients) {
        t.join();
    }
    CHECK(ok.load() == 32);
    // Requests are admitted only within the budget; responses (a few hundred bytes each) are
    // the only bytes charged without waiting.
    CHECK(b.stats().queued_bytes_peak <= 524288 + 32 * 1024);
    CHECK(b.stats().queued_bytes_peak > 0);
}

TEST_CASE("deleting a topic under produce and fetch load") {
    broker_fixture b;
    wire_client admin(b.port());
    REQUIRE(create(admin, "busy", 2) == errc::none);
    std::atomic<bool> done{false};
    std::atomic<int> unknown{0};
    std::thread producer([&] {
        wire_client c(b.port());
        for (int i = 0; !done && i < 2000; ++i) {
            auto r = produce(c, "busy", i % 2, batch(uint64_t(i), 2));
            if (r.error == errc::unknown_topic_or_partition) {
                ++unknown;
                break;
            }
            CHECK(r.error == errc::none);
        }
    });
    std::thread consumer([&] {
        wire_client c(b.port());
        int64_t next = 0;
        for (int i = 0; !done && i < 2000; ++i) {
            auto r = fetch(c, "busy", 0, next, 50, 1);
            if (r.error == errc::unknown_topic_or_partition) {
                ++unknown;
                break;
            }
            CHECK(r.error == errc::none);
            auto bs = batches_of(r.records);
            if (!bs.empty()) {
                next = bs.back().header().next_offset().value();
            }
        }
    });
    std::this_thread::sleep_for(300ms);
    auto d = admin.call(delete_topics_request(admin.next_correlation(), {"busy"}));
    CHECK(d.envelope->body_as_DeleteTopicsResponse()->results()->Get(0)->error_code() == 0);
    producer.join();
    done = true;
    consumer.join();
    CHECK(unknown.load() >= 1);
    CHECK(create(admin, "busy", 1) == errc::none);
}

TEST_CASE("a stop answers in-flight requests first") {
    auto b = std::make_unique<broker_fixture>();
    wire_client c(b->port());
    REQUIRE(create(c, "t", 1) == errc::none);
    c.send(fetch_request(c.next_correlation(), "t", 0, 0, 1000, 1));
    std::this_thread::sleep_for(100ms);
    auto t0 = std::chrono::steady_clock::now();
    b->stop();
    CHECK(std::chrono::steady_clock::now() - t0 < 4s);
    auto f = c.receive(1s);
    REQUIRE(f.has_value());  // the long poll was answered before the connection closed
    CHECK(fetch_from(*f).error == errc::none);
    CHECK(c.wait_closed(2s));
}

TEST_CASE("retention deletes old segments on its timer") {
    broker_fixture b(properties{{"log.retention.check.interval.ms", "100"}});
    wire_client c(b.port());
    // By size only: the test's records carry 2023 timestamps, which retention.ms would expire.
    REQUIRE(
        create(c, "short", 1, -1,
               {{"segment.bytes", "4096"}, {"retention.bytes", "4096"}, {"retention.ms", "-1"}}) ==
        errc::none);
    for (int i = 0; i < 30; ++i) {
        REQUIRE(produce(c, "short", 0, batch(uint64_t(i), 5, 200)).error == errc::none);
    }
    received_frame keep;
    // One retention pass removes segments one by one: wait until the log start has moved and
    // then stayed put for several passes (100 ms each).
    int64_t earliest = 0;
    int unchanged = 0;
    for (int i = 0; i < 200 && (earliest == 0 || unchanged < 5); ++i) {
        std::this_thread::sleep_for(50ms);
        const int64_t now = list_offset(c, keep, "short", 0, -2)->offset();
        unchanged = now == earliest ? unchanged + 1 : 0;
        earliest = now;
    }
    CHECK(earliest > 0);
    CHECK(list_offset(c, keep, "short", 0, -1)->offset() == 150);
    auto gone = fetch(c, "short", 0, 0);
    CHECK(gone.error == errc::offset_out_of_range);
    CHECK(gone.log_start == earliest);
    CHECK(earliest < 150);
    CHECK(batches_of(fetch(c, "short", 0, earliest).records).size() >= 1);
}
