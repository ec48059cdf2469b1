// A counter kept in one partition, incremented by several writers that never lock: each knows
// where the partition ends and its last value there, and appends value + 1 on the condition that
// the partition still ends there (a conditional append). A writer that lost the race gets
// CONFLICT with the partition's true end, nothing of its record is written, and it reads the
// value at that end and tries again. At the end the partition holds 1, 2, 3, ... with no
// increment lost or doubled, which the program checks.
//
//   optimistic_counter BOOTSTRAP [WRITERS] [INCREMENTS] [TOPIC]
//
// Prints the final count and the conflict rate; exit status 0 when the log is exactly 1..N.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sluice/client/admin.h>
#include <sluice/consumer/consumer.h>
#include <sluice/producer/producer.h>

namespace {

using namespace std::chrono_literals;

struct totals {
    std::atomic<int64_t> increments{0};
    std::atomic<int64_t> conflicts{0};
    std::atomic<bool> failed{false};
};

// The value of the record at `end` - 1 (0 for an empty partition), or nullopt if it could not
// be read (a leader change: read again).
std::optional<int64_t> value_before(sluice::consumer& c, const sluice::topic_partition& tp,
                                    int64_t end) {
    if (end == 0) {
        return 0;
    }
    if (!c.seek(tp, end - 1)) {
        return std::nullopt;
    }
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
        auto got = c.poll(100ms);
        if (!got) {
            return std::nullopt;
        }
        for (const auto& r : got.value()) {
            if (r.offset == end - 1) {
                return std::stoll(r.value.value_or("0"));
            }
        }
    }
    return std::nullopt;
}

void writer(const sluice::client_config& client, const std::string& topic, int increments,
            totals& t) {
    const sluice::topic_partition tp{topic, 0};
    sluice::consumer_config cc;
    static_cast<sluice::client_config&>(cc) = client;
    // The record read is there when it is asked for: a fetch need not wait for more.
    cc.fetch_max_wait_ms = 0;
    auto consumer = sluice::consumer::create(cc);
    sluice::producer_config pc;
    static_cast<sluice::client_config&>(pc) = client;
    pc.linger_ms = 0;
    auto producer = sluice::producer::create(pc);
    if (!consumer || !producer || !consumer.value()->assign({tp})) {
        std::fprintf(stderr, "writer: cannot start a client\n");
        t.failed = true;
        return;
    }
    // Where the partition ends and the value there, as this writer last knew them: from the
    // first read, from its own last append, or from a conflict (which names the end). -1: the
    // end is not known; known == false: the value is not.
    int64_t end = -1;
    int64_t value = 0;
    bool known = false;
    for (int done = 0; done < increments && !t.failed;) {
        if (end < 0) {
            auto ends = consumer.value()->end_offsets({tp});
            if (!ends) {
                continue;  // a leader change: ask again
            }
            end = ends.value().at(tp);
            known = false;
        }
        if (!known) {
            auto v = value_before(*consumer.value(), tp, end);
            if (!v) {
                end = -1;
                continue;
            }
            value = *v;
            known = true;
        }
        sluice::producer_record r;
        r.topic = topic;
        r.partition = 0;
        r.value = std::to_string(value + 1);
        r.expected_offset = end;  // only if nobody appended since
        auto outcome = producer.value()->send_conditional(std::move(r)).get();
        if (outcome.written) {
            ++done;
            ++t.increments;
            // This writer's record is the last (offset -1: written, offset unknown; ask).
            const int64_t at = outcome.written.value().offset;
            end = at >= 0 ? at + 1 : -1;
            value += 1;
        } else if (outcome.written.error() == sluice::errc::conflict) {
            ++t.conflicts;  // another writer was first: read the last value there and go again
            end = outcome.log_end_offset;
            known = false;
        } else {
            std::fprintf(stderr, "writer: %s\n", outcome.written.error().message().c_str());
            t.failed = true;
        }
    }
}

