// The pure parts of the `sluice` command: option parsing, kcat-style output formats, the perf
// statistics and throttle, and the segment dump of `sluice log dump`. The command itself is tested
// end to end in cli_test.cpp.
#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include "sluice/cli/args.h"
#include "sluice/cli/format.h"
#include "sluice/cli/log_dump.h"
#include "sluice/cli/perf_stats.h"
#include "sluice/protocol/record_batch.h"

namespace {

using namespace sluice::cli;

constexpr std::array opts{
    option{'b', "bootstrap-server", "HOST:PORT", "brokers"},
    option{'o', "offset", "OFFSET", "start"},
    option{'e', "exit", "", "exit at end"},
    option{'X', "property", "K=V", "property", true},
};

cli_result<parsed_args> parse(std::vector<std::string> words) {
    return parse_args(words, opts);
}

}  // namespace

TEST_CASE("args: every spelling of an option with a value") {
    for (auto words : std::vector<std::vector<std::string>>{
             {"-o", "5"}, {"-o5"}, {"--offset", "5"}, {"--offset=5"}}) {
        auto r = parse(words);
        REQUIRE(r);
        CHECK(r.value().get("offset") == "5");
    }
}

TEST_CASE("args: a value that starts with '-' is taken verbatim") {
    auto r = parse({"topic", "-o", "-10", "-e"});
    REQUIRE(r);
    CHECK(r.value().get("offset") == "-10");
    CHECK(r.value().has("exit"));
    CHECK(r.value().positional == std::vector<std::string>{"topic"});
}

TEST_CASE("args: repeatable options accumulate, others refuse a second use") {
    auto r = parse({"-X", "a=1", "--property", "b=2", "-Xc=3"});
    REQUIRE(r);
    CHECK(r.value().all("property") == std::vector<std::string>{"a=1", "b=2", "c=3"});
    auto twice = parse({"-o", "1", "-o", "2"});
    REQUIRE_FALSE(twice);
    CHECK(twice.error().message.find("more than once") != std::string::npos);
}

TEST_CASE("args: errors name the problem") {
    auto unknown = parse({"--nope"});
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().message == "unknown option '--nope'");
    auto unknown_short = parse({"-z"});
    REQUIRE_FALSE(unknown_short);
    CHECK(unknown_short.error().message == "unknown option '-z'");
    auto missing = parse({"-o"});
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message.find("needs a value") != std::string::npos);
    auto flag_value = parse({"--exit=yes"});
    REQUIRE_FALSE(flag_value);
    CHECK(flag_value.error().message.find("takes no value") != std::string::npos);
}

TEST_CASE("args: -- ends options, - is positional, --help is recognised") {
    auto r = parse({"-", "--", "-o", "--help"});
    REQUIRE(r);
    CHECK(r.value().positional == std::vector<std::string>{"-", "-o", "--help"});
    CHECK_FALSE(r.value().help);
    auto h = parse({"x", "-h"});
    REQUIRE(h);
    CHECK(h.value().help);
}

TEST_CASE("args: integers, key=value and escapes") {
    CHECK(parse_int("42", "-n", 0, 100).value() == 42);
    CHECK_FALSE(parse_int("4x", "-n", 0, 100));
    CHECK_FALSE(parse_int("", "-n", 0, 100));
    CHECK_FALSE(parse_int("101", "-n", 0, 100));
    CHECK(parse_int("-1", "-n", -1, 100).value() == -1);

    auto kv = parse_key_value("linger.ms=5=x", "-X");
    REQUIRE(kv);
    CHECK(kv.value().first == "linger.ms");
    CHECK(kv.value().second == "5=x");
    CHECK_FALSE(parse_key_value("=5", "-X"));
    CHECK_FALSE(parse_key_value("novalue", "-X"));

    CHECK(unescape("a\\tb\\n\\x41\\\\", "-k").value() == "a\tb\nA\\");
    CHECK(unescape("\\q", "-k").value() == "\\q");
    CHECK_FALSE(unescape("\\x4", "-k"));
}

TEST_CASE("args: usage text lists every option") {
    std::string text = usage_text("sluice x", "Does x.", opts);
    CHECK(text.find("Usage: sluice x") == 0);
    CHECK(text.find("-b, --bootstrap-server HOST:PORT") != std::string::npos);
    CHECK(text.find("--property K=V") != std::string::npos);
    CHECK(text.find("(repeatable)") != std::string::npos);
    CHECK(text.find("--help") != std::string::npos);
}

