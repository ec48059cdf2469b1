// The `sluice` command end to end, run as a child process against a real broker: topic
// management, produce from stdin, consume with -o/-p/-n/-e/-f, perf, and its error contract
// (exit 1 with exactly one stderr line for operating errors, exit 2 for usage errors).
#include <doctest/doctest.h>

#include <cctype>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker_process.h"
#include "client_helpers.h"
#include "process.h"

namespace {

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

// Runs `sluice args...` with SLUICE_BROKERS unset unless `env` sets it.
run_result sluice_cli(std::vector<std::string> args, const std::string& input = {},
                      env_changes env = {}) {
    args.insert(args.begin(), cli_path());
    env.try_emplace("SLUICE_BROKERS", std::nullopt);
    return run_process(args, input, 60s, env);
}

std::string describe(const run_result& r) {
    return r.status.to_string() + "\n--- stdout:\n" + r.out + "--- stderr:\n" + r.err;
}

// Exit 1 and exactly one line on stderr, starting "sluice: ".
void check_one_line_failure(const run_result& r) {
    CHECK_MESSAGE(r.status.exited_with(1), describe(r));
    auto lines = r.err_lines();
    REQUIRE_MESSAGE(lines.size() == 1, describe(r));
    CHECK(lines[0].starts_with("sluice: "));
}

// Whitespace-separated words of a line.
std::vector<std::string> words_of(const std::string& line) {
    std::vector<std::string> out;
    std::istringstream in(line);
    for (std::string w; in >> w;) {
        out.push_back(w);
    }
    return out;
}

// True if `text` matches `pattern`, where each '#' in the pattern stands for a non-empty run of
// digits and dots (a number as the perf tools print it) and everything else is literal.
bool matches(std::string_view text, std::string_view pattern) {
    size_t t = 0;
    for (char c : pattern) {
        if (c != '#') {
            if (t >= text.size() || text[t] != c) {
                return false;
            }
            ++t;
            continue;
        }
        size_t start = t;
        while (t < text.size() &&
               (std::isdigit(static_cast<unsigned char>(text[t])) || text[t] == '.')) {
            ++t;
        }
        if (t == start) {
            return false;
        }
    }
    return t == text.size();
}

// A port nothing listens on: bound, then closed.
uint16_t closed_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

}  // namespace

