// Command-line parsing for the `sluice` command: a small GNU-style option parser and the value
// converters the subcommands share. No I/O happens here; errors come back as one-line messages
// that the caller prints (and turns into exit code 2, a usage error).
//
// Accepted spellings, for an option {short 'p', long "partition", takes a value}:
//   -p 3   -p3   --partition 3   --partition=3
// A flag (no value) is just -e or --exit. "--" ends the options; a lone "-" is positional.
// The word after an option that takes a value is its value even when it starts with '-', so
// `-o -10` works. -h and --help are always recognised and set parsed_args::help.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/outcome/result.hpp>

namespace sluice::cli {

// What is wrong with a command line, in one line. A distinct type (not std::string) so that a
// cli_result<std::string> can tell its value from its error.
struct usage_problem {
    std::string message;
    operator std::string_view() const noexcept { return message; }
};

// A value or the usage problem that prevented it.
template <typename T>
using cli_result =
    boost::outcome_v2::result<T, usage_problem, boost::outcome_v2::policy::terminate>;

inline auto cli_error(std::string message) {
    return boost::outcome_v2::failure(usage_problem{std::move(message)});
}
inline auto cli_error(usage_problem problem) {
    return boost::outcome_v2::failure(std::move(problem));
}

struct option {
    char short_name = 0;          // 0: no short spelling
    std::string_view long_name;   // without the leading "--"; the key in parsed_args
    std::string_view value_name;  // empty: a flag that takes no value
    std::string_view help;        // one line for usage_text
    bool repeatable = false;      // may be given more than once (values accumulate)
};

struct parsed_args {
    bool help = false;
    std::vector<std::string> positional;
    // Values by long name, in command-line order; a flag given once maps to {""}.
    std::map<std::string, std::vector<std::string>, std::less<>> values;

    bool has(std::string_view long_name) const { return values.find(long_name) != values.end(); }
    // The value of an option given at most once (parse_args enforces that), or nullopt.
    std::optional<std::string> get(std::string_view long_name) const;
    // Every value of a repeatable option (empty if absent).
    std::vector<std::string> all(std::string_view long_name) const;
};

// Parses `words` (the arguments after the command name) against `options`.
// Errors: an unknown option, a missing value, a value given to a flag, a non-repeatable option
// given twice.
cli_result<parsed_args> parse_args(std::span<const std::string> words,
                                   std::span<const option> options);

// "Usage: <synopsis>\n\n<description>\n\nOptions:\n  -p, --partition N  help..." for --help.
std::string usage_text(std::string_view synopsis, std::string_view description,
                       std::span<const option> options);

// A decimal integer in [min, max]; `what` names the option in the message.
cli_result<int64_t> parse_int(std::string_view text, std::string_view what, int64_t min,
                              int64_t max);

// "key=value" split at the first '='; the key must not be empty.
cli_result<std::pair<std::string, std::string>> parse_key_value(std::string_view text,
                                                                std::string_view what);

// Every "key=value" of a repeatable option, as a map (a later key replaces an earlier one).
cli_result<std::map<std::string, std::string>> parse_properties(
    const std::vector<std::string>& items, std::string_view what);

// kcat's delimiter escapes: \n \r \t \\ and \xNN (two hex digits); other text is literal.
cli_result<std::string> unescape(std::string_view text, std::string_view what);

}  // namespace sluice::cli
