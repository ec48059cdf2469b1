// Produce and consume through a real broker with the client libraries: keys, values, headers,
// explicit and partitioner-chosen partitions, null keys and values. Every record arrives exactly
// once, at the partition and offset its acknowledgement named, in order within its partition.
#include <doctest/doctest.h>

#include <future>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "broker_process.h"
#include "client_helpers.h"

namespace {

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

constexpr int32_t partitions = 4;
constexpr int records = 4000;

// What record i carries: key k<i%37> (every 10th has a null key), value v<i> (every 101st is
// null), headers seq=<i> and, on every 3rd, a header with a null value; every 7th record names
// its partition explicitly.
producer_record record_for(const std::string& topic, int i) {
    producer_record r;
    r.topic = topic;
    if (i % 10 != 0) {
        r.key = "k" + std::to_string(i % 37);
    }
    if (i % 101 != 0) {
        r.value = "v" + std::to_string(i) + std::string(size_t(i % 300), 'x');
    }
    r.headers.push_back({"seq", std::to_string(i)});
    if (i % 3 == 0) {
        r.headers.push_back({"empty", std::nullopt});
    }
    if (i % 7 == 0) {
        r.partition = i % partitions;
    }
    return r;
}

}  // namespace

TEST_CASE("produce and consume: keys, values, headers over several partitions, exactly once") {
    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    REQUIRE(create_topic(broker, "orders", partitions).has_value());

    auto p = producer::create(producer_for(broker));
    REQUIRE(p.has_value());
    std::vector<std::future<result<record_metadata>>> acks;
    for (int i = 0; i < records; ++i) {
        acks.push_back(p.value()->send(record_for("orders", i)));
    }
    REQUIRE(p.value()->flush().has_value());
    std::vector<record_metadata> meta(records);
    for (int i = 0; i < records; ++i) {
        REQUIRE(acks[size_t(i)].wait_for(30s) == std::future_status::ready);
        auto m = acks[size_t(i)].get();
        REQUIRE_MESSAGE(m.has_value(), "record ", i, ": ", m.error().message());
        meta[size_t(i)] = m.value();
        const producer_record sent = record_for("orders", i);
        CHECK(m.value().topic == "orders");
        if (sent.partition) {
            CHECK(m.value().partition == *sent.partition);
        } else if (sent.key) {
            CHECK(m.value().partition == murmur2_partition(*sent.key, partitions));
        }
    }
    p.value()->close();

    auto c = consumer::create(consumer_for(broker));
    REQUIRE(c.has_value());
    auto tps = partitions_of("orders", partitions);
    REQUIRE(c.value()->assign(tps).has_value());
    REQUIRE(c.value()->seek_to_beginning(tps).has_value());
    auto got = poll_until(*c.value(), records, 60s);
    REQUIRE(got.has_value());
    REQUIRE(got.value().size() == size_t(records));

    std::map<int32_t, int64_t> last_offset;  // per partition
    std::map<int32_t, int> last_seq;
    std::set<int> seen;
    for (const consumer_record& r : got.value()) {
        REQUIRE(r.headers.size() >= 1);
        CHECK(r.headers[0].key == "seq");
        REQUIRE(r.headers[0].value.has_value());
        const int i = std::stoi(*r.headers[0].value);
        REQUIRE(i >= 0);
        REQUIRE(i < records);
        CHECK_MESSAGE(seen.insert(i).second, "record ", i, " arrived twice");
        const producer_record sent = record_for("orders", i);
        CHECK(r.topic == "orders");
        CHECK(r.key == sent.key);
        CHECK(r.value == sent.value);
        REQUIRE(r.headers.size() == sent.headers.size());
        for (size_t h = 0; h < r.headers.size(); ++h) {
            CHECK(r.headers[h].key == sent.headers[h].key);
            CHECK(r.headers[h].value == sent.headers[h].value);
        }
        CHECK(r.partition == meta[size_t(i)].partition);
        CHECK(r.offset == meta[size_t(i)].offset);
        // Order within a partition: offsets and send order both increase.
        if (last_offset.contains(r.partition)) {
            CHECK(r.offset > last_offset[r.partition]);
            CHECK(i > last_seq[r.partition]);
        }
        last_offset[r.partition] = r.offset;
        last_seq[r.partition] = i;
    }
    CHECK(seen.size() == size_t(records));
    // Offsets within each partition are dense from 0: the log end is the record count.
    auto ends = c.value()->end_offsets(tps);
    REQUIRE(ends.has_value());
    int64_t total = 0;
    for (const auto& [tp, end] : ends.value()) {
        CHECK(end == last_offset[tp.partition] + 1);
        total += end;
    }
    CHECK(total == records);
    // Nothing more arrives.
    auto extra = c.value()->poll(300ms);
    REQUIRE(extra.has_value());
    CHECK(extra.value().empty());
}

TEST_CASE("produce and consume: a consumer started at the end sees only later records") {
    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    REQUIRE(create_topic(broker, "events", 2).has_value());
    auto p = producer::create(producer_for(broker));
    REQUIRE(p.has_value());
    for (int i = 0; i < 50; ++i) {
        p.value()->send(record_for("events", i), [](const result<record_metadata>&) {});
    }
    REQUIRE(p.value()->flush().has_value());

    auto c = consumer::create(consumer_for(broker));
    REQUIRE(c.has_value());
    auto tps = partitions_of("events", 2);
    REQUIRE(c.value()->assign(tps).has_value());
    REQUIRE(c.value()->seek_to_end(tps).has_value());
    auto none = c.value()->poll(300ms);
    REQUIRE(none.has_value());
    CHECK(none.value().empty());

    auto later = p.value()->send(record_for("events", 1000)).get();
    REQUIRE(later.has_value());
    auto got = poll_until(*c.value(), 1, 20s);
    REQUIRE(got.has_value());
    REQUIRE(got.value().size() == 1);
    CHECK(got.value()[0].headers[0].value == "1000");
    CHECK(got.value()[0].offset == later.value().offset);
}
