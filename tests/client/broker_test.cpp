// The client libraries against a real sluice-broker: admin calls, produce and consume round
// trips with every acks setting, partitioning, seeks and offset resets, error reporting, and
// exactly one outcome per record when the broker goes away.
#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "broker_fixture.h"
#include "sluice/client/admin.h"
#include "sluice/consumer/consumer.h"
#include "sluice/producer/producer.h"

using namespace sluice;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<admin> make_admin(const testing::broker_fixture& b) {
    client_config c;
    c.bootstrap_servers = {b.bootstrap()};
    auto a = admin::create(c);
    REQUIRE(a);
    return std::move(a).value();
}

std::unique_ptr<producer> make_producer(const testing::broker_fixture& b, producer_config c = {}) {
    c.bootstrap_servers = {b.bootstrap()};
    auto p = producer::create(c);
    REQUIRE(p);
    return std::move(p).value();
}

std::unique_ptr<consumer> make_consumer(const testing::broker_fixture& b, consumer_config c = {}) {
    c.bootstrap_servers = {b.bootstrap()};
    c.fetch_max_wait_ms = 100;
    auto k = consumer::create(c);
    REQUIRE(k);
    return std::move(k).value();
}

std::vector<topic_partition> partitions(const std::string& topic, int n) {
    std::vector<topic_partition> out;
    for (int i = 0; i < n; ++i) {
        out.push_back({topic, i});
    }
    return out;
}

// Polls until `n` records arrived or `timeout` passed.
std::vector<consumer_record> poll_n(consumer& c, size_t n,
                                    std::chrono::milliseconds timeout = 10s) {
    std::vector<consumer_record> all;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (all.size() < n && std::chrono::steady_clock::now() < deadline) {
        auto r = c.poll(100ms);
        REQUIRE(r);
        for (auto& rec : r.value()) {
            all.push_back(std::move(rec));
        }
    }
    return all;
}

}  // namespace

TEST_CASE("admin: create, list, describe, delete") {
    testing::broker_fixture b;
    REQUIRE_MESSAGE(b.ok(), b.log_tail());
    auto a = make_admin(b);
    REQUIRE(a->create_topic("beta", 3));
    REQUIRE(a->create_topic("alpha", 1, 1, {{"retention.ms", "60000"}}));
    auto again = a->create_topic("beta", 3);
    REQUIRE_FALSE(again);
    CHECK(again.error() == errc::topic_already_exists);
    CHECK(again.error().message() == "TOPIC_ALREADY_EXISTS");

    auto names = a->list_topics();
    REQUIRE(names);
    CHECK(names.value() == std::vector<std::string>{"alpha", "beta"});

    auto info = a->describe_topic("beta");
    REQUIRE(info);
    CHECK(info.value().name == "beta");
    REQUIRE(info.value().partitions.size() == 3);
    for (int i = 0; i < 3; ++i) {
        const partition_info& p = info.value().partitions[size_t(i)];
        CHECK(p.partition == i);
        CHECK(p.leader == 0);
        CHECK(p.replicas == std::vector<int32_t>{0});
        CHECK(p.isr == std::vector<int32_t>{0});
        CHECK(p.log_start_offset == 0);
        CHECK(p.log_end_offset == 0);
    }
    auto none = a->describe_topic("gamma");
    REQUIRE_FALSE(none);
    CHECK(none.error() == errc::unknown_topic_or_partition);

    auto brokers = a->describe_cluster();
    REQUIRE(brokers);
    REQUIRE(brokers.value().size() == 1);
    CHECK(brokers.value()[0].node_id == 0);
    CHECK(brokers.value()[0].port == b.port());

    REQUIRE(a->delete_topic("beta"));
    CHECK(a->list_topics().value() == std::vector<std::string>{"alpha"});
    CHECK(a->delete_topic("beta").error() == errc::unknown_topic_or_partition);
}

