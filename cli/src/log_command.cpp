// `sluice log dump PATH...`: the batches of segment files, read from disk (log_dump.h).
#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "command.h"
#include "sluice/cli/log_dump.h"

namespace sluice::cli {
namespace {

constexpr std::string_view log_help =
    "Usage: sluice log dump PATH... [--records]\n"
    "\n"
    "  sluice log dump PATH...   the record batches of segment files (a partition's NNN.log), or\n"
    "                            of every segment of a partition directory, read from disk\n";

constexpr std::array dump_options{
    option{0, "records", "", "print every record too (key, value, header keys)"},
    option{0, "print-data-log", "", "the same as --records (kafka-dump-log's name)"},
};

// The segment files PATH names: itself, or a directory's *.log files in offset order.
std::vector<std::filesystem::path> segments_of(const std::filesystem::path& path,
                                               std::error_code& ec) {
    std::vector<std::filesystem::path> out;
    if (!std::filesystem::is_directory(path, ec)) {
        out.push_back(path);
        return out;
    }
    for (const auto& e : std::filesystem::directory_iterator(path, ec)) {
        if (e.path().extension() == ".log") {
            out.push_back(e.path());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

int dump(std::span<const std::string> words) {
    constexpr std::string_view cmd = "log dump";
    int rc = exit_ok;
    auto a = parse_command(
        cmd, words, dump_options, "sluice log dump PATH... [--records]",
        "Prints the record batches of segment files, as kafka-dump-log does: offsets, count, "
        "leader epoch,\nproducer id, epoch and sequences, position, size, CRC and whether the "
        "batch is valid. A\ndirectory stands for its .log files. Reads the files only: no broker "
        "is needed, and one\nthat is running may append meanwhile. Exits 1 if a batch is invalid "
        "or a file ends in bytes\nthat are not a batch.",
        one_or_more, rc);
    if (!a) {
        return rc;
    }
    const bool records = a->has("records") || a->has("print-data-log");
    bool damaged = false;
    for (const auto& arg : a->positional) {
        std::error_code ec;
        const auto files = segments_of(arg, ec);
        if (ec) {
            return fail(fmt::format("{}: {}: {}", cmd, arg, ec.message()));
        }
        for (const auto& file : files) {
            std::ifstream in(file, std::ios::binary);
            if (!in) {
                return fail(fmt::format("{}: cannot open {}", cmd, file.string()));
            }
            std::printf("Dumping %s\n", file.c_str());
            const auto s = dump_log(in, records, [](const std::string& line) {
                std::fputs(line.c_str(), stdout);
                std::fputc('\n', stdout);
            });
            if (!s.stopped.empty()) {
                std::printf("Stopped: %s\n", s.stopped.c_str());
            }
            damaged = damaged || s.invalid > 0 || !s.stopped.empty();
        }
    }
    if (damaged) {
        return fail(
            fmt::format("{}: invalid batches or bytes that are not batches (listed above)", cmd));
    }
    return exit_ok;
}

}  // namespace

int run_log(std::span<const std::string> args) {
    if (args.empty()) {
        return usage_error("log", "expected a subcommand: dump");
    }
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        return print_help(log_help);
    }
    if (args[0] == "dump") {
        return dump(args.subspan(1));
    }
    return usage_error("log", "unknown subcommand '" + args[0] + "'");
}

}  // namespace sluice::cli
