// `sluice cluster describe`: the brokers that serve and the active controller, as a broker's
// metadata gives them.
#include <array>
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "command.h"
#include "sluice/client/admin.h"
#include "table.h"

namespace sluice::cli {
namespace {

constexpr std::string_view cluster_help =
    "Usage: sluice cluster describe [-b HOST:PORT[,...]]\n"
    "\n"
    "Shows the cluster's brokers that serve (registered and not fenced), with their client\n"
    "endpoints, and which node is the active controller.\n";

constexpr std::array options{bootstrap_option};

int describe(std::span<const std::string> words) {
    constexpr std::string_view cmd = "cluster describe";
    int rc = exit_ok;
    auto a = parse_command(cmd, words, options, "sluice cluster describe",
                           "Shows the brokers that serve and the active controller.", 0, rc);
    if (!a) {
        return rc;
    }
    const std::string servers = bootstrap_servers(*a);
    auto client = admin::create(make_client_config(servers));
    if (!client) {
        return fail(error_line(cmd, client.error(), "", servers));
    }
    auto brokers = client.value()->describe_cluster();
    if (!brokers) {
        return fail(error_line(cmd, brokers.error(), "", servers));
    }
    table tab({"Broker", "Host", "Port", "Controller"});
    for (const broker_info& b : brokers.value()) {
        tab.add({fmt::format("{}", b.node_id), b.host, fmt::format("{}", b.port),
                 b.is_controller ? "active" : ""});
    }
    std::fputs(tab.render("").c_str(), stdout);
    return exit_ok;
}

}  // namespace

int run_cluster(std::span<const std::string> args) {
    if (args.empty()) {
        return usage_error("cluster", "expected a subcommand: describe");
    }
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        return print_help(cluster_help);
    }
    if (args[0] == "describe") {
        return describe(args.subspan(1));
    }
    return usage_error("cluster", "unknown subcommand '" + args[0] + "'");
}

}  // namespace sluice::cli
