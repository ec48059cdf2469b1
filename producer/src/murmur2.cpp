// Kafka's default partitioner hash (org.apache.kafka.common.utils.Utils.murmur2): MurmurHash2,
// 32-bit, seed 0x9747b28c, little-endian 4-byte blocks. Keyed records must land on the partition
// a Java producer would pick, so this follows the Java code's arithmetic exactly: signed 32-bit
// overflow becomes unsigned wrap-around here, and `>>>` a logical shift of the unsigned value.
#include <cstdint>

#include "sluice/producer/producer.h"

namespace sluice {

int32_t murmur2(std::string_view data) noexcept {
    constexpr uint32_t seed = 0x9747b28c;
    constexpr uint32_t m = 0x5bd1e995;
    constexpr int r = 24;
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    const auto length = static_cast<uint32_t>(data.size());

    uint32_t h = seed ^ length;
    const uint32_t blocks = length / 4;
    for (uint32_t i = 0; i < blocks; ++i) {
        const unsigned char* b = p + 4 * i;
        uint32_t k =
            uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    const unsigned char* tail = p + (length & ~3u);
    switch (length % 4) {
        case 3:
            h ^= uint32_t(tail[2]) << 16;
            [[fallthrough]];
        case 2:
            h ^= uint32_t(tail[1]) << 8;
            [[fallthrough]];
        case 1:
            h ^= uint32_t(tail[0]);
            h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return static_cast<int32_t>(h);
}

int32_t murmur2_partition(std::string_view key, int32_t partitions) {
    // Utils.toPositive: clear the sign bit (not abs(), which would fold two hashes together).
    const int32_t positive = murmur2(key) & 0x7fffffff;
    return partitions > 0 ? positive % partitions : 0;
}

}  // namespace sluice
