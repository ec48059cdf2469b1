// `sluice cluster describe`: the brokers that serve and the active controller, as a broker's
// metadata gives them. `sluice cluster quorum`: the controller quorum as its leader sees it.
// `sluice cluster elect-leaders`: leadership back to the preferred replicas.
#include <algorithm>
#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "command.h"
#include "sluice/client/admin.h"
#include "sluice/protocol/errc.h"
#include "table.h"

namespace sluice::cli {
namespace {

constexpr std::string_view cluster_help =
    "Usage: sluice cluster <describe|quorum|elect-leaders> [-b HOST:PORT[,...]]\n"
    "\n"
    "  sluice cluster describe   the brokers that serve (registered and not fenced), with their\n"
    "                            client endpoints, which node is the active controller, and the\n"
    "                            partitions that are offline or under-replicated\n"
    "  sluice cluster quorum     the metadata log's Raft quorum: leader, epoch, high watermark,\n"
    "                            and each voter's and observer's log end offset and lag\n"
    "  sluice cluster elect-leaders [--topic T]...\n"
    "                            preferred leader election: each partition's leadership goes\n"
    "                            back to its first replica where that one can lead\n";

constexpr std::array options{bootstrap_option};

int describe(std::span<const std::string> words) {
    constexpr std::string_view cmd = "cluster describe";
    int rc = exit_ok;
    auto a = parse_command(cmd, words, options, "sluice cluster describe",
                           "Shows the brokers that serve, the active controller, and the "
                           "partitions that are offline\n(no leader) or under-replicated (an ISR "
                           "smaller than their replicas).",
                           0, rc);
    if (!a) {
        return rc;
    }
    auto s = connect(*a);
    if (!s) {
        return fail(error_line(cmd, s.error(), "", bootstrap_servers(*a)));
    }
    auto brokers = s.value().client->describe_cluster();
    if (!brokers) {
        return fail(error_line(cmd, brokers.error(), "", s.value().servers));
    }
    table tab({"Broker", "Host", "Port", "Controller"});
    for (const broker_info& b : brokers.value()) {
        tab.add({fmt::format("{}", b.node_id), b.host, fmt::format("{}", b.port),
                 b.is_controller ? "active" : ""});
    }
    std::fputs(tab.render("").c_str(), stdout);

    // Partitions that are offline (no leader) or under-replicated (an ISR smaller than their
    // replicas), as kafka-topics --describe --unavailable-partitions and
    // --under-replicated-partitions list them.
    auto names = s.value().client->list_topics();
    if (!names) {
        return fail(error_line(cmd, names.error(), "listing topics", s.value().servers));
    }
    table bad({"Topic", "Partition", "Leader", "Replicas", "Isr", "State"});
    size_t offline = 0;
    size_t under = 0;
    size_t undescribed = 0;
    for (const auto& name : names.value()) {
        auto t = s.value().client->describe_topic(name);
        if (!t) {
            if (!is_unknown_topic(t.error())) {  // (unknown: deleted meanwhile)
                ++undescribed;
                bad.add({name, "-", "-", "-", "-",
                         fmt::format("not described: {}", t.error().message())});
            }
            continue;
        }
        for (const partition_info& p : t.value().partitions) {
            const bool is_offline = p.leader < 0;
            const bool is_under = p.isr.size() < p.replicas.size();
            if (!is_offline && !is_under) {
                continue;
            }
            offline += is_offline ? 1 : 0;
            under += is_under ? 1 : 0;
            bad.add({name, fmt::format("{}", p.partition), fmt::format("{}", p.leader),
                     fmt::format("{}", fmt::join(p.replicas, ",")),
                     fmt::format("{}", fmt::join(p.isr, ",")),
                     is_offline ? "offline" : "under-replicated"});
        }
    }
    std::printf("\nOffline partitions: %zu\tUnder-replicated partitions: %zu\n", offline, under);
    if (offline + under + undescribed > 0) {
        std::fputs(bad.render("").c_str(), stdout);
    }
    return exit_ok;
}

std::string timestamp(int64_t ms) {
    return ms < 0 ? std::string("-") : fmt::format("{}", ms);
}

int quorum(std::span<const std::string> words) {
    constexpr std::string_view cmd = "cluster quorum";
    int rc = exit_ok;
    auto a = parse_command(cmd, words, options, "sluice cluster quorum",
                           "Shows the controller quorum as its leader sees it (what "
                           "kafka-metadata-quorum describe\n--status and --replication print). "
                           "Timestamps are ms since the epoch; - is unknown.",
                           0, rc);
    if (!a) {
        return rc;
    }
    auto s = connect(*a);
    if (!s) {
        return fail(error_line(cmd, s.error(), "", bootstrap_servers(*a)));
    }
    auto q = s.value().client->describe_quorum();
    if (!q) {
        return fail(error_line(cmd, q.error(), "", s.value().servers));
    }
    const quorum_info& info = q.value();
    int64_t max_lag = 0;
    std::vector<int32_t> voters;
    std::vector<int32_t> observers;
    for (const auto& v : info.voters) {
        voters.push_back(v.node_id);
        max_lag = std::max(max_lag, v.lag);
    }
    for (const auto& o : info.observers) {
        observers.push_back(o.node_id);
    }
    std::printf("LeaderId:         %d\n", info.leader_id);
    std::printf("LeaderEpoch:      %lld\n", static_cast<long long>(info.leader_epoch));
    std::printf("HighWatermark:    %lld\n", static_cast<long long>(info.high_watermark));
    std::printf("MaxFollowerLag:   %lld\n", static_cast<long long>(max_lag));
    std::printf("CurrentVoters:    [%s]\n", fmt::format("{}", fmt::join(voters, ",")).c_str());
    std::printf("CurrentObservers: [%s]\n\n", fmt::format("{}", fmt::join(observers, ",")).c_str());
    table tab(
        {"NodeId", "LogEndOffset", "Lag", "LastFetchTimestamp", "LastCaughtUpTimestamp", "Status"});
    auto add = [&](const quorum_replica_info& r, const char* status) {
        tab.add({fmt::format("{}", r.node_id), timestamp(r.log_end_offset), timestamp(r.lag),
                 timestamp(r.last_fetch_timestamp), timestamp(r.last_caught_up_timestamp), status});
    };
    for (const auto& v : info.voters) {
        add(v, v.node_id == info.leader_id ? "Leader" : "Follower");
    }
    for (const auto& o : info.observers) {
        add(o, "Observer");
    }
    std::fputs(tab.render("").c_str(), stdout);
    return exit_ok;
}

constexpr std::array elect_options{
    bootstrap_option,
    option{'t', "topic", "TOPIC", "only this topic's partitions (repeatable; default: every topic)",
           true}};

int elect_leaders(std::span<const std::string> words) {
    constexpr std::string_view cmd = "cluster elect-leaders";
    int rc = exit_ok;
    auto a = parse_command(cmd, words, elect_options, "sluice cluster elect-leaders [--topic T]...",
                           "Moves each partition's leadership back to its preferred replica (the "
                           "first in its\nreplica list) where that broker is in the ISR and not "
                           "fenced (what kafka-leader-election\n--election-type PREFERRED does). "
                           "Exits 1 if a partition could not be elected.",
                           0, rc);
    if (!a) {
        return rc;
    }
    auto s = connect(*a);
    if (!s) {
        return fail(error_line(cmd, s.error(), "", bootstrap_servers(*a)));
    }
    auto results = s.value().client->elect_leaders(a->all("topic"));
    if (!results) {
        return fail(error_line(cmd, results.error(), "", s.value().servers));
    }
    table tab({"Topic", "Partition", "Result"});
    size_t elected = 0;
    size_t failed = 0;
    for (const election_info& e : results.value()) {
        std::string outcome = "elected";
        if (e.error == make_error_code(errc::election_not_needed)) {
            outcome = "already the preferred leader";
        } else if (e.error) {
            ++failed;
            outcome = fmt::format("{}: {}", errc_name(errc(e.error.value())), e.message);
        } else {
            ++elected;
        }
        tab.add({e.topic, e.partition < 0 ? "-" : fmt::format("{}", e.partition), outcome});
    }
    std::fputs(tab.render("").c_str(), stdout);
    std::printf("%zu elected, %zu failed\n", elected, failed);
    if (failed > 0) {
        return fail(
            fmt::format("{}: {} partitions could not be elected (listed above)", cmd, failed));
    }
    return exit_ok;
}

}  // namespace

int run_cluster(std::span<const std::string> args) {
    if (args.empty()) {
        return usage_error("cluster", "expected a subcommand: describe, quorum or elect-leaders");
    }
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        return print_help(cluster_help);
    }
    if (args[0] == "describe") {
        return describe(args.subspan(1));
    }
    if (args[0] == "quorum") {
        return quorum(args.subspan(1));
    }
    if (args[0] == "elect-leaders") {
        return elect_leaders(args.subspan(1));
    }
    return usage_error("cluster", "unknown subcommand '" + args[0] + "'");
}

}  // namespace sluice::cli
