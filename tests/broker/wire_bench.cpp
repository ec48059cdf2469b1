// broker-wire-bench: drives a running sluice-broker with hand-built frames, to measure the broker
// alone (no client library in the way). Prebuilt batches are sent again and again with several
// requests in flight; a consumer run fetches everything back.
//
//   broker-wire-bench produce PORT TOPIC [records=1000000] [record_bytes=1024]
//                     [batch_bytes=262144] [in_flight=8] [acks=1]
//   broker-wire-bench consume PORT TOPIC [partition_max_bytes=4194304]
//
// produce creates the topic (one partition) if it does not exist; partition 0 is used. Prints one
// line of figures.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>

// wire_client asserts with doctest; outside a test run a failed assertion aborts.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "sluice/protocol/record_batch.h"
#include "wire_client.h"

using namespace sluice;
using namespace sluice::testing;

namespace {

long arg(int argc, char** argv, int i, long fallback) {
    return argc > i ? std::atol(argv[i]) : fallback;
}

int produce(int argc, char** argv, uint16_t port, const std::string& topic) {
    const long records = arg(argc, argv, 4, 1000000);
    const long record_bytes = arg(argc, argv, 5, 1024);
    const long batch_bytes = arg(argc, argv, 6, 256 * 1024);
    const long in_flight = arg(argc, argv, 7, 8);
    const int16_t acks = int16_t(arg(argc, argv, 8, 1));
    const long per_batch = std::max(1L, batch_bytes / (record_bytes + 20));
    // A few different batches, reused: the broker stamps offsets into its own copy.
    std::vector<std::vector<std::byte>> batches;
    std::string value(size_t(record_bytes), 'v');
    for (int b = 0; b < 8; ++b) {
        batch_builder builder;
        for (long r = 0; r < per_batch; ++r) {
            value[0] = char('a' + (b + r) % 26);
            builder.add({.key = std::nullopt,
                         .value = as_bytes(value),
                         .timestamp = timestamp_ms_t{1'700'000'000'000 + r}});
        }
        batches.push_back(builder.finish());
    }
    wire_client c(port);
    c.call(create_topics_request(0, topic, 1));  // TOPIC_ALREADY_EXISTS is fine
    const long requests = (records + per_batch - 1) / per_batch;
    long sent = 0;
    long answered = 0;
    uint64_t bytes = 0;
    auto t0 = std::chrono::steady_clock::now();
    while (answered < requests) {
        while (sent < requests && sent - answered < in_flight) {
            const auto& b = batches[size_t(sent) % batches.size()];
            c.send(produce_request(int32_t(sent), topic, 0, b, acks));
            bytes += b.size();
            ++sent;
            if (acks == 0) {
                ++answered;
            }
        }
        if (acks != 0) {
            auto f = c.receive(std::chrono::seconds(30));
            if (!f) {
                std::fprintf(stderr, "no response\n");
                return 1;
            }
            const auto* pr =
                f->envelope->body_as_ProduceResponse()->topics()->Get(0)->partitions()->Get(0);
            if (pr->error_code() != 0) {
                std::fprintf(stderr, "produce error %d\n", pr->error_code());
                return 1;
            }
            ++answered;
        }
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf(
        "produce records=%ld record_bytes=%ld batch_records=%ld in_flight=%ld acks=%d "
        "seconds=%.2f records_s=%.0f mb_s=%.1f\n",
        requests * per_batch, record_bytes, per_batch, in_flight, acks, s,
        double(requests * per_batch) / s, double(bytes) / s / 1e6);
    return 0;
}

int consume(int argc, char** argv, uint16_t port, const std::string& topic) {
    const int32_t partition_max = int32_t(arg(argc, argv, 4, 4 << 20));
    wire_client c(port);
    int64_t offset = 0;
    uint64_t bytes = 0;
    int64_t hw = -1;
    auto t0 = std::chrono::steady_clock::now();
    for (;;) {
        auto f = c.call(
            fetch_request(c.next_correlation(), topic, 0, offset, 0, 1, partition_max, 64 << 20));
        const auto* pr =
            f.envelope->body_as_FetchResponse()->topics()->Get(0)->partitions()->Get(0);
        hw = pr->high_watermark();
        auto data = frame::resolve(pr->records(), f.data);
        if (!data || data.value().empty()) {
            break;
        }
        bytes += data.value().size();
        // The next offset: after the last batch (headers only, no CRC check here).
        int64_t next = offset;
        size_t pos = 0;
        auto all = data.value();
        while (pos + batch_format::header_size <= all.size()) {
            auto h = read_header(all.subspan(pos));
            if (!h) {
                break;
            }
            next = h.value().next_offset().value();
            pos += h.value().size_bytes();
        }
        if (next == offset) {
            break;
        }
        offset = next;
        if (offset >= hw) {
            break;
        }
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("consume records=%lld bytes=%llu seconds=%.2f mb_s=%.1f\n", (long long)offset,
                (unsigned long long)bytes, s, double(bytes) / s / 1e6);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    doctest::Context assertions;
    assertions.setAsDefaultForAssertsOutOfTestCases();
    assertions.setAssertHandler([](const doctest::AssertData& d) {
        std::fprintf(stderr, "%s:%d: %s failed\n", d.m_file, d.m_line, d.m_expr);
        std::abort();
    });
    if (argc < 4) {
        std::fprintf(stderr, "usage: broker-wire-bench produce|consume PORT TOPIC [...]\n");
        return 2;
    }
    std::string mode = argv[1];
    auto port = uint16_t(std::atoi(argv[2]));
    std::string topic = argv[3];
    return mode == "produce" ? produce(argc, argv, port, topic) : consume(argc, argv, port, topic);
}
