#include "sluice/protocol/crc32c.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string_view>
#include <vector>

namespace {

using namespace sluice;

using crc_fn = uint32_t (*)(uint32_t, std::span<const std::byte>) noexcept;

struct impl {
    const char* name;
    crc_fn fn;
};

// The implementations this machine can run: the portable one always, the hardware one if the CPU
// has it, and the dispatching entry point.
std::vector<impl> implementations() {
    std::vector<impl> v{{"portable", &crc32c::extend_portable}, {"dispatch", &crc32c::extend}};
    if (crc32c::hardware_available()) {
        v.push_back({"hardware", &crc32c::extend_hardware});
    }
    return v;
}

std::span<const std::byte> bytes(std::string_view s) {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

std::vector<std::byte> filled(size_t n, uint8_t b) {
    return std::vector<std::byte>(n, std::byte{b});
}

TEST_CASE("crc32c: known vectors") {
    std::vector<std::byte> ascending(32);
    std::vector<std::byte> descending(32);
    for (size_t i = 0; i < 32; ++i) {
        ascending[i] = std::byte(i);
        descending[i] = std::byte(31 - i);
    }
    for (const impl& im : implementations()) {
        CAPTURE(im.name);
        CHECK(im.fn(0, {}) == 0);
        CHECK(im.fn(0, bytes("123456789")) == 0xE3069283);
        // RFC 3720 appendix B.4.
        CHECK(im.fn(0, filled(32, 0x00)) == 0x8A9136AA);
        CHECK(im.fn(0, filled(32, 0xFF)) == 0x62A8AB43);
        CHECK(im.fn(0, ascending) == 0x46DD794E);
        CHECK(im.fn(0, descending) == 0x113FDB5C);
    }
    CHECK(crc32c::value(bytes("123456789")) == 0xE3069283);
}

TEST_CASE("crc32c: implementations agree on random buffers, lengths and alignments") {
    std::mt19937_64 rng(20240611);
    std::vector<std::byte> pool(300 * 1024);
    for (auto& b : pool) {
        b = std::byte(rng());
    }
    const auto impls = implementations();
    // Lengths around the hardware loop's 3 x 512-byte stripes, then random ones.
    std::vector<size_t> lengths;
    for (size_t base : {0, 8, 512, 1536, 3072, 4608, 65536}) {
        for (size_t d = 0; d < 10; ++d) {
            lengths.push_back(base + d);
            if (base >= d) {
                lengths.push_back(base - d);
            }
        }
    }
    for (int i = 0; i < 2000; ++i) {
        const size_t max_len = i % 10 == 0 ? 256 * 1024 : 5000;
        lengths.push_back(std::uniform_int_distribution<size_t>(0, max_len)(rng));
    }
    for (size_t len : lengths) {
        const size_t align = rng() % 16;
        const std::span<const std::byte> data(pool.data() + align, len);
        const uint32_t seed = static_cast<uint32_t>(rng());
        const uint32_t expected = crc32c::extend_portable(seed, data);
        for (const impl& im : impls) {
            CAPTURE(im.name);
            CAPTURE(len);
            CAPTURE(align);
            REQUIRE(im.fn(seed, data) == expected);
        }
        // Split into up to four pieces: extending piece by piece equals one pass.
        size_t cuts[3];
        for (auto& c : cuts) {
            c = len == 0 ? 0 : rng() % (len + 1);
        }
        std::sort(std::begin(cuts), std::end(cuts));
        for (const impl& im : impls) {
            uint32_t c = seed;
            size_t from = 0;
            for (size_t cut : cuts) {
                c = im.fn(c, data.subspan(from, cut - from));
                from = cut;
            }
            c = im.fn(c, data.subspan(from));
            CAPTURE(im.name);
            REQUIRE(c == expected);
        }
    }
}

// A quick throughput figure; run with --no-skip.
TEST_CASE("crc32c: throughput on a 64 KiB buffer" * doctest::skip()) {
    std::vector<std::byte> buf(64 * 1024);
    std::mt19937_64 rng(1);
    for (auto& b : buf) {
        b = std::byte(rng());
    }
    for (const impl& im : implementations()) {
        const int rounds = 20000;
        uint32_t sink = 0;
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < rounds; ++i) {
            sink ^= im.fn(sink, buf);
        }
        const std::chrono::duration<double> secs = std::chrono::steady_clock::now() - start;
        const double mb_s = double(buf.size()) * rounds / secs.count() / 1e6;
        std::printf("crc32c %-9s %10.0f MB/s (sink %08x)\n", im.name, mb_s, sink);
    }
}

}  // namespace
