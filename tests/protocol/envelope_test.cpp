// The native protocol envelope: the FlatBuffers code generated from protocol/schema/envelope.fbs
// at build time builds, verifies and reads back a message, and the verifier refuses garbage.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "sluice/fbs/sluice_generated.h"

namespace {

namespace fbs = sluice::fbs;

// A heap copy of exactly the given bytes, so that AddressSanitizer sees a read past the end.
class exact_bytes {
  public:
    explicit exact_bytes(const uint8_t* p, size_t n)
        : size_(n), data_(std::make_unique<uint8_t[]>(n)) {
        if (n > 0) {
            std::memcpy(data_.get(), p, n);
        }
    }
    const uint8_t* data() const { return data_.get(); }
    uint8_t* data() { return data_.get(); }
    size_t size() const { return size_; }

  private:
    size_t size_;
    std::unique_ptr<uint8_t[]> data_;
};

bool verifies(const uint8_t* p, size_t n) {
    flatbuffers::Verifier v(p, n);
    return fbs::VerifyEnvelopeBuffer(v);
}

struct api_range {
    fbs::ApiKey key;
    int16_t min_version;
    int16_t max_version;
};

const std::vector<api_range> ranges = {
    {fbs::ApiKey::Produce, 0, 3},
    {fbs::ApiKey::Fetch, 0, 4},
    {fbs::ApiKey::Metadata, 1, 2},
    {fbs::ApiKey::ApiVersions, 0, 1},
};

std::vector<uint8_t> build_response() {
    flatbuffers::FlatBufferBuilder fbb;
    std::vector<flatbuffers::Offset<fbs::ApiVersionRange>> apis;
    for (const api_range& r : ranges) {
        apis.push_back(fbs::CreateApiVersionRange(fbb, r.key, r.min_version, r.max_version));
    }
    const auto body = fbs::CreateApiVersionsResponse(fbb, 0, fbb.CreateVector(apis));
    const auto env = fbs::CreateEnvelope(fbb, fbs::ApiKey::ApiVersions, 1, 4242,
                                         fbs::Body::ApiVersionsResponse, body.Union());
    fbs::FinishEnvelopeBuffer(fbb, env);
    return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
}

TEST_CASE("envelope: an ApiVersionsResponse verifies and reads back") {
    const std::vector<uint8_t> buf = build_response();
    const exact_bytes b(buf.data(), buf.size());
    REQUIRE(verifies(b.data(), b.size()));

    const fbs::Envelope* env = fbs::GetEnvelope(b.data());
    CHECK(env->api_key() == fbs::ApiKey::ApiVersions);
    CHECK(env->api_version() == 1);
    CHECK(env->correlation_id() == 4242);
    CHECK(env->body_type() == fbs::Body::ApiVersionsResponse);
    CHECK(env->body_as_ApiVersionsRequest() == nullptr);
    const fbs::ApiVersionsResponse* resp = env->body_as_ApiVersionsResponse();
    REQUIRE(resp != nullptr);
    CHECK(resp->error_code() == 0);
    REQUIRE(resp->apis() != nullptr);
    REQUIRE(resp->apis()->size() == ranges.size());
    for (flatbuffers::uoffset_t i = 0; i < resp->apis()->size(); ++i) {
        const fbs::ApiVersionRange* r = resp->apis()->Get(i);
        CHECK(r->api_key() == ranges[i].key);
        CHECK(r->min_version() == ranges[i].min_version);
        CHECK(r->max_version() == ranges[i].max_version);
    }
}

TEST_CASE("envelope: an ApiVersionsRequest round trips") {
    flatbuffers::FlatBufferBuilder fbb;
    const auto body = fbs::CreateApiVersionsRequestDirect(fbb, "sluice-cli");
    fbs::FinishEnvelopeBuffer(
        fbb, fbs::CreateEnvelope(fbb, fbs::ApiKey::ApiVersions, 0, 7, fbs::Body::ApiVersionsRequest,
                                 body.Union()));
    const exact_bytes b(fbb.GetBufferPointer(), fbb.GetSize());
    REQUIRE(verifies(b.data(), b.size()));
    const fbs::ApiVersionsRequest* req = fbs::GetEnvelope(b.data())->body_as_ApiVersionsRequest();
    REQUIRE(req != nullptr);
    REQUIRE(req->client_software_name() != nullptr);
    CHECK(req->client_software_name()->str() == "sluice-cli");
}

TEST_CASE("envelope: garbage fails verification") {
    SUBCASE("too short or all ones") {
        for (size_t n : {0, 1, 3, 4, 8, 64}) {
            std::vector<uint8_t> ones(n, 0xFF);
            const exact_bytes b(ones.data(), ones.size());
            CHECK_FALSE(verifies(b.data(), b.size()));
        }
    }

    SUBCASE("every truncation of a valid message") {
        const std::vector<uint8_t> buf = build_response();
        for (size_t n = 0; n < buf.size(); ++n) {
            CAPTURE(n);
            const exact_bytes b(buf.data(), n);
            CHECK_FALSE(verifies(b.data(), b.size()));
        }
    }

    SUBCASE("a root offset past the end") {
        std::vector<uint8_t> buf = build_response();
        const auto past = static_cast<uint32_t>(buf.size());
        std::memcpy(buf.data(), &past, sizeof(past));  // little-endian host, as FlatBuffers is
        const exact_bytes b(buf.data(), buf.size());
        CHECK_FALSE(verifies(b.data(), b.size()));
    }

    SUBCASE("a vector length past the end") {
        const std::vector<uint8_t> buf = build_response();
        const auto* vec = fbs::GetEnvelope(buf.data())->body_as_ApiVersionsResponse()->apis();
        const size_t at =
            reinterpret_cast<uintptr_t>(vec) - reinterpret_cast<uintptr_t>(buf.data());
        REQUIRE(at + 4 <= buf.size());
        exact_bytes b(buf.data(), buf.size());
        // The vector's little-endian uint32 length, made larger than the buffer.
        b.data()[at + 3] = 0x10;
        CHECK_FALSE(verifies(b.data(), b.size()));
    }

    SUBCASE("random bytes") {
        std::mt19937_64 rng(12345);
        for (int i = 0; i < 2000; ++i) {
            std::vector<uint8_t> junk(rng() % 300);
            for (uint8_t& x : junk) {
                x = static_cast<uint8_t>(rng());
            }
            const exact_bytes b(junk.data(), junk.size());
            CHECK_FALSE(verifies(b.data(), b.size()));
        }
    }
}

}  // namespace