TEST_CASE("format: kcat tokens and escapes") {
    auto f = output_format::parse("%t [%p] @%o %T: %k=%s (%K/%S) %h %%\\n");
    REQUIRE(f);
    record_fields r;
    r.topic = "orders";
    r.partition = 2;
    r.offset = 17;
    r.timestamp_ms = 1700000000123;
    r.key = "k1";
    r.value = "hello";
    r.headers = {{"h1", "v1"}, {"h2", std::nullopt}};
    std::string out;
    f.value().append(r, out);
    CHECK(out == "orders [2] @17 1700000000123: k1=hello (2/5) h1=v1,h2= %\n");
    CHECK(f.value().uses_headers());
}

TEST_CASE("format: null key and value print as nothing, lengths as -1") {
    auto f = output_format::parse("[%k][%s][%K][%S]");
    REQUIRE(f);
    CHECK_FALSE(f.value().uses_headers());
    record_fields r;
    std::string out;
    f.value().append(r, out);
    CHECK(out == "[][][-1][-1]");
}

TEST_CASE("format: unsupported tokens are refused") {
    auto bad = output_format::parse("%s %x");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message.find("'%x'") != std::string::npos);
    CHECK_FALSE(output_format::parse("50%"));
}

TEST_CASE("perf_stats: totals, percentiles and the summary line") {
    using clock = perf_stats::clock;
    const auto start = clock::time_point{};
    perf_stats s(1000, start, std::chrono::hours(1));
    for (int i = 0; i < 1000; ++i) {
        // latencies 1..1000 microseconds
        CHECK_FALSE(s.record(i, std::chrono::microseconds(i + 1), 1024, start));
    }
    const auto end = start + std::chrono::seconds(2);
    auto t = s.compute(end);
    CHECK(t.records == 1000);
    CHECK(t.bytes == 1024 * 1000);
    CHECK(t.seconds == doctest::Approx(2.0));
    CHECK(t.avg_latency_ms == doctest::Approx(0.5005));
    CHECK(t.max_latency_ms == doctest::Approx(1.0));
    CHECK(t.p50_ms == doctest::Approx(0.501));
    CHECK(t.p99_ms == doctest::Approx(0.991));
    CHECK(t.p999_ms == doctest::Approx(1.0));
    std::string line = s.summary(end);
    CHECK(line.find("1000 records sent, 500.0 records/sec (0.49 MB/sec), 0.50 ms avg latency, "
                    "1.00 ms max latency, 0.50 ms 50th, ") == 0);
    CHECK(line.ends_with("ms 99.9th."));
}

TEST_CASE("perf_stats: a window line once the interval has passed") {
    using clock = perf_stats::clock;
    const auto start = clock::time_point{};
    perf_stats s(10, start, std::chrono::seconds(5));
    CHECK_FALSE(
        s.record(0, std::chrono::milliseconds(2), 1 << 20, start + std::chrono::seconds(1)));
    auto line = s.record(1, std::chrono::milliseconds(4), 1 << 20, start + std::chrono::seconds(5));
    REQUIRE(line);
    CHECK(
        *line ==
        "2 records sent, 0.4 records/sec (0.40 MB/sec), 3.00 ms avg latency, 4.00 ms max latency.");
    // The window restarts; the totals do not.
    CHECK_FALSE(s.record(2, std::chrono::milliseconds(1), 0, start + std::chrono::seconds(6)));
    CHECK(s.compute(start + std::chrono::seconds(10)).records == 3);
}

TEST_CASE("throttle: paces to the rate") {
    const auto start = perf_stats::clock::now();
    throttle t(1000.0, start, std::chrono::microseconds(0));
    for (int i = 0; i <= 100; ++i) {
        t.pace(i);
    }
    // Record 100 is due 100 ms after start.
    CHECK(perf_stats::clock::now() - start >= std::chrono::milliseconds(99));
    throttle unlimited(-1, perf_stats::clock::now());
    const auto before = perf_stats::clock::now();
    for (int i = 0; i < 100000; ++i) {
        unlimited.pace(i);
    }
    CHECK(perf_stats::clock::now() - before < std::chrono::milliseconds(100));
}

