// Parsing and checking of client configs: "host:port" endpoints, Kafka-named properties, and the
// bounds every client_config must respect. Shared by the admin, producer and consumer; not
// installed.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <system_error>

#include "sluice/client/config.h"
#include "sluice/protocol/result.h"

namespace sluice::client {

struct endpoint {
    std::string host;
    uint16_t port = 0;
    std::string text() const;  // "host:port" ("[v6]:port" for an IPv6 address)
};

// Parses "host:port" or "[ipv6]:port". Errors: client_errc::invalid_config naming the text.
result<endpoint> parse_endpoint(std::string_view text);

// client_errc::invalid_config with "<key>=<value>: <why>" as detail.
std::error_code config_error(std::string_view key, std::string_view value, std::string_view why);

// Checks the fields of client_config (bootstrap list parses and is non-empty, timeouts in range).
result<void> validate(const client_config& c);

// Reads Kafka-named properties into typed fields. Every getter leaves its target alone when the
// key is absent and fails, naming key and value, when the value does not parse or is out of
// range. finish() fails on the first key no getter asked for.
class properties {
  public:
    explicit properties(const std::map<std::string, std::string>& props) : props_(props) {}

    result<void> get(std::string_view key, int& out, int64_t min, int64_t max);
    result<void> get(std::string_view key, int16_t& out, int64_t min, int64_t max);
    result<void> get(std::string_view key, int64_t& out, int64_t min, int64_t max);
    result<void> get(std::string_view key, std::string& out);
    // acks: "0", "1", "all" or "-1".
    result<void> get_acks(std::string_view key, int16_t& out);
    // One of `allowed`.
    result<void> get_choice(std::string_view key, std::string& out,
                            std::initializer_list<std::string_view> allowed);
    // The keys of client_config: bootstrap.servers client.id request.timeout.ms retry.backoff.ms
    // metadata.max.age.ms socket.connection.setup.timeout.ms.
    result<void> get_common(client_config& c);

    result<void> finish() const;

  private:
    const std::string* find(std::string_view key);
    result<int64_t> get_integer(std::string_view key, const std::string& value, int64_t min,
                                int64_t max) const;

    const std::map<std::string, std::string>& props_;
    std::set<std::string, std::less<>> used_;
};

}  // namespace sluice::client
