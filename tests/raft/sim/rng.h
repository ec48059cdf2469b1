// The simulation's only source of randomness: splitmix64 with our own range functions, so that a
// seed replays byte for byte on any platform and standard library.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::raft::sim {

class rng {
  public:
    explicit rng(uint64_t seed) : state_(seed) {}

    uint64_t next() {
        uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    // Uniform in [0, n); 0 when n == 0. The modulo bias is far below what a test can notice.
    uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
    // Uniform in [lo, hi].
    int64_t between(int64_t lo, int64_t hi) {
        return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo) + 1));
    }
    // True with probability ppm / 1,000,000.
    bool chance_ppm(uint32_t ppm) { return below(1'000'000) < ppm; }

  private:
    uint64_t state_;
};

// Mixes values into a 64-bit fingerprint (FNV-1a style, with a final avalanche per value).
class hasher {
  public:
    void add(uint64_t v) {
        h_ = (h_ ^ v) * 0x100000001b3ull;
        h_ ^= h_ >> 29;
    }
    void add_bytes(const void* p, size_t n) {
        const auto* b = static_cast<const unsigned char*>(p);
        for (size_t i = 0; i < n; ++i) {
            h_ = (h_ ^ b[i]) * 0x100000001b3ull;
        }
        add(n);
    }
    uint64_t value() const { return h_; }

  private:
    uint64_t h_ = 0xcbf29ce484222325ull;
};

}  // namespace sluice::raft::sim
