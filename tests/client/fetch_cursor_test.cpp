// The consumer's fetch cursor over batches built and laid out as a broker would return them:
// records below the position are skipped, positions move past batches, a cut-off tail is
// ignored, corruption is an error, never a crash.
#include <doctest/doctest.h>

#include <cstring>
#include <random>

#include "fetch_cursor.h"
#include "sluice/protocol/batch_format.h"
#include "sluice/protocol/byte_order.h"
#include "sluice/protocol/crc32c.h"

using namespace sluice;
using namespace sluice::detail;

namespace {

// A batch of `count` records with values "v<offset>", based at `base`.
std::vector<std::byte> batch_at(int64_t base, int count, int64_t ts = 1000) {
    batch_builder b;
    std::vector<std::string> values;
    for (int i = 0; i < count; ++i) {
        values.push_back("v" + std::to_string(base + i));
    }
    const std::string key = "k";
    const std::string hv = "hv";
    const header_view h{as_bytes("hk"), as_bytes(hv)};
    for (int i = 0; i < count; ++i) {
        const record_input r{as_bytes(key), as_bytes(values[size_t(i)]), timestamp_ms_t(ts + i),
                             std::span<const header_view>(&h, 1)};
        b.add(r);
    }
    auto bytes = b.finish();
    set_base_offset(bytes, offset_t(base));
    return bytes;
}

completed_fetch fetch_of(std::vector<std::vector<std::byte>> batches, size_t cut = 0) {
    size_t total = 0;
    for (const auto& b : batches) {
        total += b.size();
    }
    total -= cut;
    std::shared_ptr<std::byte[]> buf(new std::byte[total]);
    size_t at = 0;
    for (const auto& b : batches) {
        const size_t n = std::min(b.size(), total - at);
        if (n > 0) {
            std::memcpy(buf.get() + at, b.data(), n);
        }
        at += n;
    }
    return completed_fetch{{"t", 2}, 1, {}, buf, bytes_view(buf.get(), total)};
}

// One read through the cursor; `out` gets what it read, as a consumer's poll_view() would.
result<void> read(fetch_cursor& c, int64_t& position, size_t max, consumer_records& out) {
    records_builder b;
    auto r = c.read(position, max, b);
    out = std::move(b).finish();
    return r;
}

}  // namespace

TEST_CASE("records below the position are skipped; the position moves past each record") {
    fetch_cursor c(fetch_of({batch_at(10, 5), batch_at(15, 5)}));
    int64_t position = 12;
    consumer_records out;
    REQUIRE(read(c, position, 100, out));
    CHECK(c.done());
    REQUIRE(out.size() == 8);
    CHECK(out[0].offset == 12);
    CHECK(out[0].value == "v12");
    CHECK(out[0].key == "k");
    CHECK(out[0].topic == "t");
    CHECK(out[0].partition == 2);
    CHECK(out[0].timestamp_ms == 1002);
    REQUIRE(out[0].headers.size() == 1);
    CHECK(out[0].headers[0].key == "hk");
    CHECK(out[0].headers[0].value == "hv");
    CHECK(out[out.size() - 1].offset == 19);
    CHECK(position == 20);
}

TEST_CASE(
    "the records outlive the cursor and the fetch buffer's hand-over; copies own their bytes") {
    consumer_records out;
    int64_t position = 0;
    {
        fetch_cursor c(fetch_of({batch_at(0, 3), batch_at(3, 3)}));
        REQUIRE(read(c, position, 100, out));
    }  // the cursor and its completed_fetch are gone; `out` keeps the answer's buffer
    REQUIRE(out.size() == 6);
    for (size_t i = 0; i < out.size(); ++i) {
        CHECK(out[i].offset == int64_t(i));
        CHECK(out[i].value == "v" + std::to_string(i));
        CHECK(out[i].topic == "t");
        REQUIRE(out[i].headers.size() == 1);  // every record's span points at its own header
        CHECK(out[i].headers[0].key == "hk");
        CHECK(out[i].headers[0].value == "hv");
    }
    consumer_records moved = std::move(out);  // a move keeps the views valid
    const consumer_record copy = moved[5].to_record();
    moved = consumer_records{};
    CHECK(copy.topic == "t");
    CHECK(copy.partition == 2);
    CHECK(copy.offset == 5);
    CHECK(copy.key == "k");
    CHECK(copy.value == "v5");
    REQUIRE(copy.headers.size() == 1);
    CHECK(copy.headers[0].key == "hk");
    CHECK(copy.headers[0].value == "hv");
}

