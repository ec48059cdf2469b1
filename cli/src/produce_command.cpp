// `sluice produce TOPIC`: one record per line of stdin, like kcat -P.
//
// Lines are split at '\n' (the newline is not part of the record); empty lines are skipped, as
// kcat does. With -k SEP a line is split at the first SEP into key and value; a line without SEP
// has no key. The command exits when stdin ends and every record has completed: 0 if all were
// acknowledged, else 1 with one line naming the first error and the input line of its record.
// --report prints a line per acknowledged record (kcat's format tokens), in acknowledgement
// order; --expect-offset makes every record a conditional append.
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include <fmt/format.h>

#include "client_setup.h"
#include "command.h"
#include "sluice/cli/format.h"
#include "sluice/client/admin.h"
#include "sluice/producer/producer.h"
#include "sluice/protocol/errc.h"

namespace sluice::cli {
namespace {

constexpr std::string_view cmd = "produce";

constexpr std::array produce_options{
    bootstrap_option,
    option{'k', "key-delimiter", "SEP",
           "split each line at the first SEP into key and value (escapes: \\t \\n \\xNN)"},
    option{'p', "partition", "N",
           "produce to this partition (default: murmur2 of the key; sticky without a key)"},
    option{0, "acks", "0|1|all", "acknowledgement the producer waits for (default: all)"},
    option{'X', "property", "KEY=VALUE", "a producer property, e.g. linger.ms=10", true},
    option{0, "print-offsets", "",
           "print 'PARTITION OFFSET LINE' to stdout for each acknowledged record, as it is"},
    option{0, "report", "FORMAT",
           "print FORMAT to stdout for each acknowledged record, in acknowledgement order "
           "(kcat's tokens: %t %p %o %k %s %T %K %S %%; escapes \\n \\t ...)"},
    option{0, "expect-offset", "E",
           "conditional append (needs -p): the first record only at offset E, the next at E+1, "
           "...; else CONFLICT and nothing more is written"},
};

// What a record's completion prints: its input line (--print-offsets), or its key and value
// (--report).
struct sent_record {
    int64_t line_number = 0;
    int64_t expected_offset = -1;
    std::string text;
    std::optional<std::string> key;
    std::optional<std::string> value;
};

// Outcomes of the records, written by completion callbacks on the producer's I/O thread.
struct delivery_state {
    std::atomic<int64_t> failed{0};
    std::atomic<bool> any_failed{false};
    std::mutex mutex;
    std::error_code first_error;  // guarded by mutex
    int64_t first_failed_line = 0;
    int64_t first_failed_expected = -1;
    int64_t first_failed_end = -1;  // the partition's end, when it conflicted
    const std::string* topic = nullptr;
    bool print_offsets = false;
    const output_format* report = nullptr;
    std::string out;  // reused

