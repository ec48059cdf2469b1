#include "sluice/protocol/varint.h"

#include <bit>
#include <limits>
#include <utility>

namespace sluice::varint {
namespace {

// Decodes the unsigned (pre-zig-zag) value of at most `size_max` bytes. Rejects input that ends
// inside the varint, encodings longer than `size_max`, and a last byte whose bits would fall off
// the top of a 64-bit value. Non-minimal encodings (0x80 0x00 for 0) are accepted, as Kafka does.
inline std::optional<std::pair<uint64_t, size_t>> decode_unsigned(std::span<const std::byte> in,
                                                                  size_t size_max) noexcept {
    const size_t limit = in.size() < size_max ? in.size() : size_max;
    uint64_t v = 0;
    for (size_t i = 0; i < limit; ++i) {
        const auto b = static_cast<uint8_t>(in[i]);
        if (i == varlong_size_max - 1 && b > 1) {
            return std::nullopt;  // the 10th byte may only carry bit 63
        }
        v |= uint64_t{b & 0x7Fu} << (7 * i);
        if ((b & 0x80) == 0) {
            return std::pair{v, i + 1};
        }
    }
    return std::nullopt;  // truncated, or still continuing after size_max bytes
}

}  // namespace

size_t encoded_size(int64_t v) noexcept {
    const uint64_t u = zigzag_encode(v);
    const int bits = 64 - std::countl_zero(u | 1);
    return static_cast<size_t>((bits + 6) / 7);
}

size_t encode_long(int64_t v, std::byte* out) noexcept {
    uint64_t u = zigzag_encode(v);
    size_t n = 0;
    while (u >= 0x80) {
        out[n++] = static_cast<std::byte>((u & 0x7F) | 0x80);
        u >>= 7;
    }
    out[n++] = static_cast<std::byte>(u);
    return n;
}

std::optional<decoded> decode_long(std::span<const std::byte> in) noexcept {
    if (!in.empty() && (static_cast<uint8_t>(in[0]) & 0x80) == 0) {
        return decoded{zigzag_decode(static_cast<uint8_t>(in[0])), 1};  // the common 1-byte case
    }
    const auto u = decode_unsigned(in, varlong_size_max);
    if (!u) {
        return std::nullopt;
    }
    return decoded{zigzag_decode(u->first), u->second};
}

std::optional<decoded> decode_int(std::span<const std::byte> in) noexcept {
    if (!in.empty() && (static_cast<uint8_t>(in[0]) & 0x80) == 0) {
        return decoded{zigzag_decode(static_cast<uint8_t>(in[0])), 1};
    }
    const auto u = decode_unsigned(in, varint_size_max);
    // Zig-zag maps exactly the int32 range onto [0, 2^32).
    if (!u || u->first > std::numeric_limits<uint32_t>::max()) {
        return std::nullopt;
    }
    return decoded{zigzag_decode(u->first), u->second};
}

}  // namespace sluice::varint