TEST_CASE("max records per read, resumed by the next read") {
    fetch_cursor c(fetch_of({batch_at(0, 10)}));
    int64_t position = 0;
    consumer_records out;
    REQUIRE(read(c, position, 4, out));
    CHECK(out.size() == 4);
    CHECK_FALSE(c.done());
    CHECK(position == 4);
    consumer_records more;
    REQUIRE(read(c, position, 100, more));
    REQUIRE(more.size() == 6);
    CHECK(more[0].offset == 4);
    CHECK(position == 10);
    CHECK(c.done());
}

TEST_CASE("a partial batch at the end is ignored") {
    fetch_cursor c(fetch_of({batch_at(0, 3), batch_at(3, 3)}, 7));
    int64_t position = 0;
    consumer_records out;
    REQUIRE(read(c, position, 100, out));
    CHECK(out.size() == 3);
    CHECK(position == 3);
    CHECK(c.done());
}

TEST_CASE("a batch wholly below the position moves nothing back") {
    fetch_cursor c(fetch_of({batch_at(0, 3)}));
    int64_t position = 50;
    consumer_records out;
    REQUIRE(read(c, position, 100, out));
    CHECK(out.empty());
    CHECK(position == 50);
}

TEST_CASE("log-append-time batches report the batch's max timestamp") {
    auto b = batch_at(0, 2, 500);
    // The builder writes CreateTime batches; set the LogAppendTime bit (a broker does that
    // for such topics) and sign the batch again, since attributes are under the CRC.
    auto attrs = load_be<uint16_t>(b.data() + batch_format::attributes_pos);
    store_be<uint16_t>(b.data() + batch_format::attributes_pos,
                       uint16_t(attrs | batch_format::timestamp_type_bit));
    store_be<int64_t>(b.data() + batch_format::max_timestamp_pos, 9999);
    const uint32_t crc = crc32c::value(bytes_view(b).subspan(batch_format::crc_start));
    store_be<uint32_t>(b.data() + batch_format::crc_pos, crc);
    fetch_cursor c(fetch_of({b}));
    int64_t position = 0;
    consumer_records out;
    REQUIRE(read(c, position, 100, out));
    REQUIRE(out.size() == 2);
    CHECK(out[0].timestamp_ms == 9999);
    CHECK(out[1].timestamp_ms == 9999);
}

TEST_CASE("a corrupt batch is an error after the good ones before it") {
    auto good = batch_at(0, 2);
    auto bad = batch_at(2, 2);
    bad[bad.size() - 1] ^= std::byte{0x5a};  // breaks the CRC
    fetch_cursor c(fetch_of({good, bad}));
    int64_t position = 0;
    consumer_records out;
    auto r = read(c, position, 100, out);
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::corrupt_message);
    CHECK(out.size() == 2);
    CHECK(position == 2);
    CHECK(c.done());
}

TEST_CASE("random garbage never crashes the cursor") {
    std::mt19937_64 rng(7);
    const auto good = batch_at(0, 4);
    for (int i = 0; i < 3000; ++i) {
        std::vector<std::byte> bytes = good;
        if (i % 2 == 0) {
            const int flips = 1 + int(rng() % 4);
            for (int f = 0; f < flips; ++f) {
                bytes[rng() % bytes.size()] = std::byte(rng());
            }
        } else {
            bytes.resize(rng() % 200);
            for (auto& x : bytes) {
                x = std::byte(rng());
            }
        }
        fetch_cursor c(fetch_of({bytes}));
        int64_t position = 0;
        consumer_records out;
        auto r = read(c, position, 100, out);
        CHECK(out.size() <= 4);
        if (r) {
            CHECK(c.done());
        }
    }
}

TEST_CASE("the fetch buffer is bounded and says when it has room again") {
    int room_calls = 0;
    fetch_buffer buf(100, [&] { room_calls++; });
    std::shared_ptr<std::byte[]> mem(new std::byte[200]);
    auto chunk = [&](size_t n) {
        return completed_fetch{{"t", 0}, 1, {}, mem, bytes_view(mem.get(), n)};
    };
    CHECK_FALSE(buf.full_mark_waiting());
    buf.push(chunk(60));
    CHECK_FALSE(buf.full_mark_waiting());
    buf.push(chunk(60));
    CHECK(buf.full_mark_waiting());  // 120 >= 100: the fetcher waits
    auto a = buf.pop(std::chrono::steady_clock::now());
    REQUIRE(a);
    buf.release(a->records.size());  // 60 left: room again, the fetcher is told once
    CHECK(room_calls == 1);
    auto b = buf.pop(std::chrono::steady_clock::now());
    REQUIRE(b);
    buf.release(b->records.size());
    CHECK(room_calls == 1);  // nobody was waiting
    const auto t0 = std::chrono::steady_clock::now();
    CHECK_FALSE(buf.pop(t0 + std::chrono::milliseconds(20)));
    CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(20));
}