TEST_CASE("produce and consume: keys pick murmur2 partitions, offsets are dense") {
    testing::broker_fixture b;
    REQUIRE_MESSAGE(b.ok(), b.log_tail());
    REQUIRE(make_admin(b)->create_topic("t", 3));
    for (int16_t acks : {int16_t(1), int16_t(-1)}) {
        CAPTURE(acks);
        producer_config pc;
        pc.acks = acks;
        pc.linger_ms = 2;
        auto p = make_producer(b, pc);
        std::vector<std::future<result<record_metadata>>> futures;
        const int n = 600;
        for (int i = 0; i < n; ++i) {
            producer_record r;
            r.topic = "t";
            r.key = "key-" + std::to_string(i);
            r.value = "value-" + std::to_string(i);
            r.headers = {{"i", std::to_string(i)}, {"null", std::nullopt}};
            r.timestamp_ms = 1'000'000 + i;
            futures.push_back(p->send(std::move(r)));
        }
        REQUIRE(p->flush());
        std::map<int32_t, std::vector<int64_t>> offsets;
        for (int i = 0; i < n; ++i) {
            REQUIRE(futures[size_t(i)].wait_for(0s) == std::future_status::ready);
            auto md = futures[size_t(i)].get();
            REQUIRE_MESSAGE(md, md.error().message());
            CHECK(md.value().topic == "t");
            CHECK(md.value().partition == murmur2_partition("key-" + std::to_string(i), 3));
            CHECK(md.value().timestamp_ms == 1'000'000 + i);
            offsets[md.value().partition].push_back(md.value().offset);
        }
        for (auto& [part, list] : offsets) {
            std::sort(list.begin(), list.end());
            for (size_t j = 1; j < list.size(); ++j) {
                CHECK(list[j] == list[j - 1] + 1);
            }
        }
    }

    auto c = make_consumer(b);
    REQUIRE(c->assign(partitions("t", 3)));
    REQUIRE(c->seek_to_beginning(partitions("t", 3)));
    auto all = poll_n(*c, 1200);
    REQUIRE(all.size() == 1200);
    std::map<int32_t, int64_t> next;
    std::map<std::string, int> seen;
    for (const consumer_record& r : all) {
        CHECK(r.offset == next[r.partition]);  // in order, no gaps, per partition
        next[r.partition] = r.offset + 1;
        REQUIRE(r.key);
        CHECK(r.partition == murmur2_partition(*r.key, 3));
        const std::string i = r.key->substr(4);
        CHECK(r.value == "value-" + i);
        REQUIRE(r.headers.size() == 2);
        CHECK(r.headers[0].key == "i");
        CHECK(r.headers[0].value == i);
        CHECK_FALSE(r.headers[1].value);
        CHECK(r.timestamp_ms == 1'000'000 + std::stoi(i));
        seen[*r.key]++;
    }
    CHECK(seen.size() == 600);
    auto ends = c->end_offsets(partitions("t", 3));
    REQUIRE(ends);
    for (auto& [tp, end] : ends.value()) {
        CHECK(end == next[tp.partition]);
        CHECK(c->position(tp).value() == end);
    }
    auto info = make_admin(b)->describe_topic("t");
    REQUIRE(info);
    int64_t total = 0;
    for (const partition_info& pi : info.value().partitions) {
        total += pi.log_end_offset - pi.log_start_offset;
    }
    CHECK(total == 1200);
    // Nothing more to read: poll times out empty.
    auto empty = c->poll(50ms);
    REQUIRE(empty);
    CHECK(empty.value().empty());

    // poll_view() hands out the same records as views, which stay valid after the consumer that
    // fetched them is gone.
    std::vector<consumer_records> views;
    size_t viewed = 0;
    {
        auto v = make_consumer(b);
        REQUIRE(v->assign(partitions("t", 3)));
        REQUIRE(v->seek_to_beginning(partitions("t", 3)));
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (viewed < 1200 && std::chrono::steady_clock::now() < deadline) {
            auto r = v->poll_view(100ms);
            REQUIRE(r);
            viewed += r.value().size();
            views.push_back(std::move(r).value());
        }
    }
    REQUIRE(viewed == 1200);
    std::map<std::pair<int32_t, int64_t>, const consumer_record*> copies;
    for (const consumer_record& r : all) {
        copies[{r.partition, r.offset}] = &r;
    }
    for (const consumer_records& polled : views) {
        for (const consumer_record_ref& r : polled) {
            const consumer_record* want = copies[{r.partition, r.offset}];
            REQUIRE(want != nullptr);
            CHECK(r.topic == want->topic);
            CHECK(r.key == want->key);
            CHECK(r.value == want->value);
            CHECK(r.timestamp_ms == want->timestamp_ms);
            REQUIRE(r.headers.size() == want->headers.size());
            for (size_t h = 0; h < r.headers.size(); ++h) {
                CHECK(r.headers[h].key == want->headers[h].key);
                CHECK(r.headers[h].value == want->headers[h].value);
            }
            copies.erase({r.partition, r.offset});  // each record exactly once
        }
    }
    CHECK(copies.empty());
}

