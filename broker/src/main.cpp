// sluice-broker [--config FILE] [--override key=value ...] [--help] [--version]
// sluice-broker format [--config FILE] [--override key=value ...] [--initial-controllers ...]
//                      [--new-directory] [--ignore-formatted]
// sluice-broker random-uuid
//
// Exit codes: 0 after --help, --version, random-uuid, a format done, or a clean stop
// (SIGTERM/SIGINT); 1 for a configuration error or a refused format (one line on stderr naming
// the key, the value and why); 2 when the broker cannot start.
#include <csignal>
#include <cstdio>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "sluice/broker/command_line.h"
#include "sluice/broker/format.h"
#include "sluice/broker/server.h"
#include "sluice/controller/quorum_bootstrap.h"

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
        case command_line::action::random_uuid:
            fmt::print("{}\n",
                       sluice::controller::directory_text(sluice::controller::random_directory()));
            return 0;
        case command_line::action::run:
        case command_line::action::format:
            break;
    }
    auto config = load_config(cl.value());
    if (!config) {
        fmt::print(stderr, "sluice-broker: config: {}\n", config.error().to_string());
        return 1;
    }
    if (cl.value().what == command_line::action::format) {
        const auto done = format_storage(
            config.value(),
            {cl.value().initial_controllers, cl.value().new_directory, cl.value().ignore_formatted},
            sluice::storage::posix_file_system());
        fmt::print(done.ok ? stdout : stderr, "sluice-broker format: {}\n", done.message);
        return done.ok ? 0 : 1;
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
