// Statistics of `sluice perf produce`, shaped like Kafka's producer performance tool: a window
// line every report interval and a final line with throughput, average and maximum latency and
// latency percentiles. Latency is per record, from send() to its completion callback.
//
// Thread safety: record() runs on the producer's I/O thread (completion callbacks); summary()
// runs on the main thread after flush(). A mutex guards the counters; it is uncontended in
// practice because callbacks come from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sluice::cli {

class perf_stats {
  public:
    using clock = std::chrono::steady_clock;

    // At most this many latencies are kept for percentiles; with more records, every k-th
    // record is sampled (k = ceil(num_records / latency_samples_max)).
    static constexpr int64_t latency_samples_max = 1 << 20;

    perf_stats(int64_t num_records, clock::time_point start,
               std::chrono::milliseconds report_interval = std::chrono::seconds(5));

    // One completed record. Returns a window line ("X records sent, Y records/sec (Z MB/sec),
    // A ms avg latency, M ms max latency.") when a report interval has passed, else nullopt.
    std::optional<std::string> record(int64_t index, std::chrono::microseconds latency,
                                      int64_t bytes, clock::time_point now);

    // "N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency, P50 ms 50th,
    // P95 ms 95th, P99 ms 99th, P999 ms 99.9th." over everything recorded since start.
    std::string summary(clock::time_point end) const;

    struct totals {
        int64_t records = 0;
        int64_t bytes = 0;
        double seconds = 0;
        double avg_latency_ms = 0;
        double max_latency_ms = 0;
        double p50_ms = 0, p95_ms = 0, p99_ms = 0, p999_ms = 0;
    };
    totals compute(clock::time_point end) const;

  private:
    struct window {
        clock::time_point start;
        int64_t records = 0;
        int64_t bytes = 0;
        int64_t latency_us_sum = 0;
        int64_t latency_us_max = 0;
    };

    mutable std::mutex mutex_;
    clock::time_point start_;
    std::chrono::milliseconds report_interval_;
    int64_t sampling_;
    window total_;
    window window_;
    std::vector<int32_t> samples_us_;  // bounded by latency_samples_max
};

// Paces a sender to `records_per_second` (<= 0: no limit), like Kafka's throughput throttler:
// before record i it sleeps until start + i / rate whenever it is ahead of that schedule by more
// than `slack`, so small bursts (slack x rate records) are allowed and sleeps stay coarse.
class throttle {
  public:
    throttle(double records_per_second, perf_stats::clock::time_point start,
             std::chrono::microseconds slack = std::chrono::microseconds(500));
    void pace(int64_t sent_so_far);

  private:
    double rate_;
    perf_stats::clock::time_point start_;
    std::chrono::microseconds slack_;
};

}  // namespace sluice::cli
