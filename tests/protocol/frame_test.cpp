// Native-protocol framing: round trips, size limits, truncation, garbage and DataRef bounds.
#include <doctest/doctest.h>

#include <cstring>
#include <random>

#include "sluice/protocol/byte_order.h"
#include "sluice/protocol/frame.h"

using namespace sluice;

namespace {

// A ProduceRequest frame with one partition whose records are `data`.
std::vector<std::byte> produce_frame(const std::vector<std::byte>& data, int32_t correlation) {
    frame::writer w;
    auto& fbb = w.fbb();
    auto ref = w.add_data_ref(data);
    std::vector<flatbuffers::Offset<fbs::ProducePartition>> parts{
        fbs::CreateProducePartition(fbb, 3, &ref)};
    std::vector<flatbuffers::Offset<fbs::ProduceTopic>> topics{
        fbs::CreateProduceTopicDirect(fbb, "orders", &parts)};
    auto body = fbs::CreateProduceRequestDirect(fbb, 1, 1000, &topics);
    w.finish(frame::make_envelope(fbb, fbs::ApiKey::Produce, 0, correlation,
                                  fbs::Body::ProduceRequest, body.Union()));
    return w.to_bytes();
}

}  // namespace

TEST_CASE("a frame round-trips with its data section") {
    std::vector<std::byte> data(5000);
    for (size_t i = 0; i < data.size(); ++i) {
        data[i] = std::byte(i * 7);
    }
    auto bytes = produce_frame(data, 77);
    auto h = frame::parse_header(bytes, frame::frame_bytes_max_default);
    REQUIRE(h.has_value());
    CHECK(h.value().total() == bytes.size());

    auto f = frame::parse(bytes);
    REQUIRE(f.has_value());
    const auto* env = f.value().envelope;
    CHECK(env->api_key() == fbs::ApiKey::Produce);
    CHECK(env->correlation_id() == 77);
    const auto* req = env->body_as_ProduceRequest();
    REQUIRE(req != nullptr);
    CHECK(req->acks() == 1);
    const auto* part = req->topics()->Get(0)->partitions()->Get(0);
    CHECK(part->partition() == 3);
    auto records = frame::resolve(part->records(), f.value().data);
    REQUIRE(records.has_value());
    CHECK(std::equal(records.value().begin(), records.value().end(), data.begin(), data.end()));
}

TEST_CASE("frames over the limit and inconsistent headers are refused") {
    auto bytes = produce_frame(std::vector<std::byte>(100), 1);
    CHECK(frame::parse_header(bytes, bytes.size() - 1).error() == errc::message_too_large);
    CHECK(frame::parse_header(bytes, bytes.size()).has_value());
    CHECK(frame::parse_header(std::span(bytes).first(7), 1 << 20).error() == errc::corrupt_message);

    auto zero_env = bytes;
    store_be<uint32_t>(zero_env.data() + 4, 0);
    CHECK(frame::parse_header(zero_env, 1 << 20).error() == errc::corrupt_message);
    auto long_env = bytes;
    store_be<uint32_t>(long_env.data() + 4, uint32_t(bytes.size()));
    CHECK(frame::parse_header(long_env, 1 << 20).error() == errc::corrupt_message);
    auto huge = bytes;
    store_be<uint32_t>(huge.data(), 0xffffffffu);
    CHECK(frame::parse_header(huge, frame::frame_bytes_max_default).error() ==
          errc::message_too_large);
}

TEST_CASE("every truncation of a frame is refused") {
    auto bytes = produce_frame(std::vector<std::byte>(64, std::byte{1}), 5);
    for (size_t n = 0; n < bytes.size(); ++n) {
        CHECK(!frame::parse(std::span(bytes).first(n)).has_value());
    }
}

