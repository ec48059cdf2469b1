// Conditional appends on a real broker process, through the producer library: a conflict appends
// nothing and names the partition's true end; many writers incrementing one counter without a
// lock leave exactly the successful appends in the log, and every conflict's end lies between
// the end the writer expected and the end it read right after.
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "client_helpers.h"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

producer_record conditional(const std::string& topic, std::string value,
                            std::optional<int64_t> expected) {
    producer_record r;
    r.topic = topic;
    r.partition = 0;
    r.value = std::move(value);
    r.expected_offset = expected;
    return r;
}

// The partition's end, asked until a leader answers; -1 if none did. (No assertions here: the
// writers' threads call it.)
int64_t end_of(consumer& c, const topic_partition& tp) {
    for (int attempt = 0; attempt < 100; ++attempt) {
        if (auto ends = c.end_offsets({tp})) {
            return ends.value().at(tp);
        }
        std::this_thread::sleep_for(50ms);
    }
    return -1;
}

// The value of the record at `end` - 1 (0 when `end` is 0), or -1 if it could not be read.
int64_t value_before(consumer& c, const topic_partition& tp, int64_t end) {
    if (end == 0) {
        return 0;
    }
    if (!c.seek(tp, end - 1)) {
        return -1;
    }
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
        auto got = c.poll(100ms);
        if (!got) {
            return -1;
        }
        for (const auto& r : got.value()) {
            if (r.offset == end - 1) {
                return std::stoll(r.value.value_or("-1"));
            }
        }
    }
    return -1;
}

struct conflict_seen {
    int64_t expected;  // the end the writer appended at
    int64_t reported;  // the end the conflict named
    int64_t after;     // the end the writer read after the conflict
    int64_t value;     // the counter in the record just below `reported`
};

}  // namespace

TEST_CASE("conditional append: a conflict writes nothing and names the partition's end") {
    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    REQUIRE(create_topic(broker, "cas", 1));
    auto p = producer::create(producer_for(broker));
    REQUIRE(p);

    auto first = p.value()->send_conditional(conditional("cas", "a", 0)).get();
    REQUIRE_MESSAGE(first.written, first.written.error().message());
    CHECK(first.written.value().offset == 0);
    CHECK(first.log_end_offset == -1);

    auto stale = p.value()->send_conditional(conditional("cas", "b", 0)).get();
    REQUIRE_FALSE(stale.written);
    CHECK(stale.written.error() == errc::conflict);
    CHECK(stale.log_end_offset == 1);

    for (const char* v : {"c", "d", "e"}) {
        REQUIRE(p.value()->send(conditional("cas", v, std::nullopt)).get());
    }
    auto behind = p.value()->send_conditional(conditional("cas", "f", 1)).get();
    REQUIRE_FALSE(behind.written);
    CHECK(behind.written.error() == errc::conflict);
    CHECK(behind.log_end_offset == 4);
    // Ahead of the end is a conflict too.
    auto ahead = p.value()->send_conditional(conditional("cas", "g", 9)).get();
    REQUIRE_FALSE(ahead.written);
    CHECK(ahead.written.error() == errc::conflict);
    CHECK(ahead.log_end_offset == 4);
    auto at_end = p.value()->send_conditional(conditional("cas", "h", 4)).get();
    REQUIRE(at_end.written);
    CHECK(at_end.written.value().offset == 4);
    // The plain send of a conditional record gives the same error, without the end.
    auto plain = p.value()->send(conditional("cas", "i", 0)).get();
    REQUIRE_FALSE(plain);
    CHECK(plain.error() == errc::conflict);

    // Refused in the library: no expected offset, or no partition.
    auto unconditional = p.value()->send_conditional(conditional("cas", "j", std::nullopt)).get();
    REQUIRE_FALSE(unconditional.written);
    CHECK(unconditional.written.error() == client_errc::invalid_record);
    auto anywhere = conditional("cas", "k", 5);
    anywhere.partition.reset();
    auto unplaced = p.value()->send_conditional(std::move(anywhere)).get();
    REQUIRE_FALSE(unplaced.written);
    CHECK(unplaced.written.error() == client_errc::invalid_record);

    auto c = consumer::create(consumer_for(broker));
    REQUIRE(c);
    REQUIRE(c.value()->assign(partitions_of("cas", 1)));
    auto got = poll_until(*c.value(), 5, 20s);
    REQUIRE(got);
    std::vector<std::string> values;
    for (const auto& r : got.value()) {
        values.push_back(r.value.value_or(""));
    }
    CHECK(values == std::vector<std::string>{"a", "c", "d", "e", "h"});
    CHECK(end_of(*c.value(), {"cas", 0}) == 5);
}