    void on_result(const result<record_metadata>& r, const sent_record& rec,
                   int64_t conflict_end = -1) {
        if (r) {
            if (print_offsets) {
                std::lock_guard lock(mutex);
                std::printf("%d %lld %s\n", r.value().partition,
                            static_cast<long long>(r.value().offset), rec.text.c_str());
            } else if (report != nullptr) {
                std::lock_guard lock(mutex);
                record_fields f;
                f.topic = *topic;
                f.partition = r.value().partition;
                f.offset = r.value().offset;
                f.timestamp_ms = r.value().timestamp_ms;
                if (rec.key) {
                    f.key = *rec.key;
                }
                if (rec.value) {
                    f.value = *rec.value;
                }
                out.clear();
                report->append(f, out);
                std::fwrite(out.data(), 1, out.size(), stdout);
            }
            return;
        }
        failed.fetch_add(1, std::memory_order_relaxed);
        std::lock_guard lock(mutex);
        if (!first_error) {
            first_error = r.error();
            first_failed_line = rec.line_number;
            first_failed_expected = rec.expected_offset;
            first_failed_end = conflict_end;
        }
        any_failed.store(true, std::memory_order_release);
    }
};

}  // namespace

int run_produce(std::span<const std::string> args) {
    int rc = exit_ok;
    auto a = parse_command(cmd, args, produce_options,
                           "sluice produce TOPIC [-k SEP] [-p PARTITION] [--acks 0|1|all] "
                           "[--print-offsets | --report FORMAT] [--expect-offset E] "
                           "[-X property=value ...]",
                           "Produces one record per line of stdin and exits when stdin ends and "
                           "every record\nis acknowledged.",
                           1, rc);
    if (!a) {
        return rc;
    }
    const std::string& topic = a->positional[0];
    std::optional<std::string> key_delimiter;
    if (auto k = a->get("key-delimiter")) {
        auto d = unescape(*k, "-k/--key-delimiter");
        if (!d) {
            return usage_error(cmd, d.error());
        }
        if (d.value().empty()) {
            return usage_error(cmd, "-k/--key-delimiter: the delimiter is empty");
        }
        key_delimiter = std::move(d).value();
    }
    std::optional<int32_t> partition;
    if (auto p = a->get("partition")) {
        auto v = parse_int(*p, "-p/--partition", 0, INT32_MAX);
        if (!v) {
            return usage_error(cmd, v.error());
        }
        partition = int32_t(v.value());
    }
    std::optional<int64_t> expect_offset;
    if (auto e = a->get("expect-offset")) {
        auto v = parse_int(*e, "--expect-offset", 0, INT64_MAX);
        if (!v) {
            return usage_error(cmd, v.error());
        }
        if (!partition) {
            return usage_error(cmd,
                               "--expect-offset needs -p/--partition: a conditional append "
                               "is to one partition");
        }
        expect_offset = v.value();
    }
    std::optional<output_format> report;
    if (auto f = a->get("report")) {
        if (a->has("print-offsets")) {
            return usage_error(cmd, "--report and --print-offsets: choose one");
        }
        auto parsed = output_format::parse(*f, "--report");
        if (!parsed) {
            return usage_error(cmd, parsed.error());
        }
        report = std::move(parsed).value();
    }
    std::map<std::string, std::string> overrides;
    if (auto acks = a->get("acks")) {
        if (*acks != "0" && *acks != "1" && *acks != "all" && *acks != "-1") {
            return usage_error(cmd, fmt::format("--acks: '{}' is not 0, 1 or all", *acks));
        }
        overrides["acks"] = *acks;  // --acks wins over -X acks=...
    }
    const std::string servers = bootstrap_servers(*a);
    auto config = producer_config_from(*a, "property", "-X/--property", overrides);
    if (!config) {
        return usage_error(cmd, config.error());
    }
    if (expect_offset && config.value().acks == 0) {
        return usage_error(cmd,
                           "--expect-offset needs acks 1 or all: with acks 0 no CONFLICT "
                           "comes back");
    }
    if (int check = check_topic(cmd, config.value(), topic, partition); check != exit_ok) {
        return check;
    }
    auto created = producer::create(config.value());
    if (!created) {
        return fail(error_line(cmd, created.error(), "", servers));
    }
    producer& p = *created.value();

    delivery_state state;
    state.topic = &topic;
    state.print_offsets = a->has("print-offsets");
    state.report = report ? &*report : nullptr;
    const bool keep_text = state.print_offsets || report;
    int64_t sent = 0;
    int64_t line_number = 0;
    char* line = nullptr;
    size_t capacity = 0;
    ssize_t n = 0;
    while (!state.any_failed.load(std::memory_order_acquire) &&
           (n = ::getline(&line, &capacity, stdin)) >= 0) {
        std::string_view text(line, size_t(n));
        ++line_number;
        if (!text.empty() && text.back() == '\n') {
            text.remove_suffix(1);
        }
        if (text.empty()) {
            continue;
        }
        producer_record r;
        r.topic = topic;
        r.partition = partition;
        size_t at = key_delimiter ? text.find(*key_delimiter) : std::string_view::npos;
        if (at != std::string_view::npos) {
            r.key = std::string(text.substr(0, at));
            r.value = std::string(text.substr(at + key_delimiter->size()));
        } else {
            r.value = std::string(text);
        }
        if (expect_offset) {
            r.expected_offset = *expect_offset + sent;
        }
        sent_record rec{line_number, r.expected_offset.value_or(-1), {}, {}, {}};
        if (keep_text) {
            rec.text = std::string(text);
            rec.key = r.key;
            rec.value = r.value;
        }
        if (expect_offset) {
            p.send_conditional(std::move(r),
                               [&state, rec = std::move(rec)](const conditional_result& c) {
                                   state.on_result(c.written, rec, c.log_end_offset);
                               });
            // One at a time: a record after one that conflicted must not be written (in flight
            // together, the later one could find the end where it expects it).
            (void)p.flush();
        } else {
            p.send(std::move(r), [&state, rec = std::move(rec)](const result<record_metadata>& m) {
                state.on_result(m, rec);
            });
        }
        ++sent;
    }
    const bool read_error = std::ferror(stdin) != 0;
    std::free(line);
    auto flushed = p.flush();
    p.close();

    if (state.any_failed.load(std::memory_order_acquire)) {
        std::error_code ec;
        int64_t at = 0;
        int64_t expected = -1;
        int64_t end = -1;
        {
            std::lock_guard lock(state.mutex);
            ec = state.first_error;
            at = state.first_failed_line;
            expected = state.first_failed_expected;
            end = state.first_failed_end;
        }
        std::string what = fmt::format(
            "{} of {} records not delivered to topic '{}' (the first: "
            "line {})",
            state.failed.load(), sent, topic, at);
        if (ec == errc::conflict && end >= 0) {
            what += fmt::format(
                "; the partition ended at offset {}, not {}: read up to there and send "
                "from line {} on again with --expect-offset {}",
                end, expected, at, end);
        } else if (ec == errc::conflict) {
            what += fmt::format(
                "; the partition did not end at offset {}: read its end again "
                "and retry",
                expected);
        }
        return fail(error_line(cmd, ec, what, servers));
    }
    if (!flushed) {
        return fail(error_line(cmd, flushed.error(), "flush failed", servers));
    }
    if (read_error) {
        return fail("produce: reading stdin failed");
    }
    return exit_ok;
}

}  // namespace sluice::cli
