// Validation of a produce request's batches for one partition, before anything is appended.
#include <doctest/doctest.h>

#include "batch_helpers.h"
#include "sluice/core/batch_validation.h"
#include "sluice/protocol/batch_format.h"
#include "sluice/protocol/byte_order.h"
#include "sluice/protocol/crc32c.h"

using namespace sluice;
using namespace sluice::broker;
using namespace sluice::testing;

namespace {

std::vector<std::byte> good(uint64_t seed, int records = 3) {
    return make_batch(seed, records, 50, timestamp_ms_t{1'700'000'000'000});
}

std::vector<std::byte> concat(std::vector<std::vector<std::byte>> parts) {
    std::vector<std::byte> out;
    for (auto& p : parts) {
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

}  // namespace

TEST_CASE("several good batches back to back") {
    auto buf = concat({good(1), good(2), good(3)});
    auto r = validate_batches(buf, 1 << 20);
    CHECK(r.error == errc::none);
    CHECK(r.headers.size() == 3);
}

TEST_CASE("no batch at all") {
    CHECK(validate_batches({}, 1 << 20).error == errc::invalid_record);
}

TEST_CASE("a CRC mismatch in the second batch names it") {
    auto second = good(2);
    second[batch_format::header_size + 2] ^= std::byte{0x40};
    auto buf = concat({good(1), second});
    auto r = validate_batches(buf, 1 << 20);
    CHECK(r.error == errc::corrupt_message);
    CHECK(r.message.find("record batch 1 at byte") == 0);
}

TEST_CASE("a batch over the size limit is refused before its CRC is read") {
    auto b = good(1, 20);
    auto r = validate_batches(b, b.size() - 1);
    CHECK(r.error == errc::message_too_large);
    CHECK(validate_batches(b, b.size()).error == errc::none);
    // Even with a broken CRC, the size decides first.
    b.back() ^= std::byte{1};
    CHECK(validate_batches(b, 100).error == errc::message_too_large);
}

TEST_CASE("a truncated tail is corrupt") {
    auto whole = concat({good(1), good(2)});
    std::vector<std::byte> buf(whole.begin(), whole.end() - 5);
    CHECK(validate_batches(buf, 1 << 20).error == errc::corrupt_message);
    std::vector<std::byte> tiny(7);
    CHECK(validate_batches(tiny, 1 << 20).error == errc::corrupt_message);
}

TEST_CASE("a compressed batch is refused as unsupported") {
    auto b = good(1);
    // Attributes are under the CRC: set gzip, then fix the CRC so only the codec is wrong.
    uint16_t attrs = load_be<uint16_t>(b.data() + batch_format::attributes_pos);
    store_be<uint16_t>(b.data() + batch_format::attributes_pos, uint16_t(attrs | 1));
    store_be<uint32_t>(
        b.data() + batch_format::crc_pos,
        crc32c::value(std::span<const std::byte>(b).subspan(batch_format::crc_start)));
    CHECK(validate_batches(b, 1 << 20).error == errc::unsupported_compression_type);
}

TEST_CASE("depth crc checks each batch's header, size and CRC, not its records' framing") {
    auto b = good(1);
    // A record's length varint made wrong, under a recomputed CRC: only the framing is broken.
    b[batch_format::header_size] = std::byte{0x7f};
    store_be<uint32_t>(
        b.data() + batch_format::crc_pos,
        crc32c::value(std::span<const std::byte>(b).subspan(batch_format::crc_start)));
    CHECK(validate_batches(b, 1 << 20).error == errc::corrupt_message);
    auto replicated = validate_batches(b, 1 << 20, check_depth::crc);
    CHECK(replicated.error == errc::none);
    REQUIRE(replicated.headers.size() == 1);
    CHECK(replicated.headers[0].crc == load_be<uint32_t>(b.data() + batch_format::crc_pos));
    // A wrong CRC, a partial batch and an oversized one are refused at either depth.
    auto bad_crc = good(2);
    bad_crc.back() ^= std::byte{1};
    CHECK(validate_batches(bad_crc, 1 << 20, check_depth::crc).error == errc::corrupt_message);
    auto whole = concat({good(1), good(2)});
    std::vector<std::byte> cut(whole.begin(), whole.end() - 5);
    CHECK(validate_batches(cut, 1 << 20, check_depth::crc).error == errc::corrupt_message);
    CHECK(validate_batches(b, 100, check_depth::crc).error == errc::message_too_large);
}
