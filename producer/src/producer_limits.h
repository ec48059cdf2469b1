// Bounds on producer configs, and the check every producer_config passes before use.
#pragma once

#include "sluice/producer/producer.h"
#include "sluice/protocol/batch_format.h"

namespace sluice::detail {

// A batch never exceeds what the codec allows (batch_format::batch_size_max, 64 MiB).
inline constexpr int batch_size_max = static_cast<int>(batch_format::batch_size_max);
// A request carries at most one batch per partition; it must fit a frame the broker accepts.
inline constexpr int max_request_size_max = static_cast<int>(batch_format::batch_size_max);
inline constexpr int max_in_flight_max = 1000;
// A broker remembers a producer's last 5 batches per partition: more in flight could let a
// retry of an older one be written twice.
inline constexpr int idempotent_in_flight_max = 5;

result<void> validate(const producer_config& c);
// Whether batches carry a producer id, epoch and sequence (enable.idempotence, or its default).
bool idempotent(const producer_config& c);

}  // namespace sluice::detail
