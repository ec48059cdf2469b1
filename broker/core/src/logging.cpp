#include "sluice/core/logging.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <ctime>

#include <unistd.h>

namespace sluice::broker {

std::string_view log_level_name(log_level l) {
    switch (l) {
        case log_level::error:
            return "error";
        case log_level::warn:
            return "warn";
        case log_level::info:
            return "info";
        case log_level::debug:
            return "debug";
    }
    return "info";
}

}  // namespace sluice::broker

namespace sluice::broker::logging {
namespace {

std::atomic<int> current_level{int(log_level::info)};

std::string_view upper_name(log_level l) {
    switch (l) {
        case log_level::error:
            return "ERROR";
        case log_level::warn:
            return "WARN";
        case log_level::info:
            return "INFO";
        case log_level::debug:
            return "DEBUG";
    }
    return "INFO";
}

}  // namespace

void set_level(log_level l) {
    current_level.store(int(l), std::memory_order_relaxed);
}

bool enabled(log_level l) {
    return int(l) <= current_level.load(std::memory_order_relaxed);
}

void write(log_level l, std::string_view message) {
    using namespace std::chrono;
    auto now = system_clock::now();
    auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count();
    std::time_t secs = std::time_t(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    fmt::memory_buffer line;
    fmt::format_to(std::back_inserter(line), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {} {}\n",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   int(ms % 1000), upper_name(l), message);
    const char* p = line.data();
    size_t left = line.size();
    while (left > 0) {
        ssize_t n = ::write(STDERR_FILENO, p, left);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;  // nowhere left to report it
        }
        p += n;
        left -= size_t(n);
    }
}

}  // namespace sluice::broker::logging
