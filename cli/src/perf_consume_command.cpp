// `sluice perf consume`: a consumer throughput test shaped like kafka-consumer-perf-test.
//
// Reads every partition of --topic from the beginning until --messages records have arrived,
// or until --timeout ms pass without a record. Prints Kafka's CSV header and one line:
// start and end time, MB consumed and MB/s (MB = 2^20 bytes of keys and values), records and
// records/s, and the elapsed milliseconds.
#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "client_setup.h"
#include "command.h"
#include "sluice/consumer/consumer.h"
#include "sluice/protocol/errc.h"
#include "stop_signal.h"

namespace sluice::cli {
namespace {

constexpr std::string_view cmd = "perf consume";

constexpr std::array perf_consume_options{
    bootstrap_option,
    option{0, "topic", "TOPIC", "topic to consume (required)"},
    option{0, "messages", "N", "records to consume (required)"},
    option{0, "timeout", "MS", "give up after this long without a record (default 10000)"},
    option{0, "consumer-property", "KEY=VALUE", "a consumer property, e.g. fetch.max.bytes=1048576",
           true},
};

// "2024-05-01 12:00:00:123", Kafka's tool's date format.
std::string wall_time(std::chrono::system_clock::time_point t) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    std::time_t secs = std::time_t(ms / 1000);
    std::tm tm{};
    localtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return fmt::format("{}:{:03}", buf, ms % 1000);
}

}  // namespace

int run_perf_consume(std::span<const std::string> args) {
    int rc = exit_ok;
    auto a = parse_command(cmd, args, perf_consume_options,
                           "sluice perf consume --topic T --messages N [--timeout MS] "
                           "[--consumer-property k=v ...]",
                           "Measures consumer throughput, like kafka-consumer-perf-test.", 0, rc);
    if (!a) {
        return rc;
    }
    auto topic = a->get("topic");
    if (!topic) {
        return usage_error(cmd, "--topic is required");
    }
    auto messages_text = a->get("messages");
    if (!messages_text) {
        return usage_error(cmd, "--messages is required");
    }
    auto messages = parse_int(*messages_text, "--messages", 1, INT64_MAX);
    if (!messages) {
        return usage_error(cmd, messages.error());
    }
    auto timeout = parse_int(a->get("timeout").value_or("10000"), "--timeout", 1, INT32_MAX);
    if (!timeout) {
        return usage_error(cmd, timeout.error());
    }
    const std::string servers = bootstrap_servers(*a);
    auto config = consumer_config_from(*a, "consumer-property", "--consumer-property");
    if (!config) {
        return usage_error(cmd, config.error());
    }
    auto created = consumer::create(config.value());
    if (!created) {
        return fail(error_line(cmd, created.error(), "", servers));
    }
    consumer& c = *created.value();
    auto partitions = c.partitions_for(*topic);
    if (!partitions) {
        return fail(topic_error_line(cmd, partitions.error(), *topic, servers));
    }
    std::vector<topic_partition> tps;
    for (int32_t p : partitions.value()) {
        tps.push_back({*topic, p});
    }
    if (auto r = c.assign(tps); !r) {
        return fail(error_line(cmd, r.error(), "assign", servers));
    }
    if (auto r = c.seek_to_beginning(tps); !r) {
        return fail(error_line(cmd, r.error(), "seek", servers));
    }

    install_stop_signals();
    using clock = std::chrono::steady_clock;
    const auto wall_start = std::chrono::system_clock::now();
    const auto start = clock::now();
    auto last_record = start;
    int64_t records = 0;
    int64_t bytes = 0;
    const auto idle_max = std::chrono::milliseconds(timeout.value());
    while (records < messages.value() && !stop_requested()) {
        auto polled = c.poll_view(std::chrono::milliseconds(100));
        if (!polled) {
            return fail(
                error_line(cmd, polled.error(), fmt::format("topic '{}'", *topic), servers));
        }
        const auto now = clock::now();
        if (polled.value().empty()) {
            if (now - last_record > idle_max) {
                break;
            }
            continue;
        }
        last_record = now;
        for (const consumer_record_ref& r : polled.value()) {
            bytes += int64_t(r.key ? r.key->size() : 0) + int64_t(r.value ? r.value->size() : 0);
        }
        records += int64_t(polled.value().size());
    }
    const double secs = std::max(std::chrono::duration<double>(last_record - start).count(), 1e-9);
    const double mb = double(bytes) / (1024.0 * 1024.0);
    const auto wall_end =
        wall_start +
        std::chrono::duration_cast<std::chrono::system_clock::duration>(last_record - start);
    std::printf(
        "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, "
        "nMsg.sec, time.ms\n");
    std::printf(
        "%s, %s, %.4f, %.4f, %lld, %.4f, %lld\n", wall_time(wall_start).c_str(),
        wall_time(wall_end).c_str(), mb, mb / secs, static_cast<long long>(records),
        double(records) / secs,
        static_cast<long long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(last_record - start).count()));
    std::fflush(stdout);
    c.close();
    if (records < messages.value() && !stop_requested()) {
        return fail(fmt::format("{}: consumed {} of {} records: none arrived for {} ms", cmd,
                                records, messages.value(), timeout.value()));
    }
    return exit_ok;
}

}  // namespace sluice::cli