TEST_CASE("cli: topic create, list, describe and delete") {
    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    const std::string b = broker.bootstrap();

    auto created = sluice_cli({"topic", "create", "orders", "-p", "3", "-b", b});
    REQUIRE_MESSAGE(created.status.exited_with(0), describe(created));
    CHECK(created.out == "Created topic orders.\n");
    CHECK(created.err.empty());
    auto created2 = sluice_cli({"topic", "create", "audit", "--partitions=1", "-c",
                                "retention.ms=3600000", "--bootstrap-server", b});
    REQUIRE_MESSAGE(created2.status.exited_with(0), describe(created2));

    auto again = sluice_cli({"topic", "create", "orders", "-b", b});
    check_one_line_failure(again);
    CHECK(again.err.find("TOPIC_ALREADY_EXISTS") != std::string::npos);

    // The broker's own words on what was wrong reach the user.
    auto rf3 = sluice_cli({"topic", "create", "t1", "-r", "3", "-b", b});
    check_one_line_failure(rf3);
    CHECK(rf3.err ==
          "sluice: topic create: INVALID_REPLICATION_FACTOR: topic 't1': replication factor 3 is "
          "larger than the 1 available broker\n");
    auto bad_config = sluice_cli({"topic", "create", "t2", "-c", "retention.ms=abc", "-b", b});
    check_one_line_failure(bad_config);
    CHECK(bad_config.err ==
          "sluice: topic create: INVALID_CONFIG: topic 't2': retention.ms=abc: not an integer\n");

    auto list = sluice_cli({"topic", "list", "-b", b});
    REQUIRE_MESSAGE(list.status.exited_with(0), describe(list));
    CHECK(list.out == "audit\norders\n");

    auto desc = sluice_cli({"topic", "describe", "orders", "-b", b});
    REQUIRE_MESSAGE(desc.status.exited_with(0), describe(desc));
    auto lines = desc.out_lines();
    REQUIRE(lines.size() == 5);  // topic line, table header, 3 partitions
    CHECK(lines[0] == "Topic: orders\tPartitionCount: 3\tReplicationFactor: 1");
    // Partition, leader 0, epoch, replicas 0, ISR 0, log start 0, log end 0, replica log ends 0,
    // replica lags 0.
    for (int p = 0; p < 3; ++p) {
        auto w = words_of(lines[size_t(p) + 2]);
        CAPTURE(lines[size_t(p) + 2]);
        REQUIRE(w.size() == 9);
        CHECK(w[0] == std::to_string(p));
        CHECK(w[1] == "0");
        CHECK(w[3] == "0");
        CHECK(w[4] == "0");
        CHECK(w[5] == "0");
        CHECK(w[6] == "0");
        CHECK(w[7] == "0");
        CHECK(w[8] == "0");
    }
    CHECK(lines[1].find("Leader") != std::string::npos);
    CHECK(lines[1].find("LogEndOffset") != std::string::npos);

    auto del = sluice_cli({"topic", "delete", "orders", "-b", b});
    REQUIRE_MESSAGE(del.status.exited_with(0), describe(del));
    CHECK(del.out == "Deleted topic orders.\n");
    auto list2 = sluice_cli({"topic", "list", "-b", b});
    CHECK(list2.out == "audit\n");

    auto gone = sluice_cli({"topic", "describe", "orders", "-b", b});
    check_one_line_failure(gone);
    CHECK(gone.err == "sluice: topic describe: UNKNOWN_TOPIC_OR_PARTITION: no topic 'orders'\n");
    auto del_again = sluice_cli({"topic", "delete", "orders", "-b", b});
    check_one_line_failure(del_again);
    CHECK(del_again.err.find("UNKNOWN_TOPIC_OR_PARTITION") != std::string::npos);
}

// The .log files (segments) of a partition directory.
size_t segments_in(const std::filesystem::path& dir) {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        n += e.path().extension() == ".log" ? 1 : 0;
    }
    return n;
}