TEST_CASE("acks=0 completes records unacknowledged; keyless records stick") {
    testing::broker_fixture b;
    REQUIRE_MESSAGE(b.ok(), b.log_tail());
    REQUIRE(make_admin(b)->create_topic("z", 4));
    producer_config pc;
    pc.acks = 0;
    pc.batch_size = 2000;
    pc.linger_ms = 50;
    auto p = make_producer(b, pc);
    std::atomic<int> done{0};
    std::atomic<int> bad{0};
    for (int i = 0; i < 200; ++i) {
        producer_record r;
        r.topic = "z";
        r.value = std::string(100, 'x');
        p->send(std::move(r), [&](const result<record_metadata>& md) {
            if (!md || md.value().offset != -1) {
                bad++;
            }
            done++;
        });
    }
    REQUIRE(p->flush());
    CHECK(done == 200);
    CHECK(bad == 0);
    p->close();
    auto c = make_consumer(b);
    REQUIRE(c->assign(partitions("z", 4)));
    REQUIRE(c->seek_to_beginning({}));
    auto all = poll_n(*c, 200);
    CHECK(all.size() == 200);
    // Sticky partitioning fills a batch per partition before moving on, so records come in
    // runs: far fewer partition switches than records.
    std::map<int32_t, int> per;
    for (auto& r : all) {
        per[r.partition]++;
    }
    CHECK(per.size() >= 2);
}

TEST_CASE("seek, seek_to_end, seek_to_timestamp, position") {
    testing::broker_fixture b;
    REQUIRE_MESSAGE(b.ok(), b.log_tail());
    REQUIRE(make_admin(b)->create_topic("s", 1));
    producer_config pc;
    pc.linger_ms = 20;  // several records per batch, so seeks land inside batches
    auto p = make_producer(b, pc);
    for (int i = 0; i < 100; ++i) {
        producer_record r;
        r.topic = "s";
        r.value = std::to_string(i);
        r.timestamp_ms = 5000 + 10 * i;
        p->send(std::move(r), nullptr);
    }
    REQUIRE(p->flush());

    auto c = make_consumer(b);
    const topic_partition tp{"s", 0};
    CHECK(c->seek(tp, 5).error() == client_errc::invalid_config);  // not assigned
    REQUIRE(c->assign({tp}));
    REQUIRE(c->seek(tp, 37));
    CHECK(c->position(tp).value() == 37);
    auto first = poll_n(*c, 1);
    REQUIRE_FALSE(first.empty());
    CHECK(first[0].offset == 37);
    CHECK(first[0].value == "37");

    REQUIRE(c->seek_to_timestamp(tp, 5000 + 10 * 60 - 5));
    CHECK(c->position(tp).value() == 60);
    auto at = poll_n(*c, 1);
    REQUIRE_FALSE(at.empty());
    CHECK(at[0].offset == 60);

    REQUIRE(c->seek_to_timestamp(tp, 99'999'999));  // after every record: the end
    CHECK(c->position(tp).value() == 100);

    REQUIRE(c->seek_to_end({tp}));
    CHECK(c->position(tp).value() == 100);
    CHECK(c->poll(100ms).value().empty());
    producer_record r;
    r.topic = "s";
    r.value = "late";
    REQUIRE(p->send(std::move(r)).get());
    auto late = poll_n(*c, 1);
    REQUIRE(late.size() == 1);
    CHECK(late[0].offset == 100);
    CHECK(late[0].value == "late");

    auto begins = c->beginning_offsets({tp});
    REQUIRE(begins);
    CHECK(begins.value().at(tp) == 0);
}

TEST_CASE("positions: auto.offset.reset and OFFSET_OUT_OF_RANGE") {
    testing::broker_fixture b;
    REQUIRE_MESSAGE(b.ok(), b.log_tail());
    REQUIRE(make_admin(b)->create_topic("r", 1));
    auto p = make_producer(b);
    for (int i = 0; i < 10; ++i) {
        producer_record r;
        r.topic = "r";
        r.value = std::to_string(i);
        p->send(std::move(r), nullptr);
    }
    REQUIRE(p->flush());
    const topic_partition tp{"r", 0};

    consumer_config latest;
    auto c1 = make_consumer(b, latest);
    REQUIRE(c1->assign({tp}));
    CHECK(c1->position(tp).value() == 10);  // Kafka's default: latest

    consumer_config earliest;
    earliest.auto_offset_reset = "earliest";
    auto c2 = make_consumer(b, earliest);
    REQUIRE(c2->assign({tp}));
    auto all = poll_n(*c2, 10);
    CHECK(all.size() == 10);
    // Out of range: reset to the earliest again.
    REQUIRE(c2->seek(tp, 1000));
    auto again = poll_n(*c2, 10);
    REQUIRE(again.size() == 10);
    CHECK(again[0].offset == 0);

    consumer_config none;
    none.auto_offset_reset = "none";
    auto c3 = make_consumer(b, none);
    REQUIRE(c3->assign({tp}));
    auto no_pos = c3->poll(100ms);
    REQUIRE_FALSE(no_pos);
    CHECK(no_pos.error().message().find("seek first") != std::string::npos);
    REQUIRE(c3->seek(tp, 1000));
    result<std::vector<consumer_record>> out_of_range = std::vector<consumer_record>{};
    for (int i = 0; i < 50 && out_of_range; ++i) {
        out_of_range = c3->poll(100ms);
    }
    REQUIRE_FALSE(out_of_range);
    CHECK(out_of_range.error() == errc::offset_out_of_range);
    CHECK(out_of_range.error().message() == "OFFSET_OUT_OF_RANGE");
    // A seek clears it.
    REQUIRE(c3->seek(tp, 3));
    auto fine = poll_n(*c3, 7);
    REQUIRE(fine.size() == 7);
    CHECK(fine[0].offset == 3);
}

