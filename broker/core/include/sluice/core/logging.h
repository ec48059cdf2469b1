// The broker's log: one line per event on stderr,
//   2025-11-21T09:30:00.123Z INFO sluice-broker 0.1.0 started: node.id=0 ...
// (UTC timestamp with milliseconds, level, message). Each line goes out in one write(2), so lines
// from different threads never interleave. Thread-safe; the level is a relaxed atomic.
#pragma once

#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace sluice::broker {

enum class log_level { error, warn, info, debug };

std::string_view log_level_name(log_level l);

}  // namespace sluice::broker

namespace sluice::broker::logging {

void set_level(log_level l);
bool enabled(log_level l);

// Writes one line at `l`, whatever the configured level (the start and stop lines use this).
void write(log_level l, std::string_view message);

template <typename... Args>
void log(log_level l, fmt::format_string<Args...> f, Args&&... args) {
    if (enabled(l)) {
        write(l, fmt::format(f, std::forward<Args>(args)...));
    }
}

template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
    log(log_level::error, f, std::forward<Args>(args)...);
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
    log(log_level::warn, f, std::forward<Args>(args)...);
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
    log(log_level::info, f, std::forward<Args>(args)...);
}
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
    log(log_level::debug, f, std::forward<Args>(args)...);
}

}  // namespace sluice::broker::logging
