#include "sluice/broker/command_line.h"

#include <fmt/format.h>

#include "config_values.h"

#ifndef SLUICE_VERSION
#error "SLUICE_VERSION must be defined by the build"
#endif

namespace sluice::broker {

std::string_view broker_version() {
    return SLUICE_VERSION;
}

config_result<command_line> parse_command_line(std::span<const std::string_view> args) {
    command_line out;
    auto value_of = [&](size_t& i, std::string_view flag) -> std::optional<std::string_view> {
        std::string_view a = args[i];
        if (a.size() > flag.size() && a.substr(0, flag.size()) == flag && a[flag.size()] == '=') {
            return a.substr(flag.size() + 1);
        }
        if (a == flag && i + 1 < args.size()) {
            return args[++i];
        }
        return std::nullopt;
    };
    size_t first = 0;
    if (!args.empty() && args[0] == "format") {
        out.what = command_line::action::format;
        first = 1;
    } else if (!args.empty() && args[0] == "random-uuid") {
        if (args.size() > 1) {
            return config_error{"", "", "random-uuid takes no arguments"};
        }
        out.what = command_line::action::random_uuid;
        return out;
    }
    const bool formatting = out.what == command_line::action::format;
    for (size_t i = first; i < args.size(); ++i) {
        std::string_view a = args[i];
        if (formatting && a.starts_with("--initial-controllers")) {
            auto v = value_of(i, "--initial-controllers");
            if (!v || v->empty()) {
                return config_error{"", "", "--initial-controllers needs id@host:port:dir,..."};
            }
            out.initial_controllers = std::string(*v);
        } else if (formatting && a == "--ignore-formatted") {
            out.ignore_formatted = true;
        } else if (formatting && a == "--new-directory") {
            out.new_directory = true;
        } else if (a == "--help" || a == "-h") {
            out.what = command_line::action::help;
        } else if (a == "--version") {
            out.what = command_line::action::version;
        } else if (a.starts_with("--config")) {
            auto v = value_of(i, "--config");
            if (!v || v->empty()) {
                return config_error{"", "", fmt::format("{} needs a file name", a)};
            }
            if (out.config_file) {
                return config_error{"", "", "--config given twice"};
            }
            out.config_file = std::string(*v);
        } else if (a.starts_with("--override")) {
            auto v = value_of(i, "--override");
            if (!v) {
                return config_error{"", "", "--override needs key=value"};
            }
            size_t eq = v->find('=');
            auto key = values::trim(v->substr(0, eq));
            if (eq == std::string_view::npos || key.empty()) {
                return config_error{"", "", fmt::format("--override {}: expected key=value", *v)};
            }
            out.overrides.emplace_back(std::string(key),
                                       std::string(values::trim(v->substr(eq + 1))));
        } else {
            return config_error{
                "", "",
                fmt::format("unexpected argument '{}' (sluice-broker --help shows the usage)", a)};
        }
    }
    return out;
}

config_result<broker_config> load_config(const command_line& cl) {
    properties props;
    if (cl.config_file) {
        auto file = read_properties_file(*cl.config_file);
        if (!file) {
            return file.error();
        }
        props = std::move(file).value();
    }
    for (const auto& [k, v] : cl.overrides) {
        props[k] = v;
    }
    return make_config(props);
}

}  // namespace sluice::broker