TEST_CASE("errors reach the caller: unknown topic, bad partition, too large, unreachable") {
    testing::broker_fixture b({"auto.create.topics.enable=false"});
    REQUIRE_MESSAGE(b.ok(), b.log_tail());
    REQUIRE(make_admin(b)->create_topic("e", 2));
    producer_config pc;
    pc.max_block_ms = 300;
    pc.max_request_size = 10000;
    auto p = make_producer(b, pc);

    producer_record unknown;
    unknown.topic = "no-such-topic";
    unknown.value = "x";
    auto u = p->send(std::move(unknown)).get();
    REQUIRE_FALSE(u);
    CHECK(u.error() == client_errc::unknown_topic);

    producer_record outside;
    outside.topic = "e";
    outside.partition = 2;
    CHECK(p->send(std::move(outside)).get().error() == errc::unknown_topic_or_partition);

    producer_record big;
    big.topic = "e";
    big.value = std::string(20000, 'b');
    CHECK(p->send(std::move(big)).get().error() == client_errc::record_too_large);

    // A record larger than batch.size but within max.request.size travels alone.
    producer_record large;
    large.topic = "e";
    large.partition = 1;
    large.value = std::string(9000, 'l');
    auto l = p->send(std::move(large)).get();
    REQUIRE(l);
    CHECK(l.value().partition == 1);

    auto c = make_consumer(b);
    CHECK(c->partitions_for("e").value() == std::vector<int32_t>{0, 1});
    CHECK(c->partitions_for("nope").error() == errc::unknown_topic_or_partition);

    client_config dead;
    dead.bootstrap_servers = {"127.0.0.1:1"};
    auto a = admin::create(dead);
    REQUIRE(a);
    auto unreachable = a.value()->list_topics();
    REQUIRE_FALSE(unreachable);
    CHECK(unreachable.error() == client_errc::broker_unreachable);
    CHECK(unreachable.error().message() == "broker unreachable: 127.0.0.1:1: connection refused");
    CHECK(admin::create(client_config{{}}).error() == client_errc::invalid_config);

    p->close();
    producer_record after;
    after.topic = "e";
    CHECK(p->send(std::move(after)).get().error() == client_errc::closed);
}

TEST_CASE("every record gets exactly one outcome when the broker dies, and retries succeed") {
    testing::broker_fixture b;
    REQUIRE_MESSAGE(b.ok(), b.log_tail());
    REQUIRE(make_admin(b)->create_topic("d", 1));
    producer_config pc;
    pc.linger_ms = 0;
    pc.retry_backoff_ms = 50;
    pc.request_timeout_ms = 1000;
    pc.delivery_timeout_ms = 1500;
    auto p = make_producer(b, pc);
    REQUIRE(p->send(producer_record{"d", {}, "warm-up", {}, {}, {}}).get());

    b.kill();
    std::atomic<int> ok{0};
    std::atomic<int> failed{0};
    std::mutex m;
    std::map<int, int> outcomes;
    for (int i = 0; i < 50; ++i) {
        p->send(producer_record{"d", {}, std::to_string(i), {}, {}, {}},
                [&, i](const result<record_metadata>& r) {
                    std::lock_guard lk(m);
                    outcomes[i]++;
                    (r ? ok : failed)++;
                    if (!r) {
                        CHECK(is_retriable(r.error()));
                    }
                });
    }
    REQUIRE(p->flush());
    CHECK(failed == 50);
    CHECK(outcomes.size() == 50);
    for (auto& [i, n] : outcomes) {
        CHECK(n == 1);
    }

    // Back up on the same port: records sent while it restarts are retried and land. (The
    // broker is started from this thread: its parent-death signal follows the starting thread.)
    std::atomic<int> later_ok{0};
    pc.delivery_timeout_ms = 20000;
    auto p2 = make_producer(b, pc);
    std::thread sender([&] {
        for (int i = 0; i < 20; ++i) {
            p2->send(producer_record{"d", {}, "again", {}, {}, {}},
                     [&](const result<record_metadata>& r) { later_ok += r ? 1 : 0; });
        }
    });
    std::this_thread::sleep_for(300ms);
    CHECK(b.restart());
    sender.join();
    REQUIRE(p2->flush());
    CHECK(later_ok == 20);
}