// Whether partition 0 of `topic` is empty.
bool empty_partition(const sluice::client_config& client, const std::string& topic) {
    sluice::consumer_config cc;
    static_cast<sluice::client_config&>(cc) = client;
    auto c = sluice::consumer::create(cc);
    const sluice::topic_partition tp{topic, 0};
    for (int attempt = 0; c && attempt < 50; ++attempt) {
        auto ends = c.value()->end_offsets({tp});
        if (ends) {
            return ends.value().at(tp) == 0;
        }
        std::this_thread::sleep_for(100ms);  // a leader not elected yet
    }
    return false;
}

// Whether the partition holds exactly 1, 2, ..., n at offsets 0 .. n-1.
bool check_log(const sluice::client_config& client, const std::string& topic, int64_t n) {
    sluice::consumer_config cc;
    static_cast<sluice::client_config&>(cc) = client;
    cc.auto_offset_reset = "earliest";
    auto c = sluice::consumer::create(cc);
    const sluice::topic_partition tp{topic, 0};
    if (!c || !c.value()->assign({tp})) {
        return false;
    }
    int64_t next = 0;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (next < n && std::chrono::steady_clock::now() < deadline) {
        auto got = c.value()->poll(200ms);
        if (!got) {
            return false;
        }
        for (const auto& r : got.value()) {
            if (r.offset != next || std::stoll(r.value.value_or("-1")) != next + 1) {
                std::fprintf(stderr, "offset %lld holds %s, not %lld\n", (long long)r.offset,
                             r.value.value_or("null").c_str(), (long long)(next + 1));
                return false;
            }
            ++next;
        }
    }
    auto ends = c.value()->end_offsets({tp});
    return next == n && ends && ends.value().at(tp) == n;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr,
                     "usage: optimistic_counter BOOTSTRAP [WRITERS] [INCREMENTS] [TOPIC]\n");
        return 2;
    }
    sluice::client_config client;
    client.bootstrap_servers = sluice::split_servers(argv[1]);
    const int writers = argc > 2 ? std::atoi(argv[2]) : 4;
    const int increments = argc > 3 ? std::atoi(argv[3]) : 100;
    const std::string topic = argc > 4 ? argv[4] : "optimistic-counter";
    if (writers < 1 || increments < 1) {
        std::fprintf(stderr, "WRITERS and INCREMENTS must be 1 or more\n");
        return 2;
    }

    auto admin = sluice::admin::create(client);
    if (!admin) {
        std::fprintf(stderr, "admin: %s\n", admin.error().message().c_str());
        return 1;
    }
    // A topic made beforehand (with the replication wanted, say) will do while it is empty.
    auto created = admin.value()->create_topic(topic, 1);
    if (!created && created.error() != sluice::errc::topic_already_exists) {
        std::fprintf(stderr, "create topic %s: %s\n", topic.c_str(),
                     created.error().message().c_str());
        return 1;
    }
    if (!created && !empty_partition(client, topic)) {
        std::fprintf(stderr, "topic %s holds records already: a counter starts at 0\n",
                     topic.c_str());
        return 1;
    }

    totals t;
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int i = 0; i < writers; ++i) {
        threads.emplace_back(writer, std::cref(client), std::cref(topic), increments, std::ref(t));
    }
    for (auto& th : threads) {
        th.join();
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const int64_t n = t.increments.load();
    const int64_t attempts = n + t.conflicts.load();
    const bool exact =
        !t.failed && n == int64_t(writers) * increments && check_log(client, topic, n);
    std::printf(
        "counter=%lld writers=%d increments_per_writer=%d conflicts=%lld attempts=%lld "
        "conflict_rate=%.3f increments_per_s=%.0f log=%s\n",
        (long long)n, writers, increments, (long long)t.conflicts.load(), (long long)attempts,
        attempts > 0 ? double(t.conflicts.load()) / double(attempts) : 0.0,
        seconds > 0 ? double(n) / seconds : 0.0, exact ? "exactly-1..N" : "WRONG");
    return exact ? 0 : 1;
}
