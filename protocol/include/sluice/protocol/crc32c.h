// CRC-32C (Castagnoli), the checksum of Kafka record batches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace sluice::crc32c {

// Extends `crc` (the value returned for the bytes before) over `data`. Start with 0.
// Uses the CPU's crc32 instruction (SSE4.2) where present, else the portable table version.
uint32_t extend(uint32_t crc, std::span<const std::byte> data) noexcept;

inline uint32_t value(std::span<const std::byte> data) noexcept {
    return extend(0, data);
}

// The two implementations, exposed so that tests check both against known vectors.
uint32_t extend_portable(uint32_t crc, std::span<const std::byte> data) noexcept;
// Only valid where hardware_available() is true.
uint32_t extend_hardware(uint32_t crc, std::span<const std::byte> data) noexcept;
bool hardware_available() noexcept;

}  // namespace sluice::crc32c
