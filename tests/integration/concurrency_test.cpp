// Many clients at once: 50 threads, each with its own producer and consumer, start together
// and interleave producing and consuming: every 25 sends a client flushes and polls its own
// consumer for what has arrived so far, while the other 49 are doing the same. Each client reads
// back its own records in order; at the end one consumer accounts for every record exactly once.
#include <doctest/doctest.h>

#include <atomic>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "broker_process.h"
#include "client_helpers.h"

namespace {

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

constexpr int clients = 50;
constexpr int records_per_client = 400;
constexpr int flush_every = 25;
constexpr int32_t partitions = 8;

// What happened in a client thread (doctest assertions stay on the main thread).
struct client_report {
    std::string error;
    int read_back = 0;
    int polls_with_records = 0;  // polls that returned some of this client's records early
};

class client_run {
  public:
    client_run(const broker_process& broker, int id)
        : broker_(broker), key_("client-" + std::to_string(id)) {}

    client_report run(std::latch& start) {
        auto p = producer::create(producer_for(broker_));
        auto c = consumer::create(consumer_for(broker_));
        start.arrive_and_wait();  // everyone begins at once
        if (!p || !c) {
            report_.error = "create: " + (!p ? p.error() : c.error()).message();
            return report_;
        }
        topic_partition tp{"shared", murmur2_partition(key_, partitions)};
        if (!c.value()->assign({tp}) || !c.value()->seek_to_beginning({tp})) {
            report_.error = "assign/seek failed";
            return report_;
        }
        for (int i = 0; i < records_per_client && report_.error.empty(); ++i) {
            producer_record r;
            r.topic = "shared";
            r.key = key_;
            r.value = key_ + "/" + std::to_string(i);
            p.value()->send(std::move(r), [this](const result<record_metadata>& m) {
                if (!m) {
                    std::lock_guard lock(mutex_);
                    failures_++;
                    first_error_ = m.error();
                }
            });
            if ((i + 1) % flush_every == 0) {
                if (auto f = p.value()->flush(); !f) {
                    report_.error = "flush: " + f.error().message();
                }
                const int before = report_.read_back;
                read(*c.value(), 50ms);
                if (report_.read_back > before) {
                    report_.polls_with_records++;
                }
            }
        }
        p.value()->close();
        {
            std::lock_guard lock(mutex_);
            if (failures_ > 0 && report_.error.empty()) {
                report_.error =
                    std::to_string(failures_) + " sends failed: " + first_error_.message();
            }
        }
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        while (report_.error.empty() && report_.read_back < records_per_client &&
               std::chrono::steady_clock::now() < deadline) {
            read(*c.value(), 200ms);
        }
        return report_;
    }

  private:
    // One poll: checks this client's records continue its sequence.
    void read(consumer& c, std::chrono::milliseconds timeout) {
        auto batch = c.poll(timeout);
        if (!batch) {
            report_.error = "poll: " + batch.error().message();
            return;
        }
        for (const consumer_record& r : batch.value()) {
            if (r.key != key_) {
                continue;
            }
            if (r.value != key_ + "/" + std::to_string(report_.read_back)) {
                report_.error = "out of order: expected " + std::to_string(report_.read_back) +
                                ", got " + r.value.value_or("<null>");
                return;
            }
            report_.read_back++;
        }
    }

    const broker_process& broker_;
    const std::string key_;
    client_report report_;
    std::mutex mutex_;  // guards failures_ and first_error_ (written by callbacks)
    int failures_ = 0;
    std::error_code first_error_;
};

}  // namespace

TEST_CASE("concurrency: 50 clients produce and consume at once; every record is accounted for") {
    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    REQUIRE(create_topic(broker, "shared", partitions).has_value());

    const auto start = std::chrono::steady_clock::now();
    std::vector<client_report> reports(clients);
    std::vector<std::thread> threads;
    std::latch ready(clients);
    for (int id = 0; id < clients; ++id) {
        threads.emplace_back([&, id] {
            client_run client(broker, id);
            reports[size_t(id)] = client.run(ready);
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    MESSAGE(clients, " clients finished in ", took, " s");
    for (int id = 0; id < clients; ++id) {
        CAPTURE(id);
        CHECK_MESSAGE(reports[size_t(id)].error.empty(), reports[size_t(id)].error);
        CHECK(reports[size_t(id)].read_back == records_per_client);
        // The client read records while it (and the others) were still producing.
        CHECK(reports[size_t(id)].polls_with_records > 1);
    }

    // One reader accounts for every record exactly once.
    auto c = consumer::create(consumer_for(broker));
    REQUIRE(c.has_value());
    auto tps = partitions_of("shared", partitions);
    REQUIRE(c.value()->assign(tps).has_value());
    REQUIRE(c.value()->seek_to_beginning(tps).has_value());
    auto all = poll_until(*c.value(), size_t(clients * records_per_client), 60s);
    REQUIRE(all.has_value());
    std::set<std::string> values;
    for (const consumer_record& r : all.value()) {
        CHECK_MESSAGE(values.insert(r.value.value_or("")).second, "duplicate ", *r.value);
        CHECK(r.partition == murmur2_partition(*r.key, partitions));
    }
    CHECK(values.size() == size_t(clients * records_per_client));
    auto s = broker.stop();
    REQUIRE(s.has_value());
    CHECK_MESSAGE(s.value().exited_with(0), broker.log_tail());
}
