#include "sluice/cli/perf_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>

#include <fmt/format.h>

namespace sluice::cli {
namespace {

constexpr double bytes_per_mb = 1024.0 * 1024.0;  // Kafka's perf tools count MB as 2^20 bytes

double seconds_between(perf_stats::clock::time_point a, perf_stats::clock::time_point b) {
    return std::max(std::chrono::duration<double>(b - a).count(), 1e-9);
}

// The q-quantile (0 < q < 1) of sorted samples, in milliseconds; 0 with no samples.
double quantile_ms(const std::vector<int32_t>& sorted_us, double q) {
    if (sorted_us.empty()) {
        return 0;
    }
    auto i = size_t(q * double(sorted_us.size()));
    return sorted_us[std::min(i, sorted_us.size() - 1)] / 1000.0;
}

}  // namespace

perf_stats::perf_stats(int64_t num_records, clock::time_point start,
                       std::chrono::milliseconds report_interval)
    : start_(start),
      report_interval_(report_interval),
      sampling_(
          std::max<int64_t>(1, (num_records + latency_samples_max - 1) / latency_samples_max)) {
    total_.start = start;
    window_.start = start;
    samples_us_.reserve(size_t(std::min(num_records, latency_samples_max)));
}

std::optional<std::string> perf_stats::record(int64_t index, std::chrono::microseconds latency,
                                              int64_t bytes, clock::time_point now) {
    const int64_t us = std::max<int64_t>(0, latency.count());
    std::lock_guard lock(mutex_);
    for (window* w : {&total_, &window_}) {
        w->records++;
        w->bytes += bytes;
        w->latency_us_sum += us;
        w->latency_us_max = std::max(w->latency_us_max, us);
    }
    if (index % sampling_ == 0 && int64_t(samples_us_.size()) < latency_samples_max) {
        samples_us_.push_back(int32_t(std::min<int64_t>(us, std::numeric_limits<int32_t>::max())));
    }
    if (now - window_.start < report_interval_) {
        return std::nullopt;
    }
    const double s = seconds_between(window_.start, now);
    std::string line = fmt::format(
        "{} records sent, {:.1f} records/sec ({:.2f} MB/sec), {:.2f} ms avg latency, {:.2f} ms max "
        "latency.",
        window_.records, double(window_.records) / s, double(window_.bytes) / bytes_per_mb / s,
        double(window_.latency_us_sum) / double(window_.records) / 1000.0,
        double(window_.latency_us_max) / 1000.0);
    window_ = window{.start = now};
    return line;
}

perf_stats::totals perf_stats::compute(clock::time_point end) const {
    std::vector<int32_t> sorted;
    totals t;
    {
        std::lock_guard lock(mutex_);
        sorted = samples_us_;
        t.records = total_.records;
        t.bytes = total_.bytes;
        t.avg_latency_ms = total_.records == 0
                               ? 0
                               : double(total_.latency_us_sum) / double(total_.records) / 1000.0;
        t.max_latency_ms = double(total_.latency_us_max) / 1000.0;
    }
    t.seconds = seconds_between(start_, end);
    std::sort(sorted.begin(), sorted.end());
    t.p50_ms = quantile_ms(sorted, 0.5);
    t.p95_ms = quantile_ms(sorted, 0.95);
    t.p99_ms = quantile_ms(sorted, 0.99);
    t.p999_ms = quantile_ms(sorted, 0.999);
    return t;
}

std::string perf_stats::summary(clock::time_point end) const {
    const totals t = compute(end);
    return fmt::format(
        "{} records sent, {:.1f} records/sec ({:.2f} MB/sec), {:.2f} ms avg latency, {:.2f} ms max "
        "latency, {:.2f} ms 50th, {:.2f} ms 95th, {:.2f} ms 99th, {:.2f} ms 99.9th.",
        t.records, double(t.records) / t.seconds, double(t.bytes) / bytes_per_mb / t.seconds,
        t.avg_latency_ms, t.max_latency_ms, t.p50_ms, t.p95_ms, t.p99_ms, t.p999_ms);
}

throttle::throttle(double records_per_second, perf_stats::clock::time_point start,
                   std::chrono::microseconds slack)
    : rate_(records_per_second), start_(start), slack_(slack) {}

void throttle::pace(int64_t sent_so_far) {
    if (rate_ <= 0) {
        return;
    }
    const auto due = start_ + std::chrono::duration_cast<perf_stats::clock::duration>(
                                  std::chrono::duration<double>(double(sent_so_far) / rate_));
    if (due - perf_stats::clock::now() > slack_) {
        std::this_thread::sleep_until(due);
    }
}

}  // namespace sluice::cli
