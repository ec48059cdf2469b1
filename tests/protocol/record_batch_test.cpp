#include "sluice/protocol/record_batch.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "sluice/protocol/byte_order.h"
#include "sluice/protocol/crc32c.h"
#include "sluice/protocol/varint.h"

namespace {

using namespace sluice;
namespace bf = batch_format;
using buffer = std::vector<std::byte>;

// A heap copy of exactly the given bytes, so that AddressSanitizer flags a read one past the end
// (a vector's capacity may exceed its size and hide such a read).
class exact_bytes {
  public:
    explicit exact_bytes(bytes_view b)
        : size_(b.size()), data_(std::make_unique<std::byte[]>(b.size())) {
        if (size_ > 0) {
            std::memcpy(data_.get(), b.data(), size_);
        }
    }
    bytes_view view() const { return {data_.get(), size_}; }

  private:
    size_t size_;
    std::unique_ptr<std::byte[]> data_;
};

bool within(bytes_view inner, bytes_view outer) {
    if (inner.empty()) {
        return true;
    }
    const auto i = reinterpret_cast<uintptr_t>(inner.data());
    const auto o = reinterpret_cast<uintptr_t>(outer.data());
    return i >= o && i + inner.size() <= o + outer.size();
}

std::error_code err(errc e) {
    return make_error_code(e);
}

// --- models of batches, built with batch_builder and compared field by field -------------------

struct header_model {
    std::string key;
    std::optional<std::string> value;
};

struct record_model {
    std::optional<std::string> key;
    std::optional<std::string> value;
    int64_t timestamp = 0;
    std::vector<header_model> headers;
};

struct batch_model {
    std::vector<record_model> records;
    batch_builder::options opts;
};

std::string random_string(std::mt19937_64& rng, size_t max_len) {
    // Mostly short strings, some long ones.
    const int bucket = static_cast<int>(rng() % 20);
    size_t cap = bucket < 10 ? 16 : bucket < 17 ? 256 : max_len;
    cap = std::min(cap, max_len);
    std::string s(rng() % (cap + 1), '\0');
    for (char& c : s) {
        c = static_cast<char>(rng());
    }
    return s;
}

std::optional<std::string> random_nullable(std::mt19937_64& rng, size_t max_len) {
    switch (rng() % 5) {
        case 0:
            return std::nullopt;
        case 1:
            return std::string();
        default:
            return random_string(rng, max_len);
    }
}

batch_model random_model(std::mt19937_64& rng, int records_max, size_t bytes_max) {
    batch_model m;
    const int count = 1 + static_cast<int>(rng() % records_max);
    const int64_t base_ts = 1'700'000'000'000 + static_cast<int64_t>(rng() % 1'000'000);
    for (int i = 0; i < count; ++i) {
        record_model r;
        r.key = random_nullable(rng, bytes_max);
        r.value = random_nullable(rng, bytes_max);
        // Deltas of both signs: records need not be in timestamp order.
        r.timestamp = base_ts + static_cast<int64_t>(rng() % 200'001) - 100'000;
        const int headers = static_cast<int>(rng() % 4);
        for (int h = 0; h < headers; ++h) {
            header_model hm;
            hm.key = random_string(rng, 24);
            if (rng() % 3 == 0) {
                hm.value = std::nullopt;
            } else {
                hm.value = random_string(rng, 64);
            }
            r.headers.push_back(std::move(hm));
        }
        m.records.push_back(std::move(r));
    }
    return m;
}

std::optional<bytes_view> view_of(const std::optional<std::string>& s) {
    if (!s) {
        return std::nullopt;
    }
    return as_bytes(*s);
}

buffer build(const batch_model& m, batch_builder& b) {
    REQUIRE(b.empty());
    REQUIRE(b.size_bytes() == bf::header_size);
    std::vector<header_view> hv;
    for (size_t i = 0; i < m.records.size(); ++i) {
        const record_model& r = m.records[i];
        hv.clear();
        for (const header_model& h : r.headers) {
            hv.push_back({as_bytes(h.key), view_of(h.value)});
        }
        const record_input in{view_of(r.key), view_of(r.value), timestamp_ms_t(r.timestamp), hv};
        const size_t before = b.size_bytes();
        const size_t predicted = batch_builder::record_size_bytes(
            in, r.timestamp - m.records[0].timestamp, static_cast<int32_t>(i));
        b.add(in);
        REQUIRE(b.size_bytes() == before + predicted);
        REQUIRE(b.record_count() == static_cast<int32_t>(i + 1));
    }
    const size_t expected_size = b.size_bytes();
    buffer out = b.finish();
    REQUIRE(out.size() == expected_size);
    REQUIRE(b.empty());
    REQUIRE(b.size_bytes() == bf::header_size);
    return out;
}

buffer build(const batch_model& m) {
    batch_builder b(m.opts);
    return build(m, b);
}

void check_optional(const std::optional<bytes_view>& got, const std::optional<std::string>& want) {
    REQUIRE(got.has_value() == want.has_value());
    if (want) {
        CHECK(as_string(*got) == *want);
    }
}

// Compares every field of a parsed batch with its model.
void check_batch(const batch_view& v, const batch_model& m) {
    const batch_header& h = v.header();
    const auto count = static_cast<int32_t>(m.records.size());
    CHECK(h.magic == bf::magic_v2);
    CHECK(h.attributes == 0);
    CHECK(h.record_count == count);
    CHECK(h.last_offset_delta == count - 1);
    CHECK(h.size_bytes() == v.bytes().size());
    CHECK(h.producer_id == m.opts.producer_id);
    CHECK(h.producer_epoch == m.opts.producer_epoch);
    CHECK(h.base_sequence == m.opts.base_sequence);
    const int64_t base_ts = m.records[0].timestamp;
    int64_t max_ts = base_ts;
    for (const record_model& r : m.records) {
        max_ts = std::max(max_ts, r.timestamp);
    }
    CHECK(h.base_timestamp == timestamp_ms_t(base_ts));
    CHECK(h.max_timestamp == timestamp_ms_t(max_ts));

    record_iterator it = v.records();
    record_view r;
    std::vector<header_view> headers;
    int32_t i = 0;
    while (it.next(r)) {
        REQUIRE(i < count);
        const record_model& want = m.records[static_cast<size_t>(i)];
        CHECK(r.offset_delta == i);
        CHECK(base_ts + r.timestamp_delta == want.timestamp);
        CHECK(r.attributes == 0);
        check_optional(r.key, want.key);
        check_optional(r.value, want.value);
        REQUIRE(r.header_count == static_cast<int32_t>(want.headers.size()));
        headers.clear();
        r.headers(headers);
        REQUIRE(headers.size() == want.headers.size());
        for (size_t k = 0; k < headers.size(); ++k) {
            CHECK(as_string(headers[k].key) == want.headers[k].key);
            check_optional(headers[k].value, want.headers[k].value);
        }
        ++i;
    }
    CHECK(i == count);
}

// --- hand-made bytes for hostile inputs ---------------------------------------------------------

struct writer {
    buffer b;
    writer& varint(int64_t v) {
        std::byte tmp[varint::varlong_size_max];
        const size_t n = varint::encode_long(v, tmp);
        b.insert(b.end(), tmp, tmp + n);
        return *this;
    }
    writer& raw(std::string_view s) {
        const bytes_view v = as_bytes(s);
        b.insert(b.end(), v.begin(), v.end());
        return *this;
    }
    writer& u8(uint8_t x) {
        b.push_back(std::byte{x});
        return *this;
    }
    writer& append(const buffer& other) {
        b.insert(b.end(), other.begin(), other.end());
        return *this;
    }
};

// Length prefix + body. `length` defaults to the body's true size.
buffer framed(const buffer& body, std::optional<int64_t> length = std::nullopt) {
    writer w;
    w.varint(length.value_or(static_cast<int64_t>(body.size())));
    w.append(body);
    return w.b;
}

// A well-formed record body with a key "k", value "v" and the given headers.
buffer good_body(int64_t offset_delta, int header_count = 0) {
    writer w;
    w.u8(0).varint(0).varint(offset_delta);
    w.varint(1).raw("k").varint(1).raw("v");
    w.varint(header_count);
    for (int i = 0; i < header_count; ++i) {
        w.varint(2).raw("hk").varint(-1);
    }
    return w.b;
}

void fix_crc(buffer& b) {
    if (b.size() >= bf::crc_start) {
        const uint32_t crc = crc32c::value(bytes_view(b).subspan(bf::crc_start));
        store_be<uint32_t>(b.data() + bf::crc_pos, crc);
    }
}

void fix_length_and_crc(buffer& b) {
    if (b.size() >= bf::length_field_end) {
        store_be<int32_t>(b.data() + bf::batch_length_pos,
                          static_cast<int32_t>(b.size() - bf::length_field_end));
    }
    fix_crc(b);
}

// A batch around the given records section, with a valid length and CRC.
buffer craft(const buffer& records, int32_t record_count, int32_t last_offset_delta,
             uint16_t attributes = 0) {
    buffer b(bf::header_size);
    store_be<int64_t>(b.data() + bf::base_offset_pos, 0);
    store_be<int32_t>(b.data() + bf::leader_epoch_pos, -1);
    store_be<int8_t>(b.data() + bf::magic_pos, bf::magic_v2);
    store_be<uint16_t>(b.data() + bf::attributes_pos, attributes);
    store_be<int32_t>(b.data() + bf::last_offset_delta_pos, last_offset_delta);
    store_be<int64_t>(b.data() + bf::base_timestamp_pos, 1000);
    store_be<int64_t>(b.data() + bf::max_timestamp_pos, 1000);
    store_be<int64_t>(b.data() + bf::producer_id_pos, -1);
    store_be<int16_t>(b.data() + bf::producer_epoch_pos, -1);
    store_be<int32_t>(b.data() + bf::base_sequence_pos, -1);
    store_be<int32_t>(b.data() + bf::record_count_pos, record_count);
    b.insert(b.end(), records.begin(), records.end());
    fix_length_and_crc(b);
    return b;
}

result<batch_view> parse_exact(const exact_bytes& e) {
    return batch_view::parse(e.view());
}

std::error_code parse_error(const buffer& b) {
    const exact_bytes e(b);
    auto r = batch_view::parse(e.view());
    return r ? std::error_code{} : r.error();
}

// --- tests --------------------------------------------------------------------------------------

TEST_CASE("record_batch: randomized round trips") {
    std::mt19937_64 rng(424242);
    batch_builder::options idempotent;
    idempotent.producer_id = producer_id_t(77);
    idempotent.producer_epoch = producer_epoch_t(3);
    idempotent.base_sequence = sequence_t(1000);
    idempotent.reserve_bytes = 4096;
    batch_builder plain_builder;
    batch_builder idempotent_builder(idempotent);
    for (int i = 0; i < 300; ++i) {
        batch_model m = random_model(rng, 50, 4096);
        const bool use_idempotent = i % 2 == 1;
        if (use_idempotent) {
            m.opts = idempotent;
        }
        // The same builders are reused: finish() must leave them empty with options kept.
        const buffer b = build(m, use_idempotent ? idempotent_builder : plain_builder);
        const exact_bytes e(b);
        auto v = parse_exact(e);
        REQUIRE(v);
        CHECK(v.value().header().base_offset == offset_t(0));
        CHECK(v.value().header().leader_epoch == no_leader_epoch);
        check_batch(v.value(), m);
        if (use_idempotent) {
            CHECK(v.value().header().last_sequence() ==
                  sequence_t(1000 + static_cast<int32_t>(m.records.size()) - 1));
        } else {
            CHECK(v.value().header().last_sequence() == no_sequence);
        }
    }
}

TEST_CASE("record_batch: extreme timestamps round trip through wrapping deltas") {
    batch_model m;
    for (int64_t ts : {int64_t{0}, std::numeric_limits<int64_t>::max(),
                       std::numeric_limits<int64_t>::min(), int64_t{-1}}) {
        record_model r;
        r.timestamp = ts;
        m.records.push_back(r);
    }
    const buffer b = build(m);
    auto v = batch_view::parse(b);
    REQUIRE(v);
    CHECK(v.value().header().max_timestamp == timestamp_ms_t::max());
    record_iterator it = v.value().records();
    record_view r;
    for (const record_model& want : m.records) {
        REQUIRE(it.next(r));
        const auto ts = static_cast<int64_t>(static_cast<uint64_t>(m.records[0].timestamp) +
                                             static_cast<uint64_t>(r.timestamp_delta));
        CHECK(ts == want.timestamp);
    }
    CHECK_FALSE(it.next(r));
}

TEST_CASE("record_batch: set_base_offset and set_leader_epoch keep the batch valid") {
    std::mt19937_64 rng(5);
    const batch_model m = random_model(rng, 20, 100);
    buffer b = build(m);
    set_base_offset(b, offset_t(123456789012));
    set_leader_epoch(b, leader_epoch_t(42));
    auto v = batch_view::parse(b);
    REQUIRE(v);
    const batch_header& h = v.value().header();
    CHECK(h.base_offset == offset_t(123456789012));
    CHECK(h.leader_epoch == leader_epoch_t(42));
    const auto count = static_cast<int64_t>(m.records.size());
    CHECK(h.last_offset() == offset_t(123456789012 + count - 1));
    CHECK(h.next_offset() == offset_t(123456789012 + count));
    check_batch(v.value(), m);
}

TEST_CASE("record_batch: last_sequence wraps as Kafka's does") {
    batch_header h;
    h.base_sequence = no_sequence;
    h.last_offset_delta = 5;
    CHECK(h.last_sequence() == no_sequence);
    h.base_sequence = sequence_t(10);
    h.last_offset_delta = 4;
    CHECK(h.last_sequence() == sequence_t(14));
    h.base_sequence = sequence_t(std::numeric_limits<int32_t>::max() - 1);
    h.last_offset_delta = 1;
    CHECK(h.last_sequence() == sequence_t::max());
    h.last_offset_delta = 2;
    CHECK(h.last_sequence() == sequence_t(0));
    h.last_offset_delta = 3;
    CHECK(h.last_sequence() == sequence_t(1));
}

TEST_CASE("record_batch: every single-byte corruption outside base offset and epoch is caught") {
    std::mt19937_64 rng(99);
    for (int n = 0; n < 3; ++n) {
        const batch_model m = random_model(rng, 8, 64);
        const buffer good = build(m);
        CAPTURE(good.size());
        for (size_t pos = 0; pos < good.size(); ++pos) {
            for (uint8_t mask : {0x01, 0x80, 0xFF}) {
                CAPTURE(pos);
                CAPTURE(int{mask});
                buffer bad = good;
                bad[pos] ^= std::byte{mask};
                const exact_bytes e(bad);
                auto v = batch_view::parse(e.view());
                const bool in_base_offset = pos < bf::base_offset_pos + 8;
                const bool in_epoch = pos >= bf::leader_epoch_pos && pos < bf::leader_epoch_pos + 4;
                if (in_base_offset || in_epoch) {
                    // Outside the CRC by design: the log and the leader rewrite them.
                    REQUIRE(v);
                    const batch_header& h = v.value().header();
                    CHECK(h.base_offset ==
                          offset_t(load_be<int64_t>(bad.data() + bf::base_offset_pos)));
                    CHECK(h.leader_epoch ==
                          leader_epoch_t(load_be<int32_t>(bad.data() + bf::leader_epoch_pos)));
                    CHECK((h.base_offset != offset_t(0) || h.leader_epoch != no_leader_epoch));
                    check_batch(v.value(), m);
                } else {
                    CHECK_FALSE(v);
                }
            }
        }
    }
}

TEST_CASE("record_batch: every truncation is rejected") {
    std::mt19937_64 rng(3);
    for (int n = 0; n < 3; ++n) {
        const buffer good = build(random_model(rng, 10, 200));
        for (size_t len = 0; len < good.size(); ++len) {
            CAPTURE(len);
            const exact_bytes e(bytes_view(good).first(len));
            auto v = batch_view::parse(e.view());
            REQUIRE_FALSE(v);
            CHECK(v.error() == err(errc::corrupt_message));
            auto h = read_header(e.view());
            if (len < bf::header_size) {
                CHECK_FALSE(h);
            } else {
                CHECK(h);
            }
        }
    }
}

TEST_CASE("record_batch: read_header checks magic and batch_length") {
    std::mt19937_64 rng(8);
    buffer b = build(random_model(rng, 3, 10));
    CHECK(read_header(b));
    buffer magic1 = b;
    store_be<int8_t>(magic1.data() + bf::magic_pos, 1);
    CHECK(read_header(magic1).error() == err(errc::corrupt_message));
    for (int32_t len : {-1, 0, 48, static_cast<int32_t>(bf::batch_size_max),
                        std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min()}) {
        CAPTURE(len);
        buffer bad = b;
        store_be<int32_t>(bad.data() + bf::batch_length_pos, len);
        CHECK(read_header(bad).error() == err(errc::corrupt_message));
    }
    // The largest legal length is accepted by read_header (the bytes need not all be there).
    buffer big = b;
    store_be<int32_t>(big.data() + bf::batch_length_pos,
                      static_cast<int32_t>(bf::batch_size_max - bf::length_field_end));
    CHECK(read_header(big));
    CHECK(batch_view::parse(big).error() == err(errc::corrupt_message));
}

TEST_CASE("record_batch: batch_reader over back-to-back batches") {
    std::mt19937_64 rng(11);
    std::vector<batch_model> models;
    buffer all;
    std::vector<size_t> starts;
    for (int i = 0; i < 5; ++i) {
        models.push_back(random_model(rng, 6, 100));
        buffer b = build(models.back());
        set_base_offset(b, offset_t(i * 100));
        starts.push_back(all.size());
        all.insert(all.end(), b.begin(), b.end());
    }

    SUBCASE("whole buffer") {
        for (bool allow : {false, true}) {
            const exact_bytes e(all);
            batch_reader reader(e.view(), allow);
            for (int i = 0; i < 5; ++i) {
                auto r = reader.next();
                REQUIRE(r);
                REQUIRE(r.value().has_value());
                CHECK(r.value()->header().base_offset == offset_t(i * 100));
                check_batch(*r.value(), models[static_cast<size_t>(i)]);
            }
            for (int i = 0; i < 2; ++i) {
                auto r = reader.next();
                REQUIRE(r);
                CHECK_FALSE(r.value().has_value());
            }
        }
    }

    SUBCASE("empty buffer") {
        batch_reader reader({});
        auto r = reader.next();
        REQUIRE(r);
        CHECK_FALSE(r.value().has_value());
    }

    SUBCASE("truncated tail") {
        const size_t last = starts.back();
        for (size_t cut = last + 1; cut < all.size(); ++cut) {
            CAPTURE(cut - last);
            const exact_bytes e(bytes_view(all).first(cut));
            for (bool allow : {false, true}) {
                batch_reader reader(e.view(), allow);
                for (int i = 0; i < 4; ++i) {
                    auto r = reader.next();
                    REQUIRE(r);
                    REQUIRE(r.value().has_value());
                }
                auto r = reader.next();
                if (allow) {
                    REQUIRE(r);
                    CHECK_FALSE(r.value().has_value());
                } else {
                    REQUIRE_FALSE(r);
                    CHECK(r.error() == err(errc::corrupt_message));
                    // The error is sticky.
                    CHECK_FALSE(reader.next());
                }
            }
        }
    }

    SUBCASE("a corrupt batch in the middle is an error whatever allow_partial_tail says") {
        buffer bad = all;
        bad[starts[2] + bf::header_size + 1] ^= std::byte{0x40};
        for (bool allow : {false, true}) {
            const exact_bytes e(bad);
            batch_reader reader(e.view(), allow);
            for (int i = 0; i < 2; ++i) {
                auto r = reader.next();
                REQUIRE(r);
                REQUIRE(r.value().has_value());
            }
            auto r = reader.next();
            REQUIRE_FALSE(r);
            CHECK(r.error() == err(errc::corrupt_message));
        }
    }

    SUBCASE("a garbage tail is not a partial batch") {
        // A length below the minimum, and a plausible length with the wrong magic.
        buffer bad_length = all;
        const buffer tail(12, std::byte{0});
        bad_length.insert(bad_length.end(), tail.begin(), tail.end());
        buffer bad_magic = all;
        buffer tail2(20, std::byte{0});
        store_be<int32_t>(tail2.data() + bf::batch_length_pos, 100);
        store_be<int8_t>(tail2.data() + bf::magic_pos, 1);
        bad_magic.insert(bad_magic.end(), tail2.begin(), tail2.end());
        for (const buffer* b : {&bad_length, &bad_magic}) {
            const exact_bytes e(*b);
            batch_reader reader(e.view(), true);
            for (int i = 0; i < 5; ++i) {
                REQUIRE(reader.next());
            }
            auto r = reader.next();
            REQUIRE_FALSE(r);
            CHECK(r.error() == err(errc::corrupt_message));
        }
    }
}

TEST_CASE("record_batch: hand-made batches with a valid CRC") {
    SUBCASE("baseline: hand-made records parse") {
        writer recs;
        recs.append(framed(good_body(0, 2))).append(framed(good_body(1)));
        const buffer b = craft(recs.b, 2, 1);
        auto v = batch_view::parse(b);
        REQUIRE(v);
        record_iterator it = v.value().records();
        record_view r;
        REQUIRE(it.next(r));
        std::vector<header_view> hs;
        r.headers(hs);
        REQUIRE(hs.size() == 2);
        CHECK(as_string(hs[0].key) == "hk");
        CHECK_FALSE(hs[0].value);
        REQUIRE(it.next(r));
        CHECK(r.offset_delta == 1);
        CHECK_FALSE(it.next(r));
    }

    SUBCASE("offset deltas with gaps (a compacted batch) are accepted") {
        writer recs;
        recs.append(framed(good_body(0))).append(framed(good_body(5))).append(framed(good_body(9)));
        CHECK(batch_view::parse(craft(recs.b, 3, 9)));
    }

    SUBCASE("record framing errors are corrupt_message") {
        const std::vector<std::pair<const char*, buffer>> cases = [] {
            std::vector<std::pair<const char*, buffer>> c;
            const buffer body = good_body(0);
            c.emplace_back("record length past the end", framed(body, 100));
            c.emplace_back("record length one past the end",
                           framed(body, static_cast<int64_t>(body.size()) + 1));
            c.emplace_back("record length -1", framed(body, -1));
            c.emplace_back("record length -2", framed(body, -2));
            c.emplace_back("record length int32 min", framed(body, -2147483648LL));
            c.emplace_back("record length beyond int32", framed(body, 1LL << 40));
            c.emplace_back("record length 0", framed({}, 0));
            {
                // The length claims fewer bytes than the fields take.
                buffer b = framed(body, static_cast<int64_t>(body.size()) - 1);
                c.emplace_back("record length short of the fields", b);
            }
            {
                // The length claims one more byte than the fields take: a stray byte inside.
                buffer inner = body;
                inner.push_back(std::byte{0});
                c.emplace_back("stray byte inside the record", framed(inner));
            }
            {
                writer w;
                w.u8(0).varint(0).varint(0).varint(50).raw("abc");
                c.emplace_back("key length past the end", framed(w.b));
            }
            {
                writer w;
                w.u8(0).varint(0).varint(0).varint(-2).varint(-1).varint(0);
                c.emplace_back("key length -2", framed(w.b));
            }
            {
                writer w;
                w.u8(0).varint(0).varint(0).varint(-1).varint(-5).varint(0);
                c.emplace_back("value length -5", framed(w.b));
            }
            {
                writer w;
                w.u8(0).varint(0).varint(0).varint(-1).varint(2147483647LL).varint(0);
                c.emplace_back("value length int32 max", framed(w.b));
            }
            {
                writer w;
                w.u8(0).varint(0).varint(0).varint(-1).varint(-1).varint(2147483647LL);
                c.emplace_back("header count huge", framed(w.b));
            }
            {
                writer w;
                w.u8(0).varint(0).varint(0).varint(-1).varint(-1).varint(-1);
                c.emplace_back("header count negative", framed(w.b));
            }
            {
                writer w;
                w.u8(0).varint(0).varint(0).varint(-1).varint(-1).varint(1);
                w.varint(-1).varint(-1);
                c.emplace_back("header key null", framed(w.b));
            }
            {
                writer w;
                w.u8(0).varint(0).varint(0).varint(-1).varint(-1).varint(1);
                w.varint(2).raw("hk").varint(40).raw("x");
                c.emplace_back("header value past the end", framed(w.b));
            }
            {
                writer w;
                w.u8(0).varint(0).varint(0).varint(-1).varint(-1).varint(2);
                w.varint(2).raw("hk").varint(-1);
                c.emplace_back("fewer headers than the count", framed(w.b));
            }
            {
                writer w;
                w.u8(0).varint(0).varint(1LL << 40).varint(-1).varint(-1).varint(0);
                c.emplace_back("offset delta beyond int32", framed(w.b));
            }
            {
                writer w;
                w.u8(0);
                for (int i = 0; i < 10; ++i) {
                    w.u8(0x80);
                }
                w.u8(0x00).varint(0).varint(-1).varint(-1).varint(0);
                c.emplace_back("overlong timestamp delta", framed(w.b));
            }
            {
                writer w;
                w.u8(0).varint(0);
                c.emplace_back("record ends inside its fields", framed(w.b));
            }
            return c;
        }();
        for (const auto& [name, rec] : cases) {
            CAPTURE(name);
            CHECK(parse_error(craft(rec, 1, 0)) == err(errc::corrupt_message));
            // The same record after a good one.
            writer two;
            two.append(framed(good_body(0))).append(rec);
            CHECK(parse_error(craft(two.b, 2, 1)) == err(errc::corrupt_message));
        }
    }

    SUBCASE("record_count must match the records present") {
        writer one;
        one.append(framed(good_body(0)));
        for (int32_t count :
             {0, -1, 2, std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min()}) {
            CAPTURE(count);
            CHECK(parse_error(craft(one.b, count, 0)) == err(errc::invalid_record));
        }
        CHECK(parse_error(craft({}, 0, -1)) == err(errc::invalid_record));
        CHECK(parse_error(craft({}, 1, 0)) == err(errc::invalid_record));
        writer two;
        two.append(framed(good_body(0))).append(framed(good_body(1)));
        CHECK(parse_error(craft(two.b, 1, 0)) == err(errc::invalid_record));
        CHECK(parse_error(craft(two.b, 1, 1)) == err(errc::invalid_record));
    }

    SUBCASE("offset deltas must rise strictly from 0 to last_offset_delta") {
        auto batch = [](std::initializer_list<int64_t> deltas, int32_t last) {
            writer w;
            for (int64_t d : deltas) {
                w.append(framed(good_body(d)));
            }
            return craft(w.b, static_cast<int32_t>(deltas.size()), last);
        };
        CHECK(parse_error(batch({0, 2, 1}, 1)) == err(errc::invalid_record));
        CHECK(parse_error(batch({0, 2, 1}, 2)) == err(errc::invalid_record));
        CHECK(parse_error(batch({0, 0}, 0)) == err(errc::invalid_record));
        CHECK(parse_error(batch({1, 2}, 2)) == err(errc::invalid_record));
        CHECK(parse_error(batch({-1, 0}, 0)) == err(errc::invalid_record));
        CHECK(parse_error(batch({0, 1}, 2)) == err(errc::invalid_record));
        CHECK(parse_error(batch({0, 1}, 0)) == err(errc::invalid_record));
        CHECK(parse_error(batch({0}, -1)) == err(errc::invalid_record));
        CHECK(parse_error(batch({0, 1, 2}, 2)) == std::error_code{});
    }

    SUBCASE("trailing bytes") {
        const buffer rec = framed(good_body(0));
        // Bytes that are no record: framing error.
        for (const buffer& tail :
             {buffer{std::byte{0}}, buffer{std::byte{0x80}}, buffer(5, std::byte{0xFF}),
              buffer{std::byte{2}, std::byte{0}}}) {
            buffer recs = rec;
            recs.insert(recs.end(), tail.begin(), tail.end());
            CHECK(parse_error(craft(recs, 1, 0)) == err(errc::corrupt_message));
        }
        // A whole extra record that record_count does not count: a batch rule.
        writer two;
        two.append(rec).append(framed(good_body(1)));
        CHECK(parse_error(craft(two.b, 1, 0)) == err(errc::invalid_record));
    }

    SUBCASE("compression bits are refused, other attribute bits are not") {
        writer one;
        one.append(framed(good_body(0)));
        for (uint16_t codec = 1; codec <= 7; ++codec) {
            CAPTURE(codec);
            CHECK(parse_error(craft(one.b, 1, 0, codec)) ==
                  err(errc::unsupported_compression_type));
        }
        const uint16_t others =
            bf::timestamp_type_bit | bf::transactional_bit | bf::control_bit | 0xFFC0;
        auto v = batch_view::parse(craft(one.b, 1, 0, others));
        REQUIRE(v);
        CHECK(v.value().header().is_control());
        CHECK(v.value().header().compression() == 0);
    }

    SUBCASE("size, magic and CRC") {
        writer one;
        one.append(framed(good_body(0)));
        const buffer good = craft(one.b, 1, 0);
        REQUIRE(batch_view::parse(good));
        buffer longer = good;
        longer.push_back(std::byte{0});
        CHECK(parse_error(longer) == err(errc::corrupt_message));  // size != batch_length + 12
        buffer magic = good;
        store_be<int8_t>(magic.data() + bf::magic_pos, 1);
        CHECK(parse_error(magic) == err(errc::corrupt_message));
        buffer crc = good;
        crc[bf::crc_pos] ^= std::byte{1};
        CHECK(parse_error(crc) == err(errc::corrupt_message));
    }
}

// Applies one random structural or byte-level change.
void mutate(buffer& b, std::mt19937_64& rng) {
    auto pos = [&] { return b.empty() ? 0 : static_cast<size_t>(rng() % b.size()); };
    static constexpr uint8_t interesting[] = {0x00, 0x01, 0x02, 0x7F, 0x80, 0x81, 0xFE, 0xFF};
    static constexpr int64_t interesting_ints[] = {-2,
                                                   -1,
                                                   0,
                                                   1,
                                                   2,
                                                   127,
                                                   128,
                                                   1 << 20,
                                                   std::numeric_limits<int32_t>::max(),
                                                   std::numeric_limits<int32_t>::min(),
                                                   std::numeric_limits<int64_t>::max()};
    switch (rng() % 8) {
        case 0:
            if (!b.empty()) {
                b[pos()] ^= std::byte(1u << (rng() % 8));
            }
            break;
        case 1:
            if (!b.empty()) {
                b[pos()] = std::byte(rng());
            }
            break;
        case 2:
            if (!b.empty()) {
                b[pos()] = std::byte(interesting[rng() % std::size(interesting)]);
            }
            break;
        case 3:
            b.insert(b.begin() + static_cast<ptrdiff_t>(pos()), std::byte(rng()));
            break;
        case 4:
            if (!b.empty()) {
                b.erase(b.begin() + static_cast<ptrdiff_t>(pos()));
            }
            break;
        case 5: {
            // Overwrite record bytes with a varint, the likeliest way to reach deep code paths.
            if (b.size() > bf::header_size) {
                std::byte tmp[varint::varlong_size_max];
                const int64_t v = rng() % 2 ? interesting_ints[rng() % std::size(interesting_ints)]
                                            : static_cast<int64_t>(rng() % 64) - 32;
                const size_t n = varint::encode_long(v, tmp);
                const size_t at = bf::header_size + rng() % (b.size() - bf::header_size);
                for (size_t i = 0; i < n && at + i < b.size(); ++i) {
                    b[at + i] = tmp[i];
                }
            }
            break;
        }
        case 6:
            b.resize(static_cast<size_t>(rng() % (b.size() + 1)));
            break;
        case 7:
            for (int i = static_cast<int>(rng() % 8); i >= 0; --i) {
                b.push_back(std::byte(rng()));
            }
            break;
    }
}

// What must hold for any batch that parse() accepts.
void check_consistent(const batch_view& v) {
    const batch_header& h = v.header();
    const bytes_view all = v.bytes();
    REQUIRE(h.record_count >= 1);
    REQUIRE(h.size_bytes() == all.size());
    record_iterator it = v.records();
    record_view r;
    std::vector<header_view> headers;
    int32_t n = 0;
    int32_t prev = -1;
    while (it.next(r)) {
        REQUIRE(r.offset_delta > prev);
        prev = r.offset_delta;
        if (r.key) {
            REQUIRE(within(*r.key, all));
        }
        if (r.value) {
            REQUIRE(within(*r.value, all));
        }
        REQUIRE(within(r.headers_bytes, all));
        headers.clear();
        r.headers(headers);
        REQUIRE(headers.size() == static_cast<size_t>(r.header_count));
        for (const header_view& hv : headers) {
            REQUIRE(within(hv.key, all));
            if (hv.value) {
                REQUIRE(within(*hv.value, all));
            }
        }
        ++n;
    }
    REQUIRE(n == h.record_count);
    REQUIRE(prev == h.last_offset_delta);
}

TEST_CASE("record_batch: fuzzed mutations with a recomputed CRC") {
    std::mt19937_64 rng(2718);
    std::vector<buffer> pool;
    for (int i = 0; i < 10; ++i) {
        pool.push_back(build(random_model(rng, 8, 40)));
    }
    int accepted = 0;
    int corrupt = 0;
    int invalid = 0;
    int other = 0;
    for (int i = 0; i < 20000; ++i) {
        buffer b = pool[rng() % pool.size()];
        for (int k = 1 + static_cast<int>(rng() % 4); k > 0; --k) {
            mutate(b, rng);
        }
        if (rng() % 10 != 0) {
            fix_length_and_crc(b);
        } else {
            fix_crc(b);
        }
        const exact_bytes e(b);
        auto v = batch_view::parse(e.view());
        if (v) {
            ++accepted;
            check_consistent(v.value());
        } else if (v.error() == err(errc::corrupt_message)) {
            ++corrupt;
        } else if (v.error() == err(errc::invalid_record)) {
            ++invalid;
        } else {
            ++other;
            CHECK(v.error() == err(errc::unsupported_compression_type));
        }
        // The reader over the same bytes agrees with parse.
        batch_reader reader(e.view(), true);
        auto r = reader.next();
        if (v) {
            REQUIRE(r);
            REQUIRE(r.value().has_value());
        }
        // read_header never reads past the span either.
        (void)read_header(e.view());
    }
    MESSAGE("accepted " << accepted << ", corrupt " << corrupt << ", invalid " << invalid
                        << ", compression " << other);
    // The mutations reach every outcome.
    CHECK(accepted > 0);
    CHECK(corrupt > 0);
    CHECK(invalid > 0);
}

// A quick throughput figure; run with --no-skip.
TEST_CASE("record_batch: builder and parse throughput" * doctest::skip()) {
    const std::string key(16, 'k');
    const std::string value(100, 'v');
    const int batches = 20000;
    const int per_batch = 100;
    batch_builder::options opts;
    opts.reserve_bytes = 16 * 1024;
    batch_builder b(opts);
    size_t bytes_total = 0;
    std::vector<buffer> keep;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < batches; ++i) {
        for (int j = 0; j < per_batch; ++j) {
            b.add({as_bytes(key), as_bytes(value), timestamp_ms_t(1000 + j), {}});
        }
        buffer out = b.finish();
        bytes_total += out.size();
        if (i < 100) {
            keep.push_back(std::move(out));
        }
    }
    const std::chrono::duration<double> build_s = std::chrono::steady_clock::now() - start;
    const double records = double(batches) * per_batch;
    std::printf("build: %.1f M records/s, %.0f MB/s (%d-record batches, 16 B keys, 100 B values)\n",
                records / build_s.count() / 1e6, double(bytes_total) / build_s.count() / 1e6,
                per_batch);

    const auto pstart = std::chrono::steady_clock::now();
    size_t parsed = 0;
    for (int i = 0; i < batches; ++i) {
        auto v = batch_view::parse(keep[static_cast<size_t>(i) % keep.size()]);
        parsed += v ? v.value().bytes().size() : 0;
    }
    const std::chrono::duration<double> parse_s = std::chrono::steady_clock::now() - pstart;
    std::printf("parse: %.1f M records/s, %.0f MB/s\n", records / parse_s.count() / 1e6,
                double(parsed) / parse_s.count() / 1e6);
}

}  // namespace