TEST_CASE("cli: topic add-partitions, alter-config and describe-config; cluster quorum") {
    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    const std::string b = broker.bootstrap();
    REQUIRE(sluice_cli({"topic", "create", "orders", "-p", "2", "-b", b}).status.exited_with(0));

    auto grown = sluice_cli({"topic", "add-partitions", "orders", "-p", "5", "-b", b});
    REQUIRE_MESSAGE(grown.status.exited_with(0), describe(grown));
    CHECK(grown.out == "Topic orders has 5 partitions.\n");
    auto desc = sluice_cli({"topic", "describe", "orders", "-b", b});
    REQUIRE_MESSAGE(desc.status.exited_with(0), describe(desc));
    CHECK(desc.out_lines().size() == 7);  // topic line, table header, 5 partitions
    auto shrink = sluice_cli({"topic", "add-partitions", "orders", "-p", "3", "-b", b});
    check_one_line_failure(shrink);
    CHECK(shrink.err.find("INVALID_PARTITIONS") != std::string::npos);
    CHECK(sluice_cli({"topic", "add-partitions", "orders", "-b", b}).status.exited_with(2));

    // A tiny segment size applies at once to the open partitions: the next records roll.
    auto altered = sluice_cli({"topic", "alter-config", "orders", "--add-config",
                               "segment.bytes=4096,retention.ms=60000", "-b", b});
    REQUIRE_MESSAGE(altered.status.exited_with(0), describe(altered));
    CHECK(altered.out == "Altered the configs of topic orders.\n");
    std::string lines;
    for (int i = 0; i < 100; ++i) {
        lines += std::string(100, char('a' + i % 26)) + "\n";
    }
    auto produced =
        sluice_cli({"produce", "orders", "-p", "0", "-X", "batch.size=1000", "-b", b}, lines);
    REQUIRE_MESSAGE(produced.status.exited_with(0), describe(produced));
    CHECK(segments_in(broker.log_dir() / "orders-0") >= 2);

    auto header = sluice_cli({"topic", "describe", "orders", "-b", b}).out_lines();
    REQUIRE(!header.empty());
    CHECK(header[0] ==
          "Topic: orders\tPartitionCount: 5\tReplicationFactor: 1\tConfigs: "
          "retention.ms=60000,segment.bytes=4096");
    auto removed =
        sluice_cli({"topic", "alter-config", "orders", "--delete-config", "retention.ms", "-b", b});
    REQUIRE_MESSAGE(removed.status.exited_with(0), describe(removed));
    // describe-config's rows by config name.
    auto config_rows = [&] {
        auto configs = sluice_cli({"topic", "describe-config", "orders", "-b", b});
        CHECK_MESSAGE(configs.status.exited_with(0), describe(configs));
        std::map<std::string, std::vector<std::string>> out;
        for (const auto& line : configs.out_lines()) {
            auto w = words_of(line);
            if (w.size() == 3) {
                out[w[0]] = w;
            }
        }
        return out;
    };
    auto rows = config_rows();
    CHECK(rows["segment.bytes"] == std::vector<std::string>{"segment.bytes", "4096", "TOPIC"});
    CHECK(rows["retention.ms"] == std::vector<std::string>{"retention.ms", "604800000", "DEFAULT"});
    CHECK(rows.contains("max.message.bytes"));

    // Refused changes change nothing and say why.
    auto bogus = sluice_cli(
        {"topic", "alter-config", "orders", "--add-config", "retention.ms=1,bogus=1", "-b", b});
    check_one_line_failure(bogus);
    CHECK(bogus.err.find("INVALID_CONFIG") != std::string::npos);
    CHECK(bogus.err.find("bogus") != std::string::npos);
    CHECK(config_rows()["retention.ms"] ==
          std::vector<std::string>{"retention.ms", "604800000", "DEFAULT"});
    CHECK(sluice_cli({"topic", "alter-config", "orders", "-b", b}).status.exited_with(2));
    auto unknown =
        sluice_cli({"topic", "alter-config", "nope", "--add-config", "retention.ms=1", "-b", b});
    check_one_line_failure(unknown);
    CHECK(unknown.err.find("UNKNOWN_TOPIC_OR_PARTITION") != std::string::npos);

    // The quorum of one: node 0 leads it and is its only voter.
    auto quorum = sluice_cli({"cluster", "quorum", "-b", b});
    REQUIRE_MESSAGE(quorum.status.exited_with(0), describe(quorum));
    auto q = quorum.out_lines();
    REQUIRE(q.size() == 9);  // six status lines, a blank one, the table header and one row
    CHECK(q[0] == "LeaderId:         0");
    CHECK(q[4] == "CurrentVoters:    [0]");
    CHECK(q[5] == "CurrentObservers: []");
    CHECK(words_of(q[8]).at(0) == "0");
    CHECK(words_of(q[8]).back() == "Leader");

    // The changes are in the metadata log: a restart keeps them.
    REQUIRE(broker.stop().has_value());
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    auto kept = sluice_cli({"topic", "describe", "orders", "-b", b}).out_lines();
    REQUIRE(!kept.empty());
    CHECK(kept[0] ==
          "Topic: orders\tPartitionCount: 5\tReplicationFactor: 1\tConfigs: segment.bytes=4096");
}

