// The command line of sluice-broker:
//   sluice-broker [--config FILE] [--override key=value ...] [--help] [--version]
//   sluice-broker format [--config FILE] [--override key=value ...]
//                 [--initial-controllers id@host:port:directory-id,...] [--new-directory]
//                 [--ignore-formatted]
//   sluice-broker random-uuid
// Pure: parse_command_line looks at the arguments only; load_config reads the file they name.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/broker/config.h"

namespace sluice::broker {

struct command_line {
    enum class action { run, help, version, format, random_uuid };
    action what = action::run;
    // format only (format.h).
    std::string initial_controllers;
    bool new_directory = false;
    bool ignore_formatted = false;
    std::optional<std::string> config_file;
    // In command-line order; a later one wins over an earlier one and over the file.
    std::vector<std::pair<std::string, std::string>> overrides;
};

// `args` excludes the program name. Accepts `--override k=v` and `--override=k=v`, `--config F`
// and `--config=F`. Errors: an unknown argument, a missing value, an override without '='.
config_result<command_line> parse_command_line(std::span<const std::string_view> args);

// The file's properties (if any) with the overrides on top, validated.
config_result<broker_config> load_config(const command_line& cl);

// "0.1.0".
std::string_view broker_version();

}  // namespace sluice::broker
