// `sluice topic create|list|describe|delete`: thin wrappers over sluice::admin.
#include <array>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "command.h"
#include "sluice/client/admin.h"
#include "sluice/protocol/errc.h"
#include "table.h"

namespace sluice::cli {
namespace {

constexpr std::string_view topic_help =
    "Usage: sluice topic <create|list|describe|delete> [options]\n"
    "\n"
    "Manage topics.\n"
    "\n"
    "  sluice topic create NAME [-p PARTITIONS] [-r REPLICATION] [-c key=value ...]\n"
    "  sluice topic list\n"
    "  sluice topic describe NAME\n"
    "  sluice topic delete NAME\n"
    "\n"
    "Every subcommand takes -b/--bootstrap-server HOST:PORT[,...]. 'sluice topic <sub> --help' "
    "shows its options.\n";

constexpr std::array create_options{
    bootstrap_option,
    option{'p', "partitions", "N", "number of partitions (default: the broker's num.partitions)"},
    option{'r', "replication-factor", "N",
           "replicas per partition (default: the broker's default.replication.factor)"},
    option{'c', "config", "KEY=VALUE", "a topic config, e.g. retention.ms=86400000", true},
};
constexpr std::array common_options{bootstrap_option};

struct admin_session {
    std::string servers;
    std::unique_ptr<admin> client;
};

// Creates the admin client for the -b servers.
result<admin_session> connect(const parsed_args& a) {
    admin_session s{bootstrap_servers(a), nullptr};
    SLUICE_TRY(s.client, admin::create(make_client_config(s.servers)));
    return s;
}

int create(std::span<const std::string> words) {
    constexpr std::string_view cmd = "topic create";
    int rc = exit_ok;
    auto a = parse_command(
        cmd, words, create_options,
        "sluice topic create NAME [-p PARTITIONS] [-r REPLICATION] [-c key=value ...]",
        "Creates a topic.", 1, rc);
    if (!a) {
        return rc;
    }
    int64_t partitions = -1;
    int64_t replication = -1;
    if (auto p = a->get("partitions")) {
        auto v = parse_int(*p, "-p/--partitions", 1, 1 << 20);
        if (!v) {
            return usage_error(cmd, v.error());
        }
        partitions = v.value();
    }
    if (auto r = a->get("replication-factor")) {
        auto v = parse_int(*r, "-r/--replication-factor", 1, INT16_MAX);
        if (!v) {
            return usage_error(cmd, v.error());
        }
        replication = v.value();
    }
    auto configs = parse_properties(a->all("config"), "-c/--config");
    if (!configs) {
        return usage_error(cmd, configs.error());
    }
    const std::string& name = a->positional[0];
    auto s = connect(*a);
    if (!s) {
        return fail(error_line(cmd, s.error(), "", bootstrap_servers(*a)));
    }
    std::string why;
    auto r = s.value().client->create_topic(name, int32_t(partitions), int16_t(replication),
                                            configs.value(), &why);
    if (!r) {
        return fail(error_line(cmd, r.error(), topic_detail(name, why), s.value().servers));
    }
    std::printf("Created topic %s.\n", name.c_str());
    return exit_ok;
}

int list(std::span<const std::string> words) {
    constexpr std::string_view cmd = "topic list";
    int rc = exit_ok;
    auto a = parse_command(cmd, words, common_options, "sluice topic list",
                           "Lists the topics, sorted.", 0, rc);
    if (!a) {
        return rc;
    }
    auto s = connect(*a);
    if (!s) {
        return fail(error_line(cmd, s.error(), "", bootstrap_servers(*a)));
    }
    auto names = s.value().client->list_topics();
    if (!names) {
        return fail(error_line(cmd, names.error(), "", s.value().servers));
    }
    for (const std::string& n : names.value()) {
        std::printf("%s\n", n.c_str());
    }
    return exit_ok;
}

std::string join(const std::vector<int32_t>& ids) {
    return fmt::format("{}", fmt::join(ids, ","));
}

int describe(std::span<const std::string> words) {
    constexpr std::string_view cmd = "topic describe";
    int rc = exit_ok;
    auto a =
        parse_command(cmd, words, common_options, "sluice topic describe NAME",
                      "Shows each partition of a topic: leader, leader epoch, replicas, in-sync "
                      "replicas,\nlog start offset and log end offset (the high watermark).",
                      1, rc);
    if (!a) {
        return rc;
    }
    const std::string& name = a->positional[0];
    auto s = connect(*a);
    if (!s) {
        return fail(error_line(cmd, s.error(), "", bootstrap_servers(*a)));
    }
    auto t = s.value().client->describe_topic(name);
    if (!t) {
        return fail(topic_error_line(cmd, t.error(), name, s.value().servers));
    }
    const topic_info& info = t.value();
    const size_t replication = info.partitions.empty() ? 0 : info.partitions[0].replicas.size();
    std::printf("Topic: %s\tPartitionCount: %zu\tReplicationFactor: %zu\n", info.name.c_str(),
                info.partitions.size(), replication);
    table tab(
        {"Partition", "Leader", "Epoch", "Replicas", "Isr", "LogStartOffset", "LogEndOffset"});
    for (const partition_info& p : info.partitions) {
        tab.add({fmt::format("{}", p.partition), fmt::format("{}", p.leader),
                 fmt::format("{}", p.leader_epoch), join(p.replicas), join(p.isr),
                 fmt::format("{}", p.log_start_offset), fmt::format("{}", p.log_end_offset)});
    }
    std::fputs(tab.render("  ").c_str(), stdout);
    return exit_ok;
}

int remove(std::span<const std::string> words) {
    constexpr std::string_view cmd = "topic delete";
    int rc = exit_ok;
    auto a = parse_command(cmd, words, common_options, "sluice topic delete NAME",
                           "Deletes a topic and its data.", 1, rc);
    if (!a) {
        return rc;
    }
    const std::string& name = a->positional[0];
    auto s = connect(*a);
    if (!s) {
        return fail(error_line(cmd, s.error(), "", bootstrap_servers(*a)));
    }
    std::string why;
    if (auto r = s.value().client->delete_topic(name, &why); !r) {
        return fail(topic_error_line(cmd, r.error(), name, s.value().servers, why));
    }
    std::printf("Deleted topic %s.\n", name.c_str());
    return exit_ok;
}

}  // namespace

int run_topic(std::span<const std::string> args) {
    if (args.empty()) {
        return usage_error("topic", "expected a subcommand: create, list, describe or delete");
    }
    const std::string& sub = args[0];
    auto rest = args.subspan(1);
    if (sub == "--help" || sub == "-h" || sub == "help") {
        return print_help(topic_help);
    }
    if (sub == "create") {
        return create(rest);
    }
    if (sub == "list") {
        return list(rest);
    }
    if (sub == "describe") {
        return describe(rest);
    }
    if (sub == "delete") {
        return remove(rest);
    }
    return usage_error("topic", fmt::format("unknown subcommand '{}'", sub));
}

}  // namespace sluice::cli