TEST_CASE("check_batch: what storage checks on append and recovery") {
    sluice::batch_builder b;
    std::string value(300, 'v');
    for (int i = 0; i < 5; ++i) {
        b.add({.key = sluice::as_bytes("k"),
               .value = sluice::as_bytes(value),
               .timestamp = sluice::timestamp_ms_t{1000 + i}});
    }
    auto batch = b.finish();
    auto ok = sluice::check_batch(batch);
    REQUIRE(ok.has_value());
    CHECK(ok.value().record_count == 5);
    CHECK(ok.value().last_offset_delta == 4);
    // Every byte under the CRC, the length and the magic: a flip is caught.
    for (size_t at = sluice::batch_format::batch_length_pos; at < batch.size(); ++at) {
        if (at >= sluice::batch_format::leader_epoch_pos &&
            at < sluice::batch_format::leader_epoch_pos + 4) {
            continue;  // outside the CRC by design
        }
        auto bad = batch;
        bad[at] ^= std::byte{0x01};
        CHECK_MESSAGE(!sluice::check_batch(bad).has_value(), "byte ", at);
    }
    for (size_t n = 0; n < batch.size(); ++n) {
        CHECK(!sluice::check_batch(std::span(batch).first(n)).has_value());
    }
    auto longer = batch;
    longer.push_back(std::byte{0});
    CHECK(sluice::check_batch(longer).error() == sluice::errc::corrupt_message);
}
