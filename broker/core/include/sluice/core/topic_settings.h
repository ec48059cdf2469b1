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
    // cleanup.policy: delete (retention drops old segments), compact (a cleaning pass keeps the
    // latest record of each key; records need a key), or both.
    bool cleanup_delete = true;
    bool cleanup_compact = false;
    // How long a tombstone stays after it is written, so that a reader from the start sees the
    // delete (delete.retention.ms; broker default log.cleaner.delete.retention.ms).
    int64_t delete_retention_ms = 86400000;
    // A compacted log is cleaned once this share of its sealed bytes is dirty
    // (min.cleanable.dirty.ratio; broker default log.cleaner.min.cleanable.ratio).
    double min_cleanable_dirty_ratio = 0.5;
};

}  // namespace sluice::broker
