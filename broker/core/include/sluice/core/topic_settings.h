// What a partition needs to know of its topic's configuration. Where the values come from (broker
// defaults, topic overrides) is the broker's business (sluice/broker/topic_config.h).
#pragma once

#include <cstdint>

#include "sluice/storage/log_config.h"

namespace sluice::broker {

struct topic_settings {
    storage::log_config log;
    // The largest record batch accepted (max.message.bytes; broker default message.max.bytes).
    int32_t max_message_bytes = 1048588;
};

}  // namespace sluice::broker
