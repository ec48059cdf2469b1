// The clock seam: storage asks `clock` for wall time (segment age, retention) so tests can move
// time by hand.
#pragma once

#include <atomic>

#include "sluice/protocol/types.h"

namespace sluice::storage {

class clock {
  public:
    virtual ~clock() = default;
    virtual timestamp_ms_t now() const = 0;
};

// Wall-clock time (CLOCK_REALTIME, milliseconds since the Unix epoch).
clock& system_clock();

// A clock that moves only when told; safe to read from any thread.
class manual_clock final : public clock {
  public:
    explicit manual_clock(timestamp_ms_t start = timestamp_ms_t{1'700'000'000'000})
        : now_ms_(start.value()) {}
    timestamp_ms_t now() const override { return timestamp_ms_t{now_ms_.load()}; }
    void advance_ms(int64_t ms) { now_ms_ += ms; }
    void set(timestamp_ms_t t) { now_ms_ = t.value(); }

  private:
    std::atomic<int64_t> now_ms_;
};

}  // namespace sluice::storage
