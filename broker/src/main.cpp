// sluice-broker [--config FILE] [--override key=value ...] [--help] [--version]
//
// Exit codes: 0 after --help, --version or a clean stop (SIGTERM/SIGINT); 1 for a configuration
// error (one line on stderr naming the key, the value and why); 2 when the broker cannot start.
#include <csignal>
#include <cstdio>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "sluice/broker/command_line.h"
#include "sluice/broker/server.h"

int main(int argc, char** argv) {
    using namespace sluice::broker;
    std::vector<std::string_view> args(argv + 1, argv + argc);
    auto cl = parse_command_line(args);
    if (!cl) {
        fmt::print(stderr, "sluice-broker: {}\n", cl.error().to_string());
        return 1;
    }
    switch (cl.value().what) {
        case command_line::action::help:
            fmt::print("{}", help_text());
            return 0;
        case command_line::action::version:
            fmt::print("sluice-broker {}\n", broker_version());
            return 0;
        case command_line::action::run:
            break;
    }
    auto config = load_config(cl.value());
    if (!config) {
        fmt::print(stderr, "sluice-broker: config: {}\n", config.error().to_string());
        return 1;
    }
    // A peer that goes away mid-write must not kill the broker (Asio also sends with
    // MSG_NOSIGNAL; this covers everything else).
    std::signal(SIGPIPE, SIG_IGN);
    server_options options;
    if (cl.value().config_file) {
        std::error_code ec;
        auto abs = std::filesystem::absolute(*cl.value().config_file, ec);
        options.config_source = ec ? *cl.value().config_file : abs.string();
    }
    options.handle_signals = true;
    server s(std::move(config).value(), options);
    if (!s.start()) {
        return 2;
    }
    s.run();
    return 0;
}
