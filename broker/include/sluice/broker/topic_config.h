// Topic-level settings: the broker's defaults overlaid with the configs a CreateTopics request
// gave, under Kafka's topic config names. Only the overrides are stored with the topic, so a topic
// without an override follows the broker's default after a restart with a new default (as Kafka).
// Pure.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/broker/config.h"
#include "sluice/core/topic_admin.h"
#include "sluice/core/topic_settings.h"

namespace sluice::broker {

// The settings of a topic with no overrides.
topic_settings default_topic_settings(const broker_config& c);

// A topic config key and what it means.
struct topic_key_info {
    std::string_view name;
    std::string_view broker_key;  // the broker key that gives its default
    std::string_view description;
};

std::span<const topic_key_info> topic_config_keys();

// Every topic config key with its value in `s`, sorted by key (DescribeConfigs).
std::vector<std::pair<std::string, std::string>> topic_config_values(const topic_settings& s);

// Applies `overrides` (key -> value) to `base`. The error names the key, the value and why
// (unknown key, bad value); the caller answers INVALID_CONFIG with it.
config_result<topic_settings> apply_topic_configs(
    topic_settings base, const std::map<std::string, std::string, std::less<>>& overrides);

}  // namespace sluice::broker
