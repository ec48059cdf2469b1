// The `sluice` command: dispatches to its subcommands (docs/cli.md).
//
//   sluice [-b SERVERS] <topic|cluster|log|produce|consume|group|perf> ...   sluice --help
//   sluice --version
//
// A -b given before the command is the default for it; a -b after the command wins.
#include <cstdio>
#include <string>
#include <vector>

#include "command.h"

namespace {

constexpr std::string_view version = "0.1.0";

constexpr std::string_view main_help =
    "Usage: sluice [-b HOST:PORT[,...]] <command> [options]\n"
    "\n"
    "The command-line client of the Sluice broker.\n"
    "\n"
    "Commands:\n"
    "  topic create|list|describe|delete|add-partitions|alter-config|describe-config\n"
    "                                      manage topics\n"
    "  cluster describe|quorum|elect-leaders\n"
    "                                      the brokers, the controller quorum, preferred leaders\n"
    "  log dump PATH...                    the record batches of segment files on disk\n"
    "  produce TOPIC                       produce one record per line of stdin\n"
    "  consume TOPIC                       print records to stdout\n"
    "  consume -G GROUP TOPIC...           consume as a member of a consumer group\n"
    "  group list|describe|delete|reset-offsets\n"
    "                                      consumer groups, their offsets and lag\n"
    "  perf produce|consume                measure throughput and latency\n"
    "\n"
    "Every command takes -b/--bootstrap-server HOST:PORT[,...] (default: $SLUICE_BROKERS, else\n"
    "127.0.0.1:9192) and --help. Exit status: 0 on success, 1 when the operation failed, 2 on a\n"
    "usage error; on failure one line on stderr says what went wrong.\n";

constexpr std::string_view perf_help =
    "Usage: sluice perf <produce|consume> [options]\n"
    "\n"
    "  sluice perf produce --topic T --num-records N --record-size S [--throughput R]\n"
    "                      [--producer-property k=v ...]\n"
    "  sluice perf consume --topic T --messages N [--timeout MS] [--consumer-property k=v ...]\n"
    "\n"
    "'sluice perf produce --help' and 'sluice perf consume --help' show the options.\n";

}  // namespace

namespace sluice::cli {

int run_perf(std::span<const std::string> args) {
    if (args.empty()) {
        return usage_error("perf", "expected a subcommand: produce or consume");
    }
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        return print_help(perf_help);
    }
    if (args[0] == "produce") {
        return run_perf_produce(args.subspan(1));
    }
    if (args[0] == "consume") {
        return run_perf_consume(args.subspan(1));
    }
    return usage_error("perf", "unknown subcommand '" + args[0] + "'");
}

}  // namespace sluice::cli

int main(int argc, char** argv) {
    using namespace sluice::cli;
    std::vector<std::string> words(argv + 1, argv + argc);
    // Options before the command: -b (moved after the command), --help, --version.
    size_t i = 0;
    while (i < words.size() && words[i].starts_with("-")) {
        const std::string& w = words[i];
        if (w == "--help" || w == "-h") {
            return print_help(main_help);
        }
        if (w == "--version" || w == "-V") {
            std::printf("sluice %.*s\n", int(version.size()), version.data());
            return exit_ok;
        }
        if (w == "-b" || w == "--bootstrap-server") {
            if (i + 1 == words.size()) {
                std::fprintf(stderr,
                             "sluice: option -b/--bootstrap-server needs a value "
                             "(see 'sluice --help')\n");
                return exit_usage;
            }
            set_global_bootstrap(words[i + 1]);
            i += 2;
            continue;
        }
        if (w.starts_with("--bootstrap-server=") || (w.starts_with("-b") && w.size() > 2)) {
            set_global_bootstrap(w.substr(w.starts_with("-b") ? 2 : w.find('=') + 1));
            i += 1;
            continue;
        }
        std::fprintf(stderr, "sluice: unknown option '%s' (see 'sluice --help')\n", w.c_str());
        return exit_usage;
    }
    if (i == words.size()) {
        std::fprintf(stderr, "sluice: expected a command (see 'sluice --help')\n");
        return exit_usage;
    }
    const std::string command = words[i];
    std::vector<std::string> rest(words.begin() + std::ptrdiff_t(i) + 1, words.end());
    if (command == "help") {
        return print_help(main_help);
    }
    if (command == "topic") {
        return run_topic(rest);
    }
    if (command == "log") {
        return run_log(rest);
    }
    if (command == "cluster") {
        return run_cluster(rest);
    }
    if (command == "produce") {
        return run_produce(rest);
    }
    if (command == "group") {
        return run_group(rest);
    }
    if (command == "consume") {
        return run_consume(rest);
    }
    if (command == "perf") {
        return run_perf(rest);
    }
    std::fprintf(stderr, "sluice: unknown command '%s' (see 'sluice --help')\n", command.c_str());
    return exit_usage;
}
