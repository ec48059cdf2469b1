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
    // The smallest ISR that an acks=all produce accepts (min.insync.replicas).
    int32_t min_insync_replicas = 1;
    // Whether a replica outside the ISR may be elected when no ISR member is left, losing what
    // only the ISR held (unclean.leader.election.enable).
    bool unclean_leader_election = false;
};

}  // namespace sluice::broker
