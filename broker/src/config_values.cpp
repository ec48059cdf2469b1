#include "config_values.h"

#include <cerrno>
#include <charconv>
#include <cstdlib>

#include <fmt/format.h>

namespace sluice::broker::values {

std::string_view trim(std::string_view s) {
    const char* ws = " \t\r\n\f\v";
    size_t b = s.find_first_not_of(ws);
    if (b == std::string_view::npos) {
        return {};
    }
    size_t e = s.find_last_not_of(ws);
    return s.substr(b, e - b + 1);
}

std::optional<int64_t> parse_long(std::string_view s) {
    if (!s.empty() && s.front() == '+') {
        s.remove_prefix(1);
    }
    if (s.empty()) {
        return std::nullopt;
    }
    int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) {
        return std::nullopt;
    }
    return v;
}

reason to_long(std::string_view text, int64_t min, int64_t max, int64_t& out) {
    auto v = parse_long(text);
    if (!v) {
        return std::string("not an integer");
    }
    if (*v < min) {
        return fmt::format("must be at least {}", min);
    }
    if (*v > max) {
        return fmt::format("must be at most {}", max);
    }
    out = *v;
    return std::nullopt;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    for (;;) {
        const size_t at = s.find(sep);
        out.push_back(trim(s.substr(0, at)));
        if (at == std::string_view::npos) {
            return out;
        }
        s = s.substr(at + 1);
    }
}

std::string lower(std::string_view s) {
    std::string out;
    for (char c : s) {
        out.push_back(char(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
    }
    return out;
}

reason to_bool(std::string_view text, bool& out) {
    const std::string word = lower(text);
    if (word == "true") {
        out = true;
    } else if (word == "false") {
        out = false;
    } else {
        return std::string("must be true or false");
    }
    return std::nullopt;
}

reason to_double(std::string_view text, double min, double max, double& out) {
    const std::string s(trim(text));
    char* end = nullptr;
    errno = 0;
    const double v = s.empty() ? 0.0 : std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || errno != 0 || !(v >= min && v <= max)) {
        return fmt::format("must be a number from {} to {}", min, max);
    }
    out = v;
    return std::nullopt;
}

reason to_cleanup_policy(std::string_view text, bool& compact, bool& del) {
    bool c = false;
    bool d = false;
    for (std::string_view part : split(text, ',')) {
        const std::string word = lower(part);
        if (word == "compact") {
            c = true;
        } else if (word == "delete") {
            d = true;
        } else {
            return std::string("must be delete, compact, or compact,delete");
        }
    }
    compact = c;
    del = d;
    return std::nullopt;
}

reason to_scaled_ms(std::string_view text, int64_t min, int64_t max, int64_t unit, int64_t& out) {
    int64_t v = 0;
    if (auto r = to_long(text, min, max, v)) {
        return r;
    }
    out = v < 0 ? v : v * unit;
    return std::nullopt;
}

reason to_flush_messages(std::string_view text, bool& fsync) {
    auto v = parse_long(text);
    if (v == 1) {
        fsync = true;
    } else if (v == INT64_MAX) {
        fsync = false;
    } else {
        return std::string(
            "only two settings are supported: 1 (fsync before acknowledging, with group commit) "
            "or 9223372036854775807 (never force a flush; acknowledge from the page cache)");
    }
    return std::nullopt;
}

}  // namespace sluice::broker::values