TEST_CASE("garbage envelopes fail verification without reading out of bounds") {
    std::mt19937_64 rng(7);
    auto good = produce_frame(std::vector<std::byte>(32), 9);
    size_t env_len = load_be<uint32_t>(good.data() + 4);
    int accepted = 0;
    for (int trial = 0; trial < 5000; ++trial) {
        auto bad = good;
        int flips = 1 + int(rng() % 8);
        for (int i = 0; i < flips; ++i) {
            bad[frame::header_size + rng() % env_len] = std::byte(rng());
        }
        auto f = frame::parse(bad);
        if (f.has_value()) {
            // Whatever verified must still be safe to walk.
            ++accepted;
            const auto* req = f.value().envelope->body_as_ProduceRequest();
            if (req != nullptr && req->topics() != nullptr) {
                for (const auto* t : *req->topics()) {
                    if (t->partitions() == nullptr) {
                        continue;
                    }
                    for (const auto* p : *t->partitions()) {
                        auto r = frame::resolve(p->records(), f.value().data);
                        if (r.has_value()) {
                            CHECK(r.value().size() <= f.value().data.size());
                        }
                    }
                }
            }
        }
    }
    CHECK(accepted < 5000);
    std::vector<std::byte> noise(256);
    for (auto& b : noise) {
        b = std::byte(rng());
    }
    store_be<uint32_t>(noise.data(), uint32_t(noise.size() - 4));
    store_be<uint32_t>(noise.data() + 4, 200);
    CHECK(frame::parse(noise).error() == errc::corrupt_message);
}

TEST_CASE("data refs outside the data section are refused") {
    std::vector<std::byte> data(10);
    fbs::DataRef inside(2, 8), past(2, 9), far(11, 0), wrap(0xffffffffu, 2);
    CHECK(frame::resolve(&inside, data).value().size() == 8);
    CHECK(frame::resolve(&past, data).error() == errc::corrupt_message);
    CHECK(frame::resolve(&far, data).error() == errc::corrupt_message);
    CHECK(frame::resolve(&wrap, data).error() == errc::corrupt_message);
    CHECK(frame::resolve(nullptr, data).value().empty());
}

TEST_CASE("a vector of longs moved off its 8-byte alignment is refused, not read misaligned") {
    // A metadata response whose one partition has replica log end offsets [1, 0].
    frame::writer w;
    auto& fbb = w.fbb();
    std::vector<int64_t> ends{1, 0};
    std::vector<flatbuffers::Offset<fbs::PartitionMetadata>> parts{
        fbs::CreatePartitionMetadata(fbb, 0, 0, 1, 1, 0, 0, fbb.CreateVector(ends))};
    std::vector<flatbuffers::Offset<fbs::TopicMetadata>> topics{
        fbs::CreateTopicMetadata(fbb, 0, 0, fbb.CreateString("orders"), fbb.CreateVector(parts))};
    auto body = fbs::CreateMetadataResponse(fbb, 0, 0, 1, fbb.CreateVector(topics));
    w.finish(frame::make_envelope(fbb, fbs::ApiKey::Metadata, 0, 5, fbs::Body::MetadataResponse,
                                  body.Union()));
    auto bytes = w.to_bytes();
    auto good = frame::parse(bytes);
    REQUIRE(good.has_value());
    const auto* part =
        good.value().envelope->body_as_MetadataResponse()->topics()->Get(0)->partitions()->Get(0);
    // Generated tables derive privately from flatbuffers::Table and have the same address.
    const auto* table = reinterpret_cast<const flatbuffers::Table*>(part);
    const auto* field = table->GetAddressOf(fbs::PartitionMetadata::VT_REPLICA_LOG_END_OFFSETS);
    REQUIRE(field != nullptr);
    const size_t at = size_t(field - reinterpret_cast<const uint8_t*>(bytes.data()));

    // Point the field 4 bytes further: the length becomes the low half of 1 and the elements
    // start at 4 mod 8. The FlatBuffers verifier still accepts it; parse must not.
    auto moved = bytes;
    uint32_t rel = 0;
    std::memcpy(&rel, moved.data() + at, 4);
    rel += 4;
    std::memcpy(moved.data() + at, &rel, 4);
    auto env = std::span(moved).subspan(frame::header_size, load_be<uint32_t>(moved.data() + 4));
    flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(env.data()), env.size());
    REQUIRE(fbs::VerifyEnvelopeBuffer(verifier));
    CHECK(frame::parse(moved).error() == errc::corrupt_message);
}