TEST_CASE("cli: produce from stdin with keys, consume with -e, -f, -o, -p and -n") {
    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    const std::string b = broker.bootstrap();
    REQUIRE(sluice_cli({"topic", "create", "kv", "-p", "3", "-b", b}).status.exited_with(0));

    auto produced = sluice_cli({"produce", "kv", "-k", ":", "-b", b},
                               "alpha:1\nbeta:2\ngamma:3:with:colons\n\nno-key-here\ndelta:\n");
    REQUIRE_MESSAGE(produced.status.exited_with(0), describe(produced));
    CHECK(produced.out.empty());
    CHECK(produced.err.empty());

    // describe shows where the records went: log start 0 everywhere, log ends adding up to 5.
    auto desc = sluice_cli({"topic", "describe", "kv", "-b", b});
    REQUIRE_MESSAGE(desc.status.exited_with(0), describe(desc));
    auto desc_lines = desc.out_lines();
    REQUIRE(desc_lines.size() == 5);
    int64_t end_total = 0;
    for (size_t i = 2; i < desc_lines.size(); ++i) {
        auto w = words_of(desc_lines[i]);
        CAPTURE(desc_lines[i]);
        REQUIRE(w.size() == 9);
        CHECK(w[5] == "0");
        end_total += std::stoll(w[6]);
    }
    CHECK(end_total == 5);

    auto all = sluice_cli({"consume", "kv", "-e", "-f", "%k|%s|%p|%o\\n", "-b", b});
    REQUIRE_MESSAGE(all.status.exited_with(0), describe(all));
    auto lines = all.out_lines();
    REQUIRE(lines.size() == 5);  // the empty line is skipped, as kcat does
    std::map<std::string, std::string> by_key;
    std::map<std::string, int> partition_of;
    for (const std::string& line : lines) {
        std::vector<std::string> f;
        size_t start = 0;
        for (size_t bar; (bar = line.find('|', start)) != std::string::npos; start = bar + 1) {
            f.push_back(line.substr(start, bar - start));
        }
        f.push_back(line.substr(start));
        REQUIRE(f.size() == 4);
        by_key[f[0]] = f[1];
        partition_of[f[0]] = std::stoi(f[2]);
    }
    CHECK(by_key["alpha"] == "1");
    CHECK(by_key["beta"] == "2");
    CHECK(by_key["gamma"] == "3:with:colons");
    CHECK(by_key["delta"] == "");
    CHECK(by_key[""] == "no-key-here");
    for (const char* k : {"alpha", "beta", "gamma", "delta"}) {
        CHECK(partition_of[k] == murmur2_partition(k, 3));
    }

    // -p with -o -1: the last record of one partition only.
    const int p = partition_of["alpha"];
    auto tail = sluice_cli(
        {"consume", "kv", "-p", std::to_string(p), "-o", "-1", "-e", "-f", "%k\\n", "-b", b});
    REQUIRE_MESSAGE(tail.status.exited_with(0), describe(tail));
    REQUIRE(tail.out_lines().size() == 1);
    CHECK(partition_of[tail.out_lines()[0]] == p);

    // Default format: the value, one per line; -n stops after COUNT.
    auto two = sluice_cli({"consume", "kv", "-n", "2", "-b", b});
    REQUIRE_MESSAGE(two.status.exited_with(0), describe(two));
    CHECK(two.out_lines().size() == 2);

    // -o end -e: nothing to print, exits at once.
    auto end = sluice_cli({"consume", "kv", "-o", "end", "-e", "-b", b});
    REQUIRE_MESSAGE(end.status.exited_with(0), describe(end));
    CHECK(end.out.empty());

    // An absolute offset on one partition.
    auto abs = sluice_cli(
        {"consume", "kv", "-p", std::to_string(p), "-o", "0", "-e", "-f", "%o\\n", "-b", b});
    REQUIRE_MESSAGE(abs.status.exited_with(0), describe(abs));
    REQUIRE_FALSE(abs.out_lines().empty());
    CHECK(abs.out_lines()[0] == "0");

    // -p to an explicit partition on produce.
    auto explicit_p = sluice_cli({"produce", "kv", "-p", "2", "--acks", "1", "-b", b}, "x\ny\n");
    REQUIRE_MESSAGE(explicit_p.status.exited_with(0), describe(explicit_p));
    auto p2 = sluice_cli({"consume", "kv", "-p", "2", "-o", "-2", "-e", "-b", b});
    CHECK(p2.out == "x\ny\n");
}