TEST_CASE("conditional append: many writers, one counter, no lock") {
    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    REQUIRE(create_topic(broker, "counter", 1));
    const topic_partition tp{"counter", 0};
    constexpr int writers = 8;
    constexpr int increments = 30;

    std::mutex mutex;
    std::vector<conflict_seen> conflicts;  // guarded by mutex
    std::vector<std::string> errors;       // guarded by mutex
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
        threads.emplace_back([&] {
            auto cc = consumer_for(broker);
            cc.fetch_max_wait_ms = 0;
            auto c = consumer::create(cc);
            auto pc = producer_for(broker);
            pc.linger_ms = 0;
            auto p = producer::create(pc);
            if (!c || !p || !c.value()->assign({tp})) {
                std::lock_guard lock(mutex);
                errors.push_back("cannot start a client");
                return;
            }
            int64_t end = 0;
            int64_t value = 0;
            for (int done = 0; done < increments;) {
                auto outcome =
                    p.value()
                        ->send_conditional(conditional("counter", std::to_string(value + 1), end))
                        .get();
                if (outcome.written) {
                    ++done;
                    const int64_t at = outcome.written.value().offset;
                    value += 1;
                    end = at >= 0 ? at + 1 : end_of(*c.value(), tp);
                    continue;
                }
                if (outcome.written.error() != errc::conflict) {
                    std::lock_guard lock(mutex);
                    errors.push_back(outcome.written.error().message());
                    return;
                }
                // Go on from the end the conflict named, with the value found there.
                const int64_t after = end_of(*c.value(), tp);
                const int64_t named = outcome.log_end_offset;
                const int64_t found = named >= 0 ? value_before(*c.value(), tp, named) : -1;
                std::lock_guard lock(mutex);
                conflicts.push_back({end, named, after, found});
                if (after < 0 || found < 0) {
                    errors.push_back(
                        fmt::format("no value before the end {} a conflict named "
                                    "(end read after: {})",
                                    named, after));
                    return;
                }
                end = named;
                value = found;
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    REQUIRE_MESSAGE(errors.empty(), (errors.empty() ? "" : errors.front()));
    constexpr int64_t n = int64_t(writers) * increments;

    // The end a conflict names is the leader's log end when it refused: past the end the writer
    // expected (the log only grew since that end was true) and at most the end read after (one
    // replica in page-cache mode: the high watermark that end_offsets gives is the log end).
    // And it is an end the log really had: the record below it holds the count of records up to
    // it (the counter at offset k is k + 1).
    for (const conflict_seen& s : conflicts) {
        INFO("expected ", s.expected, ", conflict named ", s.reported, ", read after ", s.after);
        CHECK(s.reported > s.expected);
        CHECK(s.reported <= s.after);
        CHECK(s.value == s.reported);
    }
    MESSAGE("increments: ", n, ", conflicts: ", conflicts.size());

    // The log is exactly 1, 2, ..., n: no increment lost or doubled.
    auto c = consumer::create(consumer_for(broker));
    REQUIRE(c);
    REQUIRE(c.value()->assign({tp}));
    auto got = poll_until(*c.value(), size_t(n), 30s);
    REQUIRE(got);
    REQUIRE(got.value().size() == size_t(n));
    for (int64_t i = 0; i < n; ++i) {
        const auto& r = got.value()[size_t(i)];
        REQUIRE(r.offset == i);
        REQUIRE(r.value.value_or("") == std::to_string(i + 1));
    }
    CHECK(end_of(*c.value(), tp) == n);
}
