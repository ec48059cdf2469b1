// Building record batches for tests: deterministic contents derived from a seed, so a test can
// rebuild the batch it expects at any offset.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "sluice/protocol/record_batch.h"

namespace sluice::testing {

// A batch of `records` records whose values are `value_bytes` long and derived from `seed`;
// record i has timestamp `timestamp + i`.
inline std::vector<std::byte> make_batch(uint64_t seed, int records, size_t value_bytes,
                                         timestamp_ms_t timestamp) {
    std::mt19937_64 rng(seed);
    batch_builder b;
    std::string key, value(value_bytes, '\0');
    for (int i = 0; i < records; ++i) {
        key = "k" + std::to_string(seed) + "-" + std::to_string(i);
        for (auto& c : value) {
            c = char('a' + rng() % 26);
        }
        b.add({.key = as_bytes(key), .value = as_bytes(value), .timestamp = timestamp + i});
    }
    return b.finish();
}

// The batches in a read result, each as its header and bytes.
inline std::vector<batch_view> split_batches(const std::vector<std::byte>& buf) {
    std::vector<batch_view> out;
    batch_reader r(buf);
    for (;;) {
        auto next = r.next();
        if (!next || !next.value()) {
            break;
        }
        out.push_back(*next.value());
    }
    return out;
}

// Bytes of `batch` with the base offset the log gave it, for comparing against what a read
// returns.
inline std::vector<std::byte> with_base_offset(std::vector<std::byte> batch, offset_t base) {
    set_base_offset(batch, base);
    return batch;
}

}  // namespace sluice::testing