namespace {

// Two batches as a segment holds them: offsets 0-1 (epoch 0) and 2 (epoch 3, producer 7).
std::string segment_bytes() {
    std::string out;
    sluice::batch_builder first;
    first.add(
        {sluice::as_bytes("k1"), sluice::as_bytes("hello"), sluice::timestamp_ms_t{1000}, {}});
    first.add({std::nullopt, sluice::as_bytes("a\nb"), sluice::timestamp_ms_t{1001}, {}});
    auto one = first.finish();
    sluice::set_leader_epoch(one, sluice::leader_epoch_t{0});
    sluice::batch_builder second(
        {sluice::producer_id_t{7}, sluice::producer_epoch_t{1}, sluice::sequence_t{0}, 0});
    second.add({sluice::as_bytes("k3"), std::nullopt, sluice::timestamp_ms_t{1002}, {}});
    auto two = second.finish();
    sluice::set_base_offset(two, sluice::offset_t{2});
    sluice::set_leader_epoch(two, sluice::leader_epoch_t{3});
    out.append(reinterpret_cast<const char*>(one.data()), one.size());
    out.append(reinterpret_cast<const char*>(two.data()), two.size());
    return out;
}

std::vector<std::string> dump(const std::string& bytes, bool records, dump_summary* summary) {
    std::istringstream in(bytes);
    std::vector<std::string> lines;
    *summary = dump_log(in, records, [&](const std::string& l) { lines.push_back(l); });
    return lines;
}

}  // namespace

TEST_CASE("log dump prints each batch and, with records, each record") {
    const std::string bytes = segment_bytes();
    dump_summary s;
    auto lines = dump(bytes, false, &s);
    REQUIRE(lines.size() == 2);
    CHECK(s.batches == 2);
    CHECK(s.records == 3);
    CHECK(s.invalid == 0);
    CHECK(s.stopped.empty());
    CHECK(s.position == int64_t(bytes.size()));
    CHECK(lines[0].starts_with("baseOffset: 0 lastOffset: 1 count: 2 "));
    CHECK(lines[0].find("partitionLeaderEpoch: 0 ") != std::string::npos);
    CHECK(lines[0].find("position: 0 ") != std::string::npos);
    CHECK(lines[0].ends_with("isvalid: true"));
    CHECK(lines[1].starts_with("baseOffset: 2 lastOffset: 2 count: 1 baseSequence: 0 "));
    CHECK(lines[1].find("producerId: 7 producerEpoch: 1 partitionLeaderEpoch: 3 ") !=
          std::string::npos);

    lines = dump(bytes, true, &s);
    REQUIRE(lines.size() == 5);
    CHECK(lines[1] ==
          "| offset: 0 CreateTime: 1000 keySize: 2 valueSize: 5 headerKeys: [] key: k1 "
          "payload: hello");
    CHECK(lines[2].find("key: null payload: a\\x0ab") != std::string::npos);  // one line
    CHECK(lines[4].find("offset: 2 ") != std::string::npos);
    CHECK(lines[4].ends_with("valueSize: -1 headerKeys: [] key: k3 payload: null"));
}

TEST_CASE("log dump shows a damaged batch as invalid and stops at bytes that are no batch") {
    std::string bytes = segment_bytes();
    dump_summary s;
    // A flipped byte in the first batch's records: its CRC fails, the second still reads.
    bytes[sluice::batch_format::header_size + 2] ^= 0x5a;
    auto lines = dump(bytes, true, &s);
    CHECK(s.batches == 2);
    CHECK(s.invalid == 1);
    REQUIRE(lines.size() >= 2);
    CHECK(lines[0].ends_with("isvalid: false"));
    CHECK(lines[1].starts_with("| records not shown: "));
    // A torn tail: half a header after the last batch.
    bytes = segment_bytes() + std::string(30, '\0');
    dump(bytes, false, &s);
    CHECK(s.batches == 2);
    CHECK(s.stopped.find("30 bytes at position") != std::string::npos);
    // Garbage where a header should be.
    bytes = segment_bytes() + std::string(100, '\xff');
    dump(bytes, false, &s);
    CHECK(s.batches == 2);
    CHECK(s.stopped.find("not a batch header") != std::string::npos);
}
