#include "client_setup.h"

#include <fmt/format.h>

#include "command.h"
#include "sluice/client/admin.h"
#include "sluice/protocol/errc.h"

namespace sluice::cli {
namespace {

// Config::from_properties over all properties. When it fails and its message does not name the
// key, each property is tried alone to find the bad one.
template <typename Config>
cli_result<Config> build(std::string_view kind, const std::map<std::string, std::string>& props) {
    auto all = Config::from_properties(props);
    if (all) {
        return std::move(all).value();
    }
    // The library's message names the key when it can ("invalid config: linger.ms=x: ...").
    if (std::string msg = all.error().message(); msg.find(':') != std::string::npos) {
        return cli_error(fmt::format("invalid {} property: {}", kind, msg));
    }
    for (const auto& [k, v] : props) {
        if (!Config::from_properties({{k, v}})) {
            return cli_error(
                fmt::format("{}={}: invalid {} property ({})", k, v, kind, all.error().message()));
        }
    }
    return cli_error(fmt::format("invalid {} properties ({})", kind, all.error().message()));
}

// The one path from a command line to a client config, for producers and consumers alike.
template <typename Config>
cli_result<Config> config_from(const parsed_args& args, std::string_view option,
                               std::string_view flag, std::string_view kind,
                               const std::map<std::string, std::string>& overrides) {
    auto parsed = parse_properties(args.all(option), flag);
    if (!parsed) {
        return cli_error(parsed.error());
    }
    auto props = std::move(parsed).value();
    for (const auto& [k, v] : overrides) {
        props[k] = v;
    }
    props.try_emplace("bootstrap.servers", bootstrap_servers(args));
    auto c = build<Config>(kind, props);
    if (c && !props.contains("client.id")) {
        c.value().client_id = "sluice-cli";
    }
    return c;
}

std::string servers_of(const client_config& c) {
    return fmt::format("{}", fmt::join(c.bootstrap_servers, ","));
}

}  // namespace

cli_result<producer_config> producer_config_from(
    const parsed_args& args, std::string_view option, std::string_view flag,
    const std::map<std::string, std::string>& overrides) {
    return config_from<producer_config>(args, option, flag, "producer", overrides);
}

cli_result<consumer_config> consumer_config_from(const parsed_args& args, std::string_view option,
                                                 std::string_view flag) {
    return config_from<consumer_config>(args, option, flag, "consumer", {});
}

std::optional<int32_t> partition_count(std::string_view command, const client_config& config,
                                       const std::string& topic) {
    auto a = admin::create(config);
    if (!a) {
        fail(error_line(command, a.error(), "", servers_of(config)));
        return std::nullopt;
    }
    // Metadata alone: a leader that just died must not stop a produce that will find the next.
    auto n = a.value()->partition_count(topic);
    if (!n) {
        fail(topic_error_line(command, n.error(), topic, servers_of(config)));
        return std::nullopt;
    }
    return n.value();
}

int check_topic(std::string_view command, const client_config& config, const std::string& topic,
                std::optional<int32_t> partition) {
    auto n = partition_count(command, config, topic);
    if (!n) {
        return exit_failure;
    }
    if (partition && *partition >= *n) {
        return fail(fmt::format("{}: {}: topic '{}' has partitions 0..{}, not {}", command,
                                errc_name(errc::unknown_topic_or_partition), topic, *n - 1,
                                *partition));
    }
    return exit_ok;
}

}  // namespace sluice::cli
