#include <charconv>
#include <climits>

#include <fmt/format.h>

#include "sluice/client/config.h"
#include "sluice/client/errc.h"
#include "sluice/client/internal/config_parse.h"

namespace sluice {

std::vector<std::string> split_servers(std::string_view list) {
    std::vector<std::string> out;
    while (!list.empty()) {
        const size_t comma = list.find(',');
        std::string_view item = list.substr(0, comma);
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) {
            item.remove_prefix(1);
        }
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) {
            item.remove_suffix(1);
        }
        if (!item.empty()) {
            out.emplace_back(item);
        }
    }
    return out;
}

namespace client {

std::string endpoint::text() const {
    if (host.find(':') != std::string::npos) {
        return fmt::format("[{}]:{}", host, port);
    }
    return fmt::format("{}:{}", host, port);
}

result<endpoint> parse_endpoint(std::string_view text) {
    auto bad = [&](std::string_view why) {
        return make_client_error(client_errc::invalid_config,
                                 fmt::format("bootstrap server '{}': {}", text, why));
    };
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        return bad("expected host:port");
    }
    std::string_view host = text.substr(0, colon);
    const std::string_view port = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    if (host.empty()) {
        return bad("empty host");
    }
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
        return bad("port must be 1-65535");
    }
    return endpoint{std::string(host), static_cast<uint16_t>(value)};
}

std::error_code config_error(std::string_view key, std::string_view value, std::string_view why) {
    return make_client_error(client_errc::invalid_config,
                             fmt::format("{}={}: {}", key, value, why));
}

result<void> validate(const client_config& c) {
    if (c.bootstrap_servers.empty()) {
        return config_error("bootstrap.servers", "", "no servers given");
    }
    for (const std::string& s : c.bootstrap_servers) {
        SLUICE_TRY(parse_endpoint(s));
    }
    auto positive = [](std::string_view key, int v) -> result<void> {
        if (v <= 0) {
            return config_error(key, std::to_string(v), "must be > 0");
        }
        return success();
    };
    SLUICE_TRY(positive("request.timeout.ms", c.request_timeout_ms));
    SLUICE_TRY(
        positive("socket.connection.setup.timeout.ms", c.socket_connection_setup_timeout_ms));
    if (c.retry_backoff_ms < 0) {
        return config_error("retry.backoff.ms", std::to_string(c.retry_backoff_ms), "must be >= 0");
    }
    if (c.metadata_max_age_ms < 0) {
        return config_error("metadata.max.age.ms", std::to_string(c.metadata_max_age_ms),
                            "must be >= 0");
    }
    return success();
}

const std::string* properties::find(std::string_view key) {
    auto it = props_.find(std::string(key));
    if (it == props_.end()) {
        return nullptr;
    }
    used_.insert(it->first);
    return &it->second;
}

result<int64_t> properties::get_integer(std::string_view key, const std::string& value, int64_t min,
                                        int64_t max) const {
    int64_t v = 0;
    const char* first = value.data();
    const char* last = value.data() + value.size();
    const auto [end, ec] = std::from_chars(first, last, v);
    if (ec != std::errc{} || end != last || value.empty()) {
        return config_error(key, value, "not an integer");
    }
    if (v < min || v > max) {
        return config_error(key, value, fmt::format("must be in [{}, {}]", min, max));
    }
    return v;
}

result<void> properties::get(std::string_view key, int& out, int64_t min, int64_t max) {
    if (const std::string* v = find(key)) {
        SLUICE_TRY(int64_t n, get_integer(key, *v, std::max<int64_t>(min, INT_MIN),
                                          std::min<int64_t>(max, INT_MAX)));
        out = static_cast<int>(n);
    }
    return success();
}

result<void> properties::get(std::string_view key, int16_t& out, int64_t min, int64_t max) {
    if (const std::string* v = find(key)) {
        SLUICE_TRY(int64_t n, get_integer(key, *v, std::max<int64_t>(min, INT16_MIN),
                                          std::min<int64_t>(max, INT16_MAX)));
        out = static_cast<int16_t>(n);
    }
    return success();
}

result<void> properties::get(std::string_view key, int64_t& out, int64_t min, int64_t max) {
    if (const std::string* v = find(key)) {
        SLUICE_TRY(out, get_integer(key, *v, min, max));
    }
    return success();
}

result<void> properties::get(std::string_view key, std::string& out) {
    if (const std::string* v = find(key)) {
        out = *v;
    }
    return success();
}

result<void> properties::get_acks(std::string_view key, int16_t& out) {
    if (const std::string* v = find(key)) {
        if (*v == "all" || *v == "-1") {
            out = -1;
        } else if (*v == "0") {
            out = 0;
        } else if (*v == "1") {
            out = 1;
        } else {
            return config_error(key, *v, "must be 0, 1, all or -1");
        }
    }
    return success();
}

result<void> properties::get_choice(std::string_view key, std::string& out,
                                    std::initializer_list<std::string_view> allowed) {
    if (const std::string* v = find(key)) {
        for (std::string_view a : allowed) {
            if (*v == a) {
                out = *v;
                return success();
            }
        }
        return config_error(key, *v, fmt::format("must be one of {}", fmt::join(allowed, ", ")));
    }
    return success();
}

result<void> properties::get_common(client_config& c) {
    if (const std::string* v = find("bootstrap.servers")) {
        std::vector<std::string> servers = split_servers(*v);
        if (servers.empty()) {
            return config_error("bootstrap.servers", *v, "no servers given");
        }
        for (const std::string& s : servers) {
            if (!parse_endpoint(s)) {
                return config_error("bootstrap.servers", *v, "expected host:port[,host:port...]");
            }
        }
        c.bootstrap_servers = std::move(servers);
    }
    SLUICE_TRY(get("client.id", c.client_id));
    SLUICE_TRY(get("request.timeout.ms", c.request_timeout_ms, 1, INT_MAX));
    SLUICE_TRY(get("retry.backoff.ms", c.retry_backoff_ms, 0, INT_MAX));
    SLUICE_TRY(get("metadata.max.age.ms", c.metadata_max_age_ms, 0, INT_MAX));
    SLUICE_TRY(get("socket.connection.setup.timeout.ms", c.socket_connection_setup_timeout_ms, 1,
                   INT_MAX));
    return success();
}

result<void> properties::finish() const {
    for (const auto& [key, value] : props_) {
        if (!used_.contains(key)) {
            return config_error(key, value, "unknown config key");
        }
    }
    return success();
}

}  // namespace client
}  // namespace sluice