TEST_CASE("cli: produce --print-offsets, and log dump of the partition's segment") {
    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    const std::string b = broker.bootstrap();
    REQUIRE(sluice_cli({"topic", "create", "dumped", "-p", "1", "-b", b}).status.exited_with(0));
    auto produced =
        sluice_cli({"produce", "dumped", "-k", ":", "--print-offsets", "-b", b}, "a:1\nb:2\nc:3\n");
    REQUIRE_MESSAGE(produced.status.exited_with(0), describe(produced));
    CHECK(produced.out_lines() == std::vector<std::string>{"0 0 a:1", "0 1 b:2", "0 2 c:3"});

    auto dumped =
        sluice_cli({"log", "dump", (broker.log_dir() / "dumped-0").string(), "--records"});
    REQUIRE_MESSAGE(dumped.status.exited_with(0), describe(dumped));
    auto lines = dumped.out_lines();
    REQUIRE(lines.size() >= 5);
    CHECK(lines[0].starts_with("Dumping "));
    CHECK(lines[1].starts_with("baseOffset: 0 "));
    CHECK(lines.back().ends_with("key: c payload: 3"));
    CHECK(dumped.out.find("isvalid: false") == std::string::npos);

    auto missing = sluice_cli({"log", "dump", (broker.log_dir() / "nope.log").string()});
    check_one_line_failure(missing);
}

TEST_CASE("cli: produce --report prints each acknowledged record; --expect-offset conflicts") {
    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    const std::string b = broker.bootstrap();
    REQUIRE(sluice_cli({"topic", "create", "cas", "-p", "1", "-b", b}).status.exited_with(0));
    auto produced = sluice_cli(
        {"produce", "cas", "-k", ":", "-p", "0", "--report", "%t %p %o %k=%s\\n", "-b", b},
        "a:1\nb:2\n");
    REQUIRE_MESSAGE(produced.status.exited_with(0), describe(produced));
    CHECK(produced.out_lines() == std::vector<std::string>{"cas 0 0 a=1", "cas 0 1 b=2"});

    // Appended only where the writer expects the end; each next record one further.
    auto at_end = sluice_cli(
        {"produce", "cas", "-p", "0", "--expect-offset", "2", "--report", "%o %s\\n", "-b", b},
        "x\ny\n");
    REQUIRE_MESSAGE(at_end.status.exited_with(0), describe(at_end));
    CHECK(at_end.out_lines() == std::vector<std::string>{"2 x", "3 y"});
    auto stale =
        sluice_cli({"produce", "cas", "-p", "0", "--expect-offset", "2", "-b", b}, "\nz\n");
    check_one_line_failure(stale);
    CHECK(stale.err.find("line 2") != std::string::npos);
    CHECK(stale.err.find("CONFLICT") != std::string::npos);
    CHECK(stale.err.find("ended at offset 4, not 2") != std::string::npos);
    CHECK(stale.err.find("--expect-offset 4") != std::string::npos);

    auto usage = sluice_cli({"produce", "cas", "--expect-offset", "2", "-b", b}, "z\n");
    CHECK(usage.status.exited_with(2));
    CHECK(usage.err.find("needs -p") != std::string::npos);
    auto bad_format = sluice_cli({"produce", "cas", "--report", "%x", "-b", b}, "z\n");
    CHECK(bad_format.status.exited_with(2));
    CHECK(bad_format.err.find("--report: unsupported token '%x'") != std::string::npos);
    // Nothing of the refused records was written.
    auto all = sluice_cli({"consume", "cas", "-p", "0", "-e", "-f", "%o:%s\\n", "-b", b});
    REQUIRE_MESSAGE(all.status.exited_with(0), describe(all));
    CHECK(all.out_lines() == std::vector<std::string>{"0:1", "1:2", "2:x", "3:y"});
}

