#include "sluice/protocol/varint.h"

#include <doctest/doctest.h>

#include <limits>
#include <random>
#include <vector>

namespace {

using namespace sluice;

using bytes = std::vector<std::byte>;

bytes encode(int64_t v) {
    bytes out(varint::varlong_size_max);
    out.resize(varint::encode_long(v, out.data()));
    return out;
}

bytes raw(std::initializer_list<uint8_t> l) {
    bytes out;
    for (uint8_t b : l) {
        out.push_back(std::byte{b});
    }
    return out;
}

constexpr int64_t i32_min = std::numeric_limits<int32_t>::min();
constexpr int64_t i32_max = std::numeric_limits<int32_t>::max();
constexpr int64_t i64_min = std::numeric_limits<int64_t>::min();
constexpr int64_t i64_max = std::numeric_limits<int64_t>::max();

std::vector<int64_t> edge_values() {
    std::vector<int64_t> v{0, 1, -1, i32_min, i32_max, i64_min, i64_max, i32_min - 1, i32_max + 1};
    for (int shift = 0; shift < 63; ++shift) {
        const int64_t p = int64_t{1} << shift;
        for (int64_t x : {p - 1, p, p + 1}) {
            v.push_back(x);
            v.push_back(-x);
        }
    }
    return v;
}

void check_round_trip(int64_t v) {
    CAPTURE(v);
    const bytes enc = encode(v);
    REQUIRE(enc.size() == varint::encoded_size(v));
    const auto d = varint::decode_long(enc);
    REQUIRE(d);
    CHECK(d->value == v);
    CHECK(d->size == enc.size());
    const auto di = varint::decode_int(enc);
    if (v >= i32_min && v <= i32_max) {
        REQUIRE(di);
        CHECK(di->value == v);
        CHECK(di->size == enc.size());
    } else {
        CHECK_FALSE(di);
    }
    // Bytes after the varint are not consumed.
    bytes longer = enc;
    longer.push_back(std::byte{0xFF});
    const auto dl = varint::decode_long(longer);
    REQUIRE(dl);
    CHECK(dl->size == enc.size());
    // Every strict prefix is truncated.
    for (size_t n = 0; n < enc.size(); ++n) {
        CHECK_FALSE(varint::decode_long(std::span(enc).first(n)));
        CHECK_FALSE(varint::decode_int(std::span(enc).first(n)));
    }
}

TEST_CASE("varint: zig-zag mapping") {
    CHECK(varint::zigzag_encode(0) == 0);
    CHECK(varint::zigzag_encode(-1) == 1);
    CHECK(varint::zigzag_encode(1) == 2);
    CHECK(varint::zigzag_encode(-2) == 3);
    CHECK(varint::zigzag_encode(i64_max) == std::numeric_limits<uint64_t>::max() - 1);
    CHECK(varint::zigzag_encode(i64_min) == std::numeric_limits<uint64_t>::max());
    CHECK(varint::zigzag_decode(std::numeric_limits<uint64_t>::max()) == i64_min);
}

TEST_CASE("varint: known encodings and sizes") {
    CHECK(encode(0) == raw({0x00}));
    CHECK(encode(-1) == raw({0x01}));
    CHECK(encode(1) == raw({0x02}));
    CHECK(encode(300) == raw({0xD8, 0x04}));
    CHECK(encode(-64) == raw({0x7F}));
    CHECK(encode(64) == raw({0x80, 0x01}));
    CHECK(encode(i32_max) == raw({0xFE, 0xFF, 0xFF, 0xFF, 0x0F}));
    CHECK(encode(i32_min) == raw({0xFF, 0xFF, 0xFF, 0xFF, 0x0F}));
    CHECK(encode(i64_min) == raw({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}));

    CHECK(varint::encoded_size(0) == 1);
    CHECK(varint::encoded_size(63) == 1);
    CHECK(varint::encoded_size(-64) == 1);
    CHECK(varint::encoded_size(64) == 2);
    CHECK(varint::encoded_size(-65) == 2);
    CHECK(varint::encoded_size(8191) == 2);
    CHECK(varint::encoded_size(8192) == 3);
    CHECK(varint::encoded_size(i32_max) == 5);
    CHECK(varint::encoded_size(i32_min) == 5);
    CHECK(varint::encoded_size(i64_max) == 10);
    CHECK(varint::encoded_size(i64_min) == 10);
}

TEST_CASE("varint: round trip of edge values") {
    for (int64_t v : edge_values()) {
        check_round_trip(v);
    }
}

TEST_CASE("varint: round trip of random values of every width") {
    std::mt19937_64 rng(7);
    for (int i = 0; i < 100000; ++i) {
        const int bits = static_cast<int>(rng() % 64);
        auto v = static_cast<int64_t>(rng() >> bits);
        if (rng() & 1) {
            v = -v;
        }
        const bytes enc = encode(v);
        const auto d = varint::decode_long(enc);
        REQUIRE(d);
        REQUIRE(d->value == v);
        REQUIRE(d->size == varint::encoded_size(v));
    }
}

TEST_CASE("varint: truncated input is rejected") {
    CHECK_FALSE(varint::decode_long({}));
    CHECK_FALSE(varint::decode_int({}));
    CHECK_FALSE(varint::decode_long(raw({0x80})));
    CHECK_FALSE(varint::decode_long(raw({0xFF, 0xFF, 0xFF})));
    CHECK_FALSE(varint::decode_int(raw({0xD8})));
}

TEST_CASE("varint: overlong encodings are rejected") {
    // 11 bytes for a long, 6 for an int.
    const bytes long11 = raw({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00});
    CHECK_FALSE(varint::decode_long(long11));
    CHECK_FALSE(varint::decode_int(raw({0x80, 0x80, 0x80, 0x80, 0x80, 0x00})));
    // A 10th byte with bits beyond bit 63.
    CHECK_FALSE(
        varint::decode_long(raw({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02})));
    // Padded but within the limit: accepted, as Kafka does; the size reports what was consumed.
    const auto padded = varint::decode_long(raw({0x80, 0x80, 0x00}));
    REQUIRE(padded);
    CHECK(padded->value == 0);
    CHECK(padded->size == 3);
    const auto padded_int = varint::decode_int(raw({0x82, 0x80, 0x80, 0x80, 0x00}));
    REQUIRE(padded_int);
    CHECK(padded_int->value == 1);
    CHECK(padded_int->size == 5);
}

TEST_CASE("varint: decode_int rejects values outside int32") {
    CHECK_FALSE(varint::decode_int(encode(i32_max + 1)));
    CHECK_FALSE(varint::decode_int(encode(i32_min - 1)));
    CHECK_FALSE(varint::decode_int(encode(i64_max)));
    // Five bytes whose last one carries bits beyond 32.
    CHECK_FALSE(varint::decode_int(raw({0xFF, 0xFF, 0xFF, 0xFF, 0x1F})));
    CHECK(varint::decode_long(raw({0xFF, 0xFF, 0xFF, 0xFF, 0x1F})));
}

}  // namespace
