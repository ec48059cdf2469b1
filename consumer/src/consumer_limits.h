// Bounds on consumer configs, and the check every consumer_config passes before use.
#pragma once

#include "sluice/consumer/consumer.h"

namespace sluice::detail {

// A fetch answer must fit one frame in memory; 1 GiB is far past any sane setting.
inline constexpr int fetch_max_bytes_max = 1 << 30;

result<void> validate(const consumer_config& c);

}  // namespace sluice::detail