TEST_CASE("cli: consume prints headers, timestamps and topic with -f") {
    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    REQUIRE(create_topic(broker, "hdr", 1).has_value());
    auto p = producer::create(producer_for(broker));
    REQUIRE(p.has_value());
    producer_record r;
    r.topic = "hdr";
    r.key = "k";
    r.value = "v";
    r.timestamp_ms = 1700000000123;
    r.headers = {{"trace", "abc"}, {"empty", std::nullopt}};
    REQUIRE(p.value()->send(std::move(r)).get().has_value());
    auto out = sluice_cli({"consume", "hdr", "-e", "-f", "%t %p %o %T %k=%s [%h] %K %S %%\\n", "-b",
                           broker.bootstrap()});
    REQUIRE_MESSAGE(out.status.exited_with(0), describe(out));
    CHECK(out.out == "hdr 0 0 1700000000123 k=v [trace=abc,empty=] 1 1 %\n");
}

TEST_CASE("cli: bootstrap servers from -b before the command and from SLUICE_BROKERS") {
    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    REQUIRE(create_topic(broker, "envtopic", 1).has_value());
    auto from_env = sluice_cli({"topic", "list"}, {}, {{"SLUICE_BROKERS", broker.bootstrap()}});
    REQUIRE_MESSAGE(from_env.status.exited_with(0), describe(from_env));
    CHECK(from_env.out == "envtopic\n");
    auto global = sluice_cli({"-b", broker.bootstrap(), "topic", "list"});
    REQUIRE_MESSAGE(global.status.exited_with(0), describe(global));
    CHECK(global.out == "envtopic\n");
}

TEST_CASE("cli: operating errors exit 1 with one line on stderr") {
    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    const std::string b = broker.bootstrap();

    auto produce_unknown = sluice_cli({"produce", "nope", "-b", b}, "a\n");
    check_one_line_failure(produce_unknown);
    CHECK(produce_unknown.err == "sluice: produce: UNKNOWN_TOPIC_OR_PARTITION: no topic 'nope'\n");

    auto consume_unknown = sluice_cli({"consume", "nope", "-e", "-b", b});
    check_one_line_failure(consume_unknown);
    CHECK(consume_unknown.err == "sluice: consume: UNKNOWN_TOPIC_OR_PARTITION: no topic 'nope'\n");

    REQUIRE(create_topic(broker, "one", 1).has_value());
    auto bad_partition = sluice_cli({"produce", "one", "-p", "5", "-b", b}, "a\n");
    check_one_line_failure(bad_partition);
    CHECK(bad_partition.err.find("UNKNOWN_TOPIC_OR_PARTITION") != std::string::npos);

    const std::string dead = "127.0.0.1:" + std::to_string(closed_port());
    for (std::vector<std::string> args :
         {std::vector<std::string>{"topic", "list", "-b", dead},
          std::vector<std::string>{"topic", "describe", "one", "-b", dead},
          std::vector<std::string>{"produce", "one", "-b", dead},
          std::vector<std::string>{"consume", "one", "-e", "-b", dead}}) {
        CAPTURE(args[0]);
        auto unreachable = sluice_cli(args, "a\n");
        check_one_line_failure(unreachable);
        CHECK_MESSAGE(unreachable.err.starts_with("sluice: broker unreachable: " + dead),
                      unreachable.err);
    }
}

