// Parsing of single config values, shared by the broker keys (config.cpp) and the topic keys
// (topic_config.cpp). Each setter returns the reason a value is bad, in words, or nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::broker::values {

using reason = std::optional<std::string>;

std::string_view trim(std::string_view s);

// The parts of `s` between `sep`s, each trimmed (empty parts included).
std::vector<std::string_view> split(std::string_view s, char sep);

// `s` in lower case (ASCII).
std::string lower(std::string_view s);

// A decimal integer with an optional sign and nothing else.
std::optional<int64_t> parse_long(std::string_view s);

// Parses `text` into `out` if it is an integer in [min, max].
reason to_long(std::string_view text, int64_t min, int64_t max, int64_t& out);

template <typename Int>
reason to_int(std::string_view text, int64_t min, int64_t max, Int& out) {
    int64_t v = 0;
    if (auto r = to_long(text, min, max, v)) {
        return r;
    }
    out = static_cast<Int>(v);
    return std::nullopt;
}

// "true" or "false", any case (as Kafka).
reason to_bool(std::string_view text, bool& out);

// `text` in [min, max] times `unit`, where max * unit fits in an int64. -1 stays -1 if allowed.
reason to_scaled_ms(std::string_view text, int64_t min, int64_t max, int64_t unit, int64_t& out);

// A decimal number in [min, max] (min.cleanable.dirty.ratio, a byte rate).
reason to_double(std::string_view text, double min, double max, double& out);

// cleanup.policy / log.cleanup.policy: "delete", "compact", or both, comma-separated in any
// order (as Kafka's list).
reason to_cleanup_policy(std::string_view text, bool& compact, bool& del);

// log.flush.interval.messages / flush.messages: only 1 (fsync before acknowledging) and
// Long.MAX_VALUE (never force a flush) are supported. `fsync` is set accordingly.
reason to_flush_messages(std::string_view text, bool& fsync);

}  // namespace sluice::broker::values
