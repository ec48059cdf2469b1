// CRC-32C: a portable slicing-by-8 version and an SSE4.2 version chosen at run time.
//
// Both work on the raw register (no pre/post inversion); extend() adds the inversions so that the
// public value is the standard CRC-32C ("123456789" -> 0xE3069283).
#include "sluice/protocol/crc32c.h"

#include <array>
#include <bit>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace sluice::crc32c {
namespace {

constexpr uint32_t poly_reflected = 0x82F63B78;

using table_t = std::array<std::array<uint32_t, 256>, 8>;

// tables[0] is the classic byte-at-a-time table; tables[k][b] is the register after byte b is
// followed by k zero bytes, which lets the portable loop fold 8 bytes with 8 independent lookups.
constexpr table_t make_tables() {
    table_t t{};
    for (uint32_t b = 0; b < 256; ++b) {
        uint32_t r = b;
        for (int bit = 0; bit < 8; ++bit) {
            r = (r >> 1) ^ ((r & 1) ? poly_reflected : 0);
        }
        t[0][b] = r;
    }
    for (size_t k = 1; k < 8; ++k) {
        for (uint32_t b = 0; b < 256; ++b) {
            const uint32_t prev = t[k - 1][b];
            t[k][b] = (prev >> 8) ^ t[0][prev & 0xFF];
        }
    }
    return t;
}

constexpr table_t tables = make_tables();

static_assert(tables[0][1] == 0xF26B8303);  // spot check against the published table
static_assert(tables[0][255] == 0xAD7D5351);

constexpr uint32_t step_byte(uint32_t crc, uint8_t byte) {
    return (crc >> 8) ^ tables[0][(crc ^ byte) & 0xFF];
}

inline uint32_t load_le32(const std::byte* p) {
    uint32_t v;
    std::memcpy(&v, p, sizeof(v));
    if constexpr (std::endian::native == std::endian::big) {
        v = __builtin_bswap32(v);
    }
    return v;
}

uint32_t raw_portable(uint32_t crc, const std::byte* p, size_t n) {
    while (n >= 8) {
        const uint32_t lo = crc ^ load_le32(p);
        const uint32_t hi = load_le32(p + 4);
        crc = tables[7][lo & 0xFF] ^ tables[6][(lo >> 8) & 0xFF] ^ tables[5][(lo >> 16) & 0xFF] ^
              tables[4][lo >> 24] ^ tables[3][hi & 0xFF] ^ tables[2][(hi >> 8) & 0xFF] ^
              tables[1][(hi >> 16) & 0xFF] ^ tables[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n > 0) {
        crc = step_byte(crc, static_cast<uint8_t>(*p));
        ++p;
        --n;
    }
    return crc;
}

#if defined(__x86_64__)

// The hardware loop runs three independent streams over consecutive blocks of stripe_bytes each,
// because the crc32 instruction has a latency of three cycles but a throughput of one per cycle.
// The three results are joined with the linear "append stripe_bytes zero bytes" operator:
//   crc(A B C) = shift(shift(crc(A)) ^ crc0(B)) ^ crc0(C)
// where crc0 starts from a zero register. shift() is four table lookups.
constexpr size_t stripe_bytes = 512;

using shift_table_t = std::array<std::array<uint32_t, 256>, 4>;

constexpr uint32_t append_zeros(uint32_t crc, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        crc = step_byte(crc, 0);
    }
    return crc;
}

constexpr shift_table_t make_shift_tables() {
    // The operator is linear over GF(2): compute it on the 32 unit vectors, then tabulate it per
    // byte of the input register.
    std::array<uint32_t, 32> unit{};
    for (size_t bit = 0; bit < 32; ++bit) {
        unit[bit] = append_zeros(uint32_t{1} << bit, stripe_bytes);
    }
    shift_table_t t{};
    for (size_t k = 0; k < 4; ++k) {
        for (uint32_t b = 0; b < 256; ++b) {
            uint32_t r = 0;
            for (size_t bit = 0; bit < 8; ++bit) {
                if (b & (1u << bit)) {
                    r ^= unit[k * 8 + bit];
                }
            }
            t[k][b] = r;
        }
    }
    return t;
}

constexpr shift_table_t shift_tables = make_shift_tables();

inline uint32_t shift_stripe(uint32_t crc) {
    return shift_tables[0][crc & 0xFF] ^ shift_tables[1][(crc >> 8) & 0xFF] ^
           shift_tables[2][(crc >> 16) & 0xFF] ^ shift_tables[3][crc >> 24];
}

inline uint64_t load_u64(const std::byte* p) {
    uint64_t v;
    std::memcpy(&v, p, sizeof(v));
    return v;
}

__attribute__((target("sse4.2"))) uint32_t raw_hardware(uint32_t crc, const std::byte* p,
                                                        size_t n) {
    // Align so that the 8-byte loads in the main loop do not straddle cache lines.
    while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
        crc = _mm_crc32_u8(crc, static_cast<uint8_t>(*p));
        ++p;
        --n;
    }
    while (n >= 3 * stripe_bytes) {
        uint64_t c0 = crc;
        uint64_t c1 = 0;
        uint64_t c2 = 0;
        for (size_t i = 0; i < stripe_bytes; i += 8) {
            c0 = _mm_crc32_u64(c0, load_u64(p + i));
            c1 = _mm_crc32_u64(c1, load_u64(p + stripe_bytes + i));
            c2 = _mm_crc32_u64(c2, load_u64(p + 2 * stripe_bytes + i));
        }
        crc = shift_stripe(static_cast<uint32_t>(c0)) ^ static_cast<uint32_t>(c1);
        crc = shift_stripe(crc) ^ static_cast<uint32_t>(c2);
        p += 3 * stripe_bytes;
        n -= 3 * stripe_bytes;
    }
    uint64_t c = crc;
    while (n >= 8) {
        c = _mm_crc32_u64(c, load_u64(p));
        p += 8;
        n -= 8;
    }
    crc = static_cast<uint32_t>(c);
    while (n > 0) {
        crc = _mm_crc32_u8(crc, static_cast<uint8_t>(*p));
        ++p;
        --n;
    }
    return crc;
}

bool detect_hardware() {
    __builtin_cpu_init();  // required when called from a static initializer
    return __builtin_cpu_supports("sse4.2");
}

#else

bool detect_hardware() {
    return false;
}

#endif

// Decided once at start-up. If another translation unit's static initializer calls extend()
// before this one runs, it reads the zero-initialized `false` and takes the portable path, which
// gives the same answer.
const bool use_hardware = detect_hardware();

}  // namespace

uint32_t extend_portable(uint32_t crc, std::span<const std::byte> data) noexcept {
    return ~raw_portable(~crc, data.data(), data.size());
}

uint32_t extend_hardware(uint32_t crc, std::span<const std::byte> data) noexcept {
#if defined(__x86_64__)
    return ~raw_hardware(~crc, data.data(), data.size());
#else
    return extend_portable(crc, data);
#endif
}

bool hardware_available() noexcept {
    return use_hardware;
}

uint32_t extend(uint32_t crc, std::span<const std::byte> data) noexcept {
#if defined(__x86_64__)
    if (use_hardware) {
        return ~raw_hardware(~crc, data.data(), data.size());
    }
#endif
    return ~raw_portable(~crc, data.data(), data.size());
}

}  // namespace sluice::crc32c
