// `sluice perf produce`: a producer load generator shaped like kafka-producer-perf-test.
//
// Sends --num-records records of --record-size bytes (random upper-case letters, no key) from the
// main thread, paced to --throughput records/s unless that is -1. Each record's latency runs from
// just before send() to its completion callback on the producer's I/O thread. A window line is
// printed every 5 s and a summary line at the end (see perf_stats.h for both shapes).
#include <array>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>

#include <fmt/format.h>

#include "client_setup.h"
#include "command.h"
#include "sluice/cli/perf_stats.h"
#include "sluice/producer/producer.h"
#include "stop_signal.h"

namespace sluice::cli {
namespace {

constexpr std::string_view cmd = "perf produce";

constexpr std::array perf_produce_options{
    bootstrap_option,
    option{0, "topic", "TOPIC", "topic to produce to (required)"},
    option{0, "num-records", "N", "number of records to send (required)"},
    option{0, "record-size", "BYTES", "size of each record's value (required)"},
    option{0, "throughput", "R", "records per second at most; -1: unthrottled (default)"},
    option{0, "producer-property", "KEY=VALUE", "a producer property, e.g. linger.ms=5", true},
};

// What completion callbacks update; lives on the main thread's stack until close() returns.
struct run_state {
    perf_stats stats;
    int64_t record_bytes;
    std::atomic<int64_t> completed{0};
    std::atomic<int64_t> failed{0};
    std::mutex mutex;
    std::error_code first_error;  // guarded by mutex

    run_state(int64_t n, perf_stats::clock::time_point start, int64_t bytes)
        : stats(n, start), record_bytes(bytes) {}

    void on_result(const result<record_metadata>& r, perf_stats::clock::time_point sent) {
        const auto now = perf_stats::clock::now();
        const int64_t index = completed.fetch_add(1, std::memory_order_relaxed);
        if (!r) {
            failed.fetch_add(1, std::memory_order_relaxed);
            std::lock_guard lock(mutex);
            if (!first_error) {
                first_error = r.error();
            }
            return;
        }
        auto latency = std::chrono::duration_cast<std::chrono::microseconds>(now - sent);
        if (auto line = stats.record(index, latency, record_bytes, now)) {
            std::fprintf(stdout, "%s\n", line->c_str());
            std::fflush(stdout);
        }
    }
};

std::optional<int64_t> required_int(const parsed_args& a, std::string_view name, int64_t min,
                                    int64_t max, int& exit_code) {
    auto text = a.get(name);
    if (!text) {
        exit_code = usage_error(cmd, fmt::format("--{} is required", name));
        return std::nullopt;
    }
    auto v = parse_int(*text, fmt::format("--{}", name), min, max);
    if (!v) {
        exit_code = usage_error(cmd, v.error());
        return std::nullopt;
    }
    return v.value();
}

}  // namespace

int run_perf_produce(std::span<const std::string> args) {
    int rc = exit_ok;
    auto a = parse_command(cmd, args, perf_produce_options,
                           "sluice perf produce --topic T --num-records N --record-size S "
                           "[--throughput R] [--producer-property k=v ...]",
                           "Measures producer throughput and per-record latency, like "
                           "kafka-producer-perf-test.",
                           0, rc);
    if (!a) {
        return rc;
    }
    auto topic = a->get("topic");
    if (!topic) {
        return usage_error(cmd, "--topic is required");
    }
    auto num_records = required_int(*a, "num-records", 1, INT64_MAX, rc);
    if (!num_records) {
        return rc;
    }
    auto record_size = required_int(*a, "record-size", 0, 64 << 20, rc);
    if (!record_size) {
        return rc;
    }
    double throughput = -1;
    if (auto t = a->get("throughput")) {
        auto v = parse_int(*t, "--throughput", -1, INT64_MAX);
        if (!v) {
            return usage_error(cmd, v.error());
        }
        if (v.value() == 0) {
            return usage_error(cmd, "--throughput: 0 is not a rate (use -1 for unthrottled)");
        }
        throughput = double(v.value());
    }
    const std::string servers = bootstrap_servers(*a);
    auto config = producer_config_from(*a, "producer-property", "--producer-property");
    if (!config) {
        return usage_error(cmd, config.error());
    }
    if (int check = check_topic(cmd, config.value(), *topic, std::nullopt); check != exit_ok) {
        return check;
    }
    auto created = producer::create(config.value());
    if (!created) {
        return fail(error_line(cmd, created.error(), "", servers));
    }
    producer& p = *created.value();

    std::string payload(size_t(*record_size), 'A');
    std::mt19937 rng(42);
    for (char& ch : payload) {
        ch = char('A' + rng() % 26);
    }

    install_stop_signals();
    const auto start = perf_stats::clock::now();
    run_state state(*num_records, start, *record_size);
    throttle pacer(throughput, start);
    int64_t sent = 0;
    for (; sent < *num_records && !stop_requested(); ++sent) {
        pacer.pace(sent);
        producer_record r;
        r.topic = *topic;
        r.value = payload;
        const auto t0 = perf_stats::clock::now();
        // Two pointers' worth of capture: fits std::function's small buffer (no allocation).
        p.send(std::move(r),
               [s = &state, t0](const result<record_metadata>& m) { s->on_result(m, t0); });
    }
    auto flushed = p.flush();
    const auto end = perf_stats::clock::now();
    std::fprintf(stdout, "%s\n", state.stats.summary(end).c_str());
    std::fflush(stdout);
    p.close();

    if (state.failed.load() > 0) {
        std::error_code ec;
        {
            std::lock_guard lock(state.mutex);
            ec = state.first_error;
        }
        return fail(error_line(
            cmd, ec, fmt::format("{} of {} records failed", state.failed.load(), sent), servers));
    }
    if (!flushed) {
        return fail(error_line(cmd, flushed.error(), "flush failed", servers));
    }
    return exit_ok;
}

}  // namespace sluice::cli
