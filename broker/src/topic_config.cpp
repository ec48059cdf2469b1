#include "sluice/broker/topic_config.h"

#include <algorithm>

#include <fmt/format.h>

#include "config_values.h"
#include "sluice/protocol/batch_format.h"

namespace sluice::broker {
namespace {

using values::reason;

std::string cleanup_policy_text(const topic_settings& s) {
    if (s.cleanup_compact && s.cleanup_delete) {
        return "compact,delete";
    }
    return s.cleanup_compact ? "compact" : "delete";
}

struct topic_key_spec {
    topic_key_info info;
    reason (*apply)(topic_settings&, std::string_view);
    std::string (*show)(const topic_settings&);
};

const topic_key_spec topic_specs[] = {
    {{"segment.bytes", "log.segment.bytes", "roll to a new segment before one passes this size"},
     [](topic_settings& s, std::string_view v) -> reason {
         int64_t b = 0;
         auto r = values::to_long(v, int64_t(storage::segment_bytes_min),
                                  int64_t(storage::segment_bytes_max), b);
         s.log.segment_bytes = uint64_t(b);
         return r;
     },
     [](const topic_settings& s) { return std::to_string(s.log.segment_bytes); }},
    {{"segment.ms", "log.roll.ms", "roll a segment this many milliseconds old"},
     [](topic_settings& s, std::string_view v) {
         return values::to_long(v, 1, long_max, s.log.segment_ms);
     },
     [](const topic_settings& s) { return std::to_string(s.log.segment_ms); }},
    {{"retention.ms", "log.retention.ms", "delete segments older than this; -1: keep forever"},
     [](topic_settings& s, std::string_view v) {
         return values::to_long(v, -1, long_max, s.log.retention_ms);
     },
     [](const topic_settings& s) { return std::to_string(s.log.retention_ms); }},
    {{"retention.bytes", "log.retention.bytes",
      "delete the oldest segments while larger than this; -1: no limit"},
     [](topic_settings& s, std::string_view v) {
         return values::to_long(v, -1, long_max, s.log.retention_bytes);
     },
     [](const topic_settings& s) { return std::to_string(s.log.retention_bytes); }},
    {{"index.interval.bytes", "log.index.interval.bytes", "bytes between index entries"},
     [](topic_settings& s, std::string_view v) {
         return values::to_int(v, 0, INT32_MAX, s.log.index_interval_bytes);
     },
     [](const topic_settings& s) { return std::to_string(s.log.index_interval_bytes); }},
    {{"preallocate", "log.preallocate", "reserve the active segment's blocks ahead of writes"},
     [](topic_settings& s, std::string_view v) { return values::to_bool(v, s.log.preallocate); },
     [](const topic_settings& s) { return std::string(s.log.preallocate ? "true" : "false"); }},
    {{"flush.messages", "log.flush.interval.messages",
      "1: fsync before acknowledging; 9223372036854775807: page cache"},
     [](topic_settings& s, std::string_view v) {
         bool fsync = false;
         auto r = values::to_flush_messages(v, fsync);
         s.log.flush = fsync ? storage::flush_mode::fsync : storage::flush_mode::page_cache;
         return r;
     },
     [](const topic_settings& s) {
         return std::string(s.log.flush == storage::flush_mode::fsync ? "1"
                                                                      : "9223372036854775807");
     }},
    {{"max.message.bytes", "message.max.bytes", "largest record batch accepted"},
     [](topic_settings& s, std::string_view v) {
         return values::to_int(v, 0, int64_t(batch_format::batch_size_max), s.max_message_bytes);
     },
     [](const topic_settings& s) { return std::to_string(s.max_message_bytes); }},
    {{"min.insync.replicas", "min.insync.replicas",
      "the smallest ISR an acks=all produce accepts (NOT_ENOUGH_REPLICAS otherwise)"},
     [](topic_settings& s, std::string_view v) {
         return values::to_int(v, 1, INT16_MAX, s.min_insync_replicas);
     },
     [](const topic_settings& s) { return std::to_string(s.min_insync_replicas); }},
    {{"cleanup.policy", "log.cleanup.policy",
      "delete (retention), compact (keep the latest record of each key), or compact,delete"},
     [](topic_settings& s, std::string_view v) {
         return values::to_cleanup_policy(v, s.cleanup_compact, s.cleanup_delete);
     },
     [](const topic_settings& s) { return cleanup_policy_text(s); }},
    {{"delete.retention.ms", "log.cleaner.delete.retention.ms",
      "how long compaction keeps a tombstone after it was written"},
     [](topic_settings& s, std::string_view v) {
         return values::to_long(v, 0, long_max, s.delete_retention_ms);
     },
     [](const topic_settings& s) { return std::to_string(s.delete_retention_ms); }},
    {{"min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio",
      "the share of a compacted log's sealed bytes not yet cleaned that starts a cleaning pass"},
     [](topic_settings& s, std::string_view v) {
         return values::to_double(v, 0, 1, s.min_cleanable_dirty_ratio);
     },
     [](const topic_settings& s) { return fmt::format("{}", s.min_cleanable_dirty_ratio); }},
    {{"unclean.leader.election.enable", "unclean.leader.election.enable",
      "elect a replica outside the ISR when none is left: availability over acknowledged data"},
     [](topic_settings& s, std::string_view v) {
         return values::to_bool(v, s.unclean_leader_election);
     },
     [](const topic_settings& s) {
         return std::string(s.unclean_leader_election ? "true" : "false");
     }},
};

const std::vector<topic_key_info>& topic_infos() {
    static const std::vector<topic_key_info> infos = [] {
        std::vector<topic_key_info> out;
        for (const auto& s : topic_specs) {
            out.push_back(s.info);
        }
        return out;
    }();
    return infos;
}

}  // namespace

topic_settings default_topic_settings(const broker_config& c) {
    topic_settings s;
    s.log = c.log;
    s.max_message_bytes = c.message_max_bytes;
    s.min_insync_replicas = c.min_insync_replicas;
    s.unclean_leader_election = c.unclean_leader_election_enable;
    s.cleanup_compact = c.log_cleanup_compact;
    s.cleanup_delete = c.log_cleanup_delete;
    s.delete_retention_ms = c.log_cleaner_delete_retention_ms;
    s.min_cleanable_dirty_ratio = c.log_cleaner_min_cleanable_ratio;
    return s;
}

std::span<const topic_key_info> topic_config_keys() {
    return topic_infos();
}

std::vector<std::pair<std::string, std::string>> topic_config_values(const topic_settings& s) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& spec : topic_specs) {
        out.emplace_back(std::string(spec.info.name), spec.show(s));
    }
    std::sort(out.begin(), out.end());
    return out;
}

config_result<topic_settings> apply_topic_configs(
    topic_settings base, const std::map<std::string, std::string, std::less<>>& overrides) {
    for (const auto& [key, value] : overrides) {
        auto spec = std::find_if(std::begin(topic_specs), std::end(topic_specs),
                                 [&](const topic_key_spec& s) { return s.info.name == key; });
        if (spec == std::end(topic_specs)) {
            std::string known;
            for (const auto& s : topic_specs) {
                known += known.empty() ? "" : ", ";
                known += s.info.name;
            }
            return config_error{key, value,
                                fmt::format("unknown topic config (supported: {})", known)};
        }
        if (auto why = spec->apply(base, values::trim(value))) {
            return config_error{key, value, *why};
        }
    }
    return base;
}

}  // namespace sluice::broker
