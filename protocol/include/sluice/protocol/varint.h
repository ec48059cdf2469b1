// Zig-zag varints as Kafka's record format uses them (protobuf's sint32/sint64 coding):
// zig-zag maps signed to unsigned (0,-1,1,-2 -> 0,1,2,3), then 7 bits a byte, low bits first,
// high bit set on every byte but the last.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace sluice::varint {

inline constexpr size_t varint_size_max = 5;    // int32
inline constexpr size_t varlong_size_max = 10;  // int64

constexpr uint64_t zigzag_encode(int64_t v) {
    return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
constexpr int64_t zigzag_decode(uint64_t v) {
    return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

// Bytes that encode_long(v) writes.
size_t encoded_size(int64_t v) noexcept;

// Writes v at out (which must have room for encoded_size(v) bytes); returns bytes written.
size_t encode_long(int64_t v, std::byte* out) noexcept;

struct decoded {
    int64_t value;
    size_t size;  // bytes consumed
};

// Decodes a zig-zag varlong (at most 10 bytes) from the front of `in`. nullopt when `in` ends
// before the last byte or the encoding is longer than 10 bytes.
std::optional<decoded> decode_long(std::span<const std::byte> in) noexcept;

// As decode_long, but the value must fit in an int32 and the encoding in 5 bytes.
std::optional<decoded> decode_int(std::span<const std::byte> in) noexcept;

}  // namespace sluice::varint
