// `sluice topic create|list|describe|delete|add-partitions|alter-config|describe-config`: thin
// wrappers over sluice::admin.
#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <optional>
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
    "Usage: sluice topic <create|list|describe|delete|add-partitions|alter-config|"
    "describe-config> [options]\n"
    "\n"
    "Manage topics.\n"
    "\n"
    "  sluice topic create NAME [-p PARTITIONS] [-r REPLICATION] [-c key=value ...]\n"
    "  sluice topic list\n"
    "  sluice topic describe NAME\n"
    "  sluice topic delete NAME\n"
    "  sluice topic add-partitions NAME -p TOTAL\n"
    "  sluice topic alter-config NAME [--add-config key=value[,...]] [--delete-config key[,...]]\n"
    "  sluice topic describe-config NAME\n"
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
constexpr std::array grow_options{
    bootstrap_option,
    option{'p', "partitions", "TOTAL", "the topic's new number of partitions (more than now)"},
};
constexpr std::array alter_options{
    bootstrap_option,
    option{'c', "add-config", "KEY=VALUE[,...]", "set topic configs, e.g. retention.ms=3600000",
           true},
    option{'d', "delete-config", "KEY[,...]",
           "remove topic config overrides (the broker's default applies again)", true},
};

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
    // The overrides, as Kafka's describe shows them (nothing when there are none).
    std::vector<std::string> overrides;
    if (auto configs = s.value().client->describe_topic_configs(name)) {
        for (const config_entry& c : configs.value()) {
            if (c.is_override) {
                overrides.push_back(c.name + "=" + c.value);
            }
        }
    }
    std::printf(
        "Topic: %s\tPartitionCount: %zu\tReplicationFactor: %zu%s\n", info.name.c_str(),
        info.partitions.size(), replication,
        overrides.empty() ? "" : fmt::format("\tConfigs: {}", fmt::join(overrides, ",")).c_str());
    table tab({"Partition", "Leader", "Epoch", "Replicas", "Isr", "LogStartOffset", "LogEndOffset",
               "ReplicaLogEnds", "ReplicaLags"});
    for (const partition_info& p : info.partitions) {
        // Each replica's log end as the leader knows it, and how far behind the leader's that is
        // (in the order of Replicas; ? where the leader does not know).
        std::vector<std::string> ends;
        std::vector<std::string> lags;
        int64_t leader_end = -1;
        for (size_t i = 0; i < p.replica_log_end_offsets.size(); ++i) {
            if (p.replicas[i] == p.leader) {
                leader_end = p.replica_log_end_offsets[i];
            }
        }
        for (size_t i = 0; i < p.replicas.size(); ++i) {
            const int64_t end =
                i < p.replica_log_end_offsets.size() ? p.replica_log_end_offsets[i] : -1;
            ends.push_back(end < 0 ? "?" : fmt::format("{}", end));
            lags.push_back(end < 0 || leader_end < 0 ? "?" : fmt::format("{}", leader_end - end));
        }
        tab.add({fmt::format("{}", p.partition), fmt::format("{}", p.leader),
                 fmt::format("{}", p.leader_epoch), join(p.replicas), join(p.isr),
                 fmt::format("{}", p.log_start_offset), fmt::format("{}", p.log_end_offset),
                 fmt::format("{}", fmt::join(ends, ",")), fmt::format("{}", fmt::join(lags, ","))});
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

int add_partitions(std::span<const std::string> words) {
    constexpr std::string_view cmd = "topic add-partitions";
    int rc = exit_ok;
    auto a = parse_command(cmd, words, grow_options, "sluice topic add-partitions NAME -p TOTAL",
                           "Grows a topic to TOTAL partitions (Kafka's kafka-topics --alter "
                           "--partitions).\nRecords keep their partitions: a key may map to "
                           "another partition from now on.",
                           1, rc);
    if (!a) {
        return rc;
    }
    const auto p = a->get("partitions");
    if (!p) {
        return usage_error(cmd, "-p/--partitions TOTAL is required");
    }
    auto total = parse_int(*p, "-p/--partitions", 1, 1 << 20);
    if (!total) {
        return usage_error(cmd, total.error());
    }
    const std::string& name = a->positional[0];
    auto s = connect(*a);
    if (!s) {
        return fail(error_line(cmd, s.error(), "", bootstrap_servers(*a)));
    }
    std::string why;
    if (auto r = s.value().client->add_partitions(name, int32_t(total.value()), &why); !r) {
        return fail(topic_error_line(cmd, r.error(), name, s.value().servers, why));
    }
    std::printf("Topic %s has %lld partitions.\n", name.c_str(),
                static_cast<long long>(total.value()));
    return exit_ok;
}

// The items of comma-separated lists given one or more times.
std::vector<std::string> items_of(const std::vector<std::string>& lists) {
    std::vector<std::string> out;
    for (const auto& list : lists) {
        size_t start = 0;
        while (start <= list.size()) {
            const size_t comma = std::min(list.find(',', start), list.size());
            if (comma > start) {
                out.push_back(list.substr(start, comma - start));
            }
            start = comma + 1;
        }
    }
    return out;
}

int alter_config(std::span<const std::string> words) {
    constexpr std::string_view cmd = "topic alter-config";
    int rc = exit_ok;
    auto a = parse_command(
        cmd, words, alter_options,
        "sluice topic alter-config NAME [--add-config KEY=VALUE[,...]] [--delete-config KEY[,...]]",
        "Sets or removes config overrides of a topic, all or none; they apply at once on every\n"
        "broker (flush.messages when a broker next opens the partition).",
        1, rc);
    if (!a) {
        return rc;
    }
    std::map<std::string, std::optional<std::string>> changes;
    auto sets = parse_properties(items_of(a->all("add-config")), "--add-config");
    if (!sets) {
        return usage_error(cmd, sets.error());
    }
    for (const auto& [k, v] : sets.value()) {
        changes[k] = v;
    }
    for (const auto& k : items_of(a->all("delete-config"))) {
        if (changes.contains(k)) {
            return usage_error(cmd, fmt::format("config '{}' is both added and deleted", k));
        }
        changes[k] = std::nullopt;
    }
    if (changes.empty()) {
        return usage_error(cmd, "nothing to change: give --add-config or --delete-config");
    }
    const std::string& name = a->positional[0];
    auto s = connect(*a);
    if (!s) {
        return fail(error_line(cmd, s.error(), "", bootstrap_servers(*a)));
    }
    std::string why;
    if (auto r = s.value().client->alter_topic_configs(name, changes, &why); !r) {
        return fail(topic_error_line(cmd, r.error(), name, s.value().servers, why));
    }
    std::printf("Altered the configs of topic %s.\n", name.c_str());
    return exit_ok;
}

int describe_config(std::span<const std::string> words) {
    constexpr std::string_view cmd = "topic describe-config";
    int rc = exit_ok;
    auto a = parse_command(cmd, words, common_options, "sluice topic describe-config NAME",
                           "Shows every config of a topic, its value, and whether it is set on "
                           "the topic\n(TOPIC) or is the broker's default (DEFAULT).",
                           1, rc);
    if (!a) {
        return rc;
    }
    const std::string& name = a->positional[0];
    auto s = connect(*a);
    if (!s) {
        return fail(error_line(cmd, s.error(), "", bootstrap_servers(*a)));
    }
    auto configs = s.value().client->describe_topic_configs(name);
    if (!configs) {
        return fail(topic_error_line(cmd, configs.error(), name, s.value().servers));
    }
    table tab({"Config", "Value", "Source"});
    for (const config_entry& c : configs.value()) {
        tab.add({c.name, c.value, c.is_override ? "TOPIC" : "DEFAULT"});
    }
    std::fputs(tab.render("").c_str(), stdout);
    return exit_ok;
}

}  // namespace

int run_topic(std::span<const std::string> args) {
    if (args.empty()) {
        return usage_error("topic",
                           "expected a subcommand: create, list, describe, delete, "
                           "add-partitions, alter-config or describe-config");
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
    if (sub == "add-partitions") {
        return add_partitions(rest);
    }
    if (sub == "alter-config") {
        return alter_config(rest);
    }
    if (sub == "describe-config") {
        return describe_config(rest);
    }
    return usage_error("topic", fmt::format("unknown subcommand '{}'", sub));
}

}  // namespace sluice::cli
