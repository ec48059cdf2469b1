// sluice-client-bench: throughput and latency of the producer and consumer libraries against a
// running broker. Not a test; used to measure the figures in docs/clients.md.
//
//   sluice-client-bench produce  BOOTSTRAP TOPIC RECORDS [RECORD_BYTES] [key=value producer
//   props...] sluice-client-bench latency  BOOTSTRAP TOPIC RATE SECONDS [RECORD_BYTES] [props...]
//   sluice-client-bench consume  BOOTSTRAP TOPIC RECORDS [key=value consumer props...]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sluice/client/admin.h"
#include "sluice/consumer/consumer.h"
#include "sluice/producer/producer.h"

using namespace sluice;
using clk = std::chrono::steady_clock;

namespace {

std::map<std::string, std::string> props_from(int argc, char** argv, int first) {
    std::map<std::string, std::string> out;
    for (int i = first; i < argc; ++i) {
        std::string a = argv[i];
        const size_t eq = a.find('=');
        if (eq != std::string::npos) {
            out[a.substr(0, eq)] = a.substr(eq + 1);
        }
    }
    return out;
}

double seconds_since(clk::time_point t0) {
    return std::chrono::duration<double>(clk::now() - t0).count();
}

int produce(const std::string& bootstrap, const std::string& topic, long records, size_t bytes,
            std::map<std::string, std::string> props) {
    props["bootstrap.servers"] = bootstrap;
    auto cfg = producer_config::from_properties(props);
    if (!cfg) {
        std::fprintf(stderr, "%s\n", cfg.error().message().c_str());
        return 2;
    }
    auto p = producer::create(cfg.value()).value();
    const std::string value(bytes, 'x');
    std::atomic<long> failed{0};
    const auto t0 = clk::now();
    for (long i = 0; i < records; ++i) {
        p->send(producer_record{topic, std::nullopt, value, {}, std::nullopt, std::nullopt},
                [&failed](const result<record_metadata>& r) {
                    if (!r) {
                        failed++;
                    }
                });
    }
    (void)p->flush();
    const double s = seconds_since(t0);
    std::printf("produce records=%ld bytes=%zu seconds=%.3f records_s=%.0f mb_s=%.1f failed=%ld\n",
                records, bytes, s, records / s, double(records) * double(bytes) / s / 1e6,
                failed.load());
    return failed == 0 ? 0 : 1;
}

int latency(const std::string& bootstrap, const std::string& topic, long rate, double secs,
            size_t bytes, std::map<std::string, std::string> props) {
    props["bootstrap.servers"] = bootstrap;
    if (!props.contains("linger.ms")) {
        props["linger.ms"] = "0";
    }
    auto cfg = producer_config::from_properties(props);
    if (!cfg) {
        std::fprintf(stderr, "%s\n", cfg.error().message().c_str());
        return 2;
    }
    auto p = producer::create(cfg.value()).value();
    const std::string value(bytes, 'x');
    std::mutex m;
    std::vector<double> lat_us;
    const long total = long(double(rate) * secs);
    lat_us.reserve(size_t(total));
    const auto t0 = clk::now();
    for (long i = 0; i < total; ++i) {
        const auto due = t0 + std::chrono::nanoseconds(long(1e9 * double(i) / double(rate)));
        std::this_thread::sleep_until(due);
        const auto sent = clk::now();
        p->send(producer_record{topic, std::nullopt, value, {}, std::nullopt, std::nullopt},
                [&, sent](const result<record_metadata>& r) {
                    if (r) {
                        const double us =
                            std::chrono::duration<double, std::micro>(clk::now() - sent).count();
                        std::lock_guard lk(m);
                        lat_us.push_back(us);
                    }
                });
    }
    (void)p->flush();
    std::sort(lat_us.begin(), lat_us.end());
    auto pct = [&](double q) {
        return lat_us.empty()
                   ? 0.0
                   : lat_us[std::min(lat_us.size() - 1, size_t(q * double(lat_us.size())))];
    };
    std::printf("latency rate=%ld records=%zu p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f\n",
                rate, lat_us.size(), pct(0.5) / 1e3, pct(0.99) / 1e3, pct(0.999) / 1e3,
                lat_us.empty() ? 0.0 : lat_us.back() / 1e3);
    return 0;
}

int consume(const std::string& bootstrap, const std::string& topic, long records,
            std::map<std::string, std::string> props) {
    props["bootstrap.servers"] = bootstrap;
    auto cfg = consumer_config::from_properties(props);
    if (!cfg) {
        std::fprintf(stderr, "%s\n", cfg.error().message().c_str());
        return 2;
    }
    auto c = consumer::create(cfg.value()).value();
    auto parts = c->partitions_for(topic);
    if (!parts) {
        std::fprintf(stderr, "%s\n", parts.error().message().c_str());
        return 1;
    }
    std::vector<topic_partition> tps;
    for (int32_t p : parts.value()) {
        tps.push_back({topic, p});
    }
    (void)c->assign(tps);
    (void)c->seek_to_beginning(tps);
    long n = 0;
    size_t bytes = 0;
    const auto t0 = clk::now();
    while (n < records) {
        auto r = c->poll(std::chrono::milliseconds(1000));
        if (!r) {
            std::fprintf(stderr, "%s\n", r.error().message().c_str());
            return 1;
        }
        if (r.value().empty() && seconds_since(t0) > 60) {
            break;
        }
        for (const consumer_record& rec : r.value()) {
            bytes += rec.value ? rec.value->size() : 0;
        }
        n += long(r.value().size());
    }
    const double s = seconds_since(t0);
    std::printf("consume records=%ld seconds=%.3f records_s=%.0f mb_s=%.1f\n", n, s, n / s,
                double(bytes) / s / 1e6);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: see the comment at the top of client_bench.cpp\n");
        return 2;
    }
    const std::string mode = argv[1];
    if (mode == "produce") {
        const size_t bytes = argc > 5 && std::string(argv[5]).find('=') == std::string::npos
                                 ? size_t(std::stol(argv[5]))
                                 : 1024;
        return produce(argv[2], argv[3], std::stol(argv[4]), bytes, props_from(argc, argv, 5));
    }
    if (mode == "latency" && argc >= 6) {
        const size_t bytes = argc > 6 && std::string(argv[6]).find('=') == std::string::npos
                                 ? size_t(std::stol(argv[6]))
                                 : 1024;
        return latency(argv[2], argv[3], std::stol(argv[4]), std::stod(argv[5]), bytes,
                       props_from(argc, argv, 6));
    }
    if (mode == "consume") {
        return consume(argv[2], argv[3], std::stol(argv[4]), props_from(argc, argv, 5));
    }
    std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
    return 2;
}