TEST_CASE("cli: usage errors exit 2; --help prints usage") {
    for (std::vector<std::string> args : {
             std::vector<std::string>{"topic", "list", "--bogus"},
             std::vector<std::string>{"consume", "t", "-o", "banana"},
             std::vector<std::string>{"consume", "t", "-f", "%z"},
             std::vector<std::string>{"produce"},
             std::vector<std::string>{"produce", "t", "--acks", "2"},
             std::vector<std::string>{"frobnicate"},
             std::vector<std::string>{"--frobnicate"},
             std::vector<std::string>{"topic", "explode"},
             std::vector<std::string>{"perf", "produce", "--topic", "t"},
             std::vector<std::string>{"topic", "create", "t", "-p", "zero"},
         }) {
        CAPTURE(args);
        auto r = sluice_cli(args);
        CHECK_MESSAGE(r.status.exited_with(2), describe(r));
        REQUIRE(r.err_lines().size() == 1);
        CHECK(r.err.starts_with("sluice: "));
        CHECK(r.err.find("--help") != std::string::npos);
    }
    for (std::vector<std::string> args : {
             std::vector<std::string>{"--help"},
             std::vector<std::string>{"topic", "--help"},
             std::vector<std::string>{"topic", "create", "--help"},
             std::vector<std::string>{"produce", "--help"},
             std::vector<std::string>{"consume", "--help"},
             std::vector<std::string>{"perf", "--help"},
             std::vector<std::string>{"perf", "produce", "--help"},
             std::vector<std::string>{"perf", "consume", "--help"},
         }) {
        CAPTURE(args);
        auto r = sluice_cli(args);
        CHECK_MESSAGE(r.status.exited_with(0), describe(r));
        CHECK(r.out.starts_with("Usage: sluice"));
        CHECK(r.err.empty());
    }
}

TEST_CASE("cli: perf produce and perf consume") {
    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    const std::string b = broker.bootstrap();
    REQUIRE(create_topic(broker, "perf", 2).has_value());
    auto produce = sluice_cli({"perf", "produce", "--topic", "perf", "--num-records", "3000",
                               "--record-size", "100", "--throughput", "-1", "--producer-property",
                               "linger.ms=2", "--producer-property", "acks=1", "-b", b});
    REQUIRE_MESSAGE(produce.status.exited_with(0), describe(produce));
    auto lines = produce.out_lines();
    REQUIRE_FALSE(lines.empty());
    CHECK_MESSAGE(matches(lines.back(),
                          "3000 records sent, # records/sec (# MB/sec), # ms avg latency, # ms max "
                          "latency, # ms 50th, # ms 95th, # ms 99th, # ms 99.9th."),
                  lines.back());

    auto consume =
        sluice_cli({"perf", "consume", "--topic", "perf", "--messages", "3000", "-b", b});
    REQUIRE_MESSAGE(consume.status.exited_with(0), describe(consume));
    auto clines = consume.out_lines();
    REQUIRE(clines.size() == 2);
    CHECK(clines[0].starts_with("start.time, end.time, data.consumed.in.MB, MB.sec"));
    CHECK(clines[1].find(", 3000, ") != std::string::npos);

    // Throttled: 200 records at 1000/s take about 0.2 s at least.
    const auto start = std::chrono::steady_clock::now();
    auto slow = sluice_cli({"perf", "produce", "--topic", "perf", "--num-records", "200",
                            "--record-size", "10", "--throughput", "1000", "-b", b});
    REQUIRE_MESSAGE(slow.status.exited_with(0), describe(slow));
    CHECK(std::chrono::steady_clock::now() - start >= 190ms);

    auto bad_prop =
        sluice_cli({"perf", "produce", "--topic", "perf", "--num-records", "1", "--record-size",
                    "1", "--producer-property", "linger.ms=soon", "-b", b});
    CHECK_MESSAGE(bad_prop.status.exited_with(2), describe(bad_prop));
    CHECK(bad_prop.err.find("linger.ms") != std::string::npos);
}
