// The broker's command line and config errors, as a process: an unknown key or a bad value exits
// with code 1 and one stderr line naming the key; SIGTERM stops a running broker with exit 0.
#include <doctest/doctest.h>

#include <csignal>
#include <fstream>

#include "broker_process.h"
#include "process.h"
#include "temp_dir.h"

namespace {

using namespace sluice::testing;
using namespace std::chrono_literals;

run_result broker_cli(std::vector<std::string> args) {
    args.insert(args.begin(), broker_path());
    return run_process(args, {}, 30s);
}

std::string describe(const run_result& r) {
    return r.status.to_string() + "\n--- stdout:\n" + r.out + "--- stderr:\n" + r.err;
}

}  // namespace

TEST_CASE("broker config: an unknown key exits 1 naming the key") {
    temp_dir dir("sluice-it-config");
    auto r = broker_cli({"--override", "log.dirs=" + dir.path().string(), "--override",
                         "listeners=PLAINTEXT://127.0.0.1:0", "--override", "no.such.key=1"});
    CHECK_MESSAGE(r.status.exited_with(1), describe(r));
    REQUIRE(r.err_lines().size() == 1);
    CHECK(r.err.find("no.such.key") != std::string::npos);
}

TEST_CASE("broker config: a bad value exits 1 naming the key") {
    temp_dir dir("sluice-it-config");
    for (const char* kv :
         {"num.partitions=zero", "log.segment.bytes=12", "listeners=HTTP://127.0.0.1:1"}) {
        CAPTURE(kv);
        auto r = broker_cli({"--override", "log.dirs=" + dir.path().string(), "--override", kv});
        CHECK_MESSAGE(r.status.exited_with(1), describe(r));
        REQUIRE(r.err_lines().size() == 1);
        const std::string key(kv, std::string_view(kv).find('='));
        CHECK(r.err.find(key) != std::string::npos);
    }
}

TEST_CASE("broker config: an unknown key in a --config file exits 1 naming the key") {
    temp_dir dir("sluice-it-config");
    const auto file = dir.path() / "server.properties";
    std::ofstream(file) << "# test\nlog.dirs=" << (dir.path() / "data").string()
                        << "\nlisteners=PLAINTEXT://127.0.0.1:0\nbogus.setting=true\n";
    auto r = broker_cli({"--config", file.string()});
    CHECK_MESSAGE(r.status.exited_with(1), describe(r));
    CHECK(r.err.find("bogus.setting") != std::string::npos);
}

TEST_CASE("broker config: --help and --version exit 0") {
    auto help = broker_cli({"--help"});
    CHECK_MESSAGE(help.status.exited_with(0), describe(help));
    CHECK((help.out + help.err).find("log.dirs") != std::string::npos);
    auto version = broker_cli({"--version"});
    CHECK_MESSAGE(version.status.exited_with(0), describe(version));
    CHECK((version.out + version.err).find("0.1.0") != std::string::npos);
}

TEST_CASE("broker process: the start line names the bound port; SIGTERM exits 0") {
    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    CHECK(broker.port() != 0);
    auto s = broker.stop();
    REQUIRE(s.has_value());
    CHECK_MESSAGE(s.value().exited_with(0), broker.log_tail());
}

TEST_CASE("broker process: parse_start_line") {
    CHECK(parse_start_line("sluice-broker 0.1.0 started: node.id=0 "
                           "listeners=PLAINTEXT://127.0.0.1:41234 log.dirs=/tmp/x config=none") ==
          41234);
    CHECK(parse_start_line("2024-01-01T00:00:00Z INFO sluice-broker 0.1.0 started: node.id=0 "
                           "listeners=PLAINTEXT://127.0.0.1:9192 log.dirs=/d config=/c") == 9192);
    CHECK(parse_start_line("sluice-broker 0.1.0 started: listeners=PLAINTEXT://[::1]:7 x") == 7);
    CHECK(parse_start_line("sluice-broker starting") == 0);
    CHECK(parse_start_line("sluice-broker 0.1.0 started: listeners=PLAINTEXT://h:0 x") == 0);
}
