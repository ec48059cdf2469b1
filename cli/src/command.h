// What every `sluice` subcommand shares: exit codes, the bootstrap option, error lines.
//
// Contract of the command: exit 0 on success; otherwise exactly one line on stderr that says
// what went wrong, prefixed "sluice: ", and exit 1 (an operating error: unknown topic, broker
// unreachable, delivery failed) or 2 (a usage error: unknown flag, bad value).
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "sluice/cli/args.h"
#include "sluice/client/admin.h"
#include "sluice/client/config.h"

namespace sluice::cli {

inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

inline constexpr std::string_view default_bootstrap = "127.0.0.1:9192";
inline constexpr const char* bootstrap_env = "SLUICE_BROKERS";

inline constexpr option bootstrap_option{
    'b', "bootstrap-server", "HOST:PORT[,...]",
    "brokers to bootstrap from (default: $SLUICE_BROKERS, else 127.0.0.1:9192)"};

// Prints "sluice: <line>" to stderr as one line (newlines become spaces); returns exit_failure.
int fail(std::string_view line);

// Prints "sluice: <command>: <problem> (see 'sluice <command> --help')"; returns exit_usage.
int usage_error(std::string_view command, std::string_view problem);

// Prints `text` to stdout; returns exit_ok.
int print_help(std::string_view text);

// Parses the words of `command` against `options`, prints the usage for --help, and checks that
// exactly `positional` arguments were given (at least one if it is one_or_more). Returns nullopt
// when the command ends here, with `exit_code` set (exit_ok after --help, exit_usage after a
// usage error).
inline constexpr size_t one_or_more = size_t(-1);
std::optional<parsed_args> parse_command(std::string_view command,
                                         std::span<const std::string> words,
                                         std::span<const option> options, std::string_view synopsis,
                                         std::string_view description, size_t positional,
                                         int& exit_code);

// The -b value, else a -b given before the command (set_global_bootstrap), else
// $SLUICE_BROKERS, else 127.0.0.1:9192.
std::string bootstrap_servers(const parsed_args& args);
void set_global_bootstrap(std::string servers);

// A client configuration for the CLI: the given servers, client.id "sluice-cli".
client_config make_client_config(const std::string& servers);

// An admin client for the -b servers (bootstrap_servers), and those servers for error lines.
struct admin_session {
    std::string servers;
    std::unique_ptr<admin> client;
};
result<admin_session> connect(const parsed_args& args);

// One line (without the "sluice: " prefix) for `ec`, raised while running `command`:
//   broker unreachable  -> "broker unreachable: <servers>: <reason>" (the reason comes from a
//                          probe connect to the first server when the error does not say it)
//   a broker error      -> "<command>: <NAME>: <detail>"   (e.g. UNKNOWN_TOPIC_OR_PARTITION)
//   anything else       -> "<command>: <message>: <detail>"
std::string error_line(std::string_view command, std::error_code ec, std::string_view detail,
                       std::string_view servers);

// UNKNOWN_TOPIC_OR_PARTITION from the broker or client_errc::unknown_topic from the client.
bool is_unknown_topic(std::error_code ec);

// "topic '<topic>'", followed by ": <broker_message>" when the broker said what was wrong.
std::string topic_detail(const std::string& topic, std::string_view broker_message);

// error_line for an error about `topic`, with topic_detail as the detail: an unknown topic reads
// "<command>: UNKNOWN_TOPIC_OR_PARTITION: no topic '<topic>'".
std::string topic_error_line(std::string_view command, std::error_code ec, const std::string& topic,
                             std::string_view servers, std::string_view broker_message = {});

// Subcommands. `args` are the words after the subcommand's name.
int run_topic(std::span<const std::string> args);
int run_cluster(std::span<const std::string> args);
int run_log(std::span<const std::string> args);
int run_produce(std::span<const std::string> args);
int run_consume(std::span<const std::string> args);
int run_group(std::span<const std::string> args);
int run_perf(std::span<const std::string> args);
int run_perf_produce(std::span<const std::string> args);
int run_perf_consume(std::span<const std::string> args);

}  // namespace sluice::cli
