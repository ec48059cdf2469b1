#include "command.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "sluice/client/errc.h"
#include "sluice/protocol/errc.h"

namespace sluice::cli {
namespace {

std::string one_line(std::string_view s) {
    std::string out(s);
    std::replace(out.begin(), out.end(), '\n', ' ');
    std::replace(out.begin(), out.end(), '\r', ' ');
    return out;
}

std::string lowercase_first(std::string s) {
    if (!s.empty()) {
        s[0] = char(std::tolower(static_cast<unsigned char>(s[0])));
    }
    return s;
}

// Why a TCP connection to `server` ("host:port") fails, in a few words, or "" if it succeeds.
// Bounded by `timeout_ms` so an unanswered SYN does not hang the error path.
std::string probe(std::string_view server, int timeout_ms) {
    auto colon = server.rfind(':');
    if (colon == std::string_view::npos) {
        return "no port in address";
    }
    std::string host(server.substr(0, colon));
    std::string port(server.substr(colon + 1));
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
        return lowercase_first(::gai_strerror(rc));
    }
    std::string reason = "no address";
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
        int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                          ai->ai_protocol);
        if (fd < 0) {
            reason = lowercase_first(std::strerror(errno));
            continue;
        }
        int err = 0;
        if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            err = errno;
            if (err == EINPROGRESS) {
                pollfd p{fd, POLLOUT, 0};
                if (::poll(&p, 1, timeout_ms) == 1) {
                    socklen_t len = sizeof(err);
                    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
                } else {
                    err = ETIMEDOUT;
                }
            }
        }
        ::close(fd);
        if (err == 0) {
            reason.clear();
            break;
        }
        reason = lowercase_first(std::strerror(err));
    }
    ::freeaddrinfo(res);
    return reason;
}

// A -b given before the command; main() sets it before any command runs.
std::string& global_bootstrap() {
    static std::string servers;
    return servers;
}

}  // namespace

int fail(std::string_view line) {
    std::fprintf(stderr, "sluice: %s\n", one_line(line).c_str());
    return exit_failure;
}

int usage_error(std::string_view command, std::string_view problem) {
    std::fprintf(stderr, "sluice: %s: %s (see 'sluice %s --help')\n", std::string(command).c_str(),
                 one_line(problem).c_str(), std::string(command).c_str());
    return exit_usage;
}

int print_help(std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return exit_ok;
}

std::optional<parsed_args> parse_command(std::string_view command,
                                         std::span<const std::string> words,
                                         std::span<const option> options, std::string_view synopsis,
                                         std::string_view description, size_t positional,
                                         int& exit_code) {
    auto parsed = parse_args(words, options);
    if (!parsed) {
        exit_code = usage_error(command, parsed.error());
        return std::nullopt;
    }
    if (parsed.value().help) {
        exit_code = print_help(usage_text(synopsis, description, options));
        return std::nullopt;
    }
    const size_t got = parsed.value().positional.size();
    if (positional == one_or_more ? got == 0 : got != positional) {
        exit_code = usage_error(
            command, got > positional ? fmt::format("unexpected argument '{}'",
                                                    parsed.value().positional[positional])
                                      : fmt::format("missing argument: usage: {}", synopsis));
        return std::nullopt;
    }
    return std::move(parsed).value();
}

void set_global_bootstrap(std::string servers) {
    global_bootstrap() = std::move(servers);
}

std::string bootstrap_servers(const parsed_args& args) {
    if (auto b = args.get(bootstrap_option.long_name)) {
        return *b;
    }
    if (!global_bootstrap().empty()) {
        return global_bootstrap();
    }
    if (const char* env = std::getenv(bootstrap_env); env != nullptr && *env != '\0') {
        return env;
    }
    return std::string(default_bootstrap);
}

result<admin_session> connect(const parsed_args& args) {
    admin_session s{bootstrap_servers(args), nullptr};
    SLUICE_TRY(s.client, admin::create(make_client_config(s.servers)));
    return s;
}

client_config make_client_config(const std::string& servers) {
    client_config c;
    c.bootstrap_servers = split_servers(servers);
    c.client_id = "sluice-cli";
    return c;
}

std::string error_line(std::string_view command, std::error_code ec, std::string_view detail,
                       std::string_view servers) {
    if (ec == client_errc::broker_unreachable) {
        // Prefer the library's own words when they already name the address and the reason.
        std::string msg = one_line(ec.message());
        if (msg.find(':') != std::string::npos) {
            return msg;
        }
        std::string first(servers.substr(0, servers.find(',')));
        std::string reason = probe(first, 2000);
        return reason.empty() ? fmt::format("broker unreachable: {}", servers)
                              : fmt::format("broker unreachable: {}: {}", servers, reason);
    }
    std::string what = ec.category() == sluice_category()
                           ? std::string(errc_name(static_cast<errc>(ec.value())))
                           : one_line(ec.message());
    if (detail.empty()) {
        return fmt::format("{}: {}", command, what);
    }
    return fmt::format("{}: {}: {}", command, what, detail);
}

bool is_unknown_topic(std::error_code ec) {
    return ec == errc::unknown_topic_or_partition || ec == client_errc::unknown_topic;
}

std::string topic_detail(const std::string& topic, std::string_view broker_message) {
    if (broker_message.empty()) {
        return fmt::format("topic '{}'", topic);
    }
    return fmt::format("topic '{}': {}", topic, one_line(broker_message));
}

std::string topic_error_line(std::string_view command, std::error_code ec, const std::string& topic,
                             std::string_view servers, std::string_view broker_message) {
    if (is_unknown_topic(ec)) {
        return fmt::format("{}: {}: no topic '{}'", command,
                           errc_name(errc::unknown_topic_or_partition), topic);
    }
    return error_line(command, ec, topic_detail(topic, broker_message), servers);
}

}  // namespace sluice::cli
