// The producer's record accumulator without a network: partitioning (murmur2, explicit, sticky),
// batching by batch.size and linger.ms, draining per broker within the in-flight budget,
// buffer.memory back-pressure, flush generations, retries and delivery timeouts.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <tuple>

#include "accumulator.h"
#include "sluice/client/errc.h"

using namespace sluice;
using namespace sluice::detail;
using namespace std::chrono_literals;

namespace {

client::metadata_answer topic_answer(const std::string& name, std::vector<int32_t> leaders) {
    client::metadata_answer a;
    a.brokers = {{0, "127.0.0.1", 1}, {1, "127.0.0.1", 2}};
    client::topic_meta t;
    t.name = name;
    for (int32_t p = 0; p < int32_t(leaders.size()); ++p) {
        t.partitions.push_back({p, errc::none, leaders[size_t(p)], 0, {}, {}});
    }
    a.topics.push_back(t);
    return a;
}

struct fixture {
    std::atomic<int> wakes{0};
    accumulator acc;

    explicit fixture(accumulator::options o) : acc(o, [this] { wakes++; }) {}

    std::error_code send(producer_record r, int* completions = nullptr,
                         steady::time_point deadline = steady::now() + 1s) {
        producer::callback cb = [completions](const result<record_metadata>&) {
            if (completions) {
                ++*completions;
            }
        };
        return acc.append(r, cb, deadline);
    }
};

producer_record rec(std::string topic, std::optional<std::string> key, size_t value_bytes,
                    std::optional<int32_t> partition = std::nullopt) {
    producer_record r;
    r.topic = std::move(topic);
    r.key = std::move(key);
    r.value = std::string(value_bytes, 'v');
    r.partition = partition;
    r.timestamp_ms = 1000;
    return r;
}

int budget_all(int32_t) {
    return 100;
}

size_t records_in(const drain_result& d) {
    size_t n = 0;
    for (const auto& req : d.requests) {
        for (const auto& b : req.batches) {
            n += b->thunks.size();
        }
    }
    return n;
}

accumulator::options opts(size_t batch_size, std::chrono::milliseconds linger) {
    accumulator::options o;
    o.batch_size = batch_size;
    o.linger = linger;
    return o;
}

}  // namespace

TEST_CASE("keyed records go to the murmur2 partition, explicit ones where asked") {
    fixture f(opts(1 << 20, 0ms));
    const auto answer = topic_answer("t", {0, 0, 0, 0, 0});
    f.acc.apply_metadata(&answer, {});
    for (const char* key : {"21", "foobar", "abc", "a-little-bit-long-string"}) {
        REQUIRE_FALSE(f.send(rec("t", key, 10)));
    }
    REQUIRE_FALSE(f.send(rec("t", std::nullopt, 10, 4)));
    auto d = f.acc.drain(steady::now(), budget_all);
    std::map<int32_t, size_t> per_partition;
    for (const auto& req : d.requests) {
        for (const auto& b : req.batches) {
            per_partition[b->partition] += b->thunks.size();
        }
    }
    std::map<int32_t, size_t> expected;
    for (const char* key : {"21", "foobar", "abc", "a-little-bit-long-string"}) {
        expected[murmur2_partition(key, 5)]++;
    }
    expected[4]++;
    CHECK(per_partition == expected);

    auto bad = f.send(rec("t", std::nullopt, 10, 5));
    CHECK(bad == errc::unknown_topic_or_partition);
}

TEST_CASE("batches close at batch.size and wait for linger.ms otherwise") {
    fixture f(opts(1000, 10s));
    const auto answer = topic_answer("t", {0});
    f.acc.apply_metadata(&answer, {});
    // ~110 encoded bytes per record: nine fit in a 1000-byte batch with its 61-byte header.
    for (int i = 0; i < 20; ++i) {
        REQUIRE_FALSE(f.send(rec("t", std::nullopt, 100)));
    }
    const auto now = steady::now();
    auto d = f.acc.drain(now, budget_all);
    // Only full batches are ready; one request per pass, one batch per partition per request.
    REQUIRE(d.requests.size() == 2);
    for (const auto& req : d.requests) {
        REQUIRE(req.batches.size() == 1);
        CHECK(req.batches[0]->closed);
        CHECK(req.batches[0]->builder.size_bytes() <= 1000);
        CHECK(req.batches[0]->builder.size_bytes() > 1000 - 130);
    }
    CHECK(records_in(d) + 0 < 20);
    // The open batch becomes ready when linger.ms has passed.
    CHECK(d.next_run > now);
    CHECK(d.next_run <= now + 10s);
    auto later = f.acc.drain(now + 11s, budget_all);
    CHECK(records_in(d) + records_in(later) == 20);
}

TEST_CASE("draining respects each broker's in-flight budget") {
    fixture f(opts(200, 0ms));
    const auto answer = topic_answer("t", {0, 1});
    f.acc.apply_metadata(&answer, {});
    for (int i = 0; i < 10; ++i) {
        REQUIRE_FALSE(f.send(rec("t", std::nullopt, 100, i % 2)));
    }
    auto d = f.acc.drain(steady::now(), [](int32_t node) { return node == 0 ? 2 : 0; });
    REQUIRE(d.requests.size() == 2);
    for (const auto& req : d.requests) {
        CHECK(req.node == 0);
        REQUIRE(req.batches.size() == 1);
        CHECK(req.batches[0]->partition == 0);
    }
    // Batch order within the partition is kept.
    CHECK(d.requests[0].batches[0]->sequence < d.requests[1].batches[0]->sequence);
}

TEST_CASE("keyless records stick to a partition until its batch is done") {
    fixture f(opts(1000, 10s));
    const auto answer = topic_answer("t", {0, 0, 0, 0});
    f.acc.apply_metadata(&answer, {});
    for (int i = 0; i < 8; ++i) {  // fits one batch
        REQUIRE_FALSE(f.send(rec("t", std::nullopt, 100)));
    }
    auto d = f.acc.drain(steady::now() + 11s, budget_all);
    REQUIRE(d.requests.size() == 1);
    REQUIRE(d.requests[0].batches.size() == 1);
    const int32_t first = d.requests[0].batches[0]->partition;
    CHECK(d.requests[0].batches[0]->thunks.size() == 8);
    // That batch was sent: the next keyless record goes to another partition.
    REQUIRE_FALSE(f.send(rec("t", std::nullopt, 100)));
    auto d2 = f.acc.drain(steady::now() + 11s, budget_all);
    REQUIRE(d2.requests.size() == 1);
    CHECK(d2.requests[0].batches[0]->partition != first);
}

TEST_CASE("a full batch moves the sticky partition on") {
    fixture f(opts(1000, 10s));
    const auto answer = topic_answer("t", {0, 0, 0});
    f.acc.apply_metadata(&answer, {});
    for (int i = 0; i < 30; ++i) {
        REQUIRE_FALSE(f.send(rec("t", std::nullopt, 100)));
    }
    auto d = f.acc.drain(steady::now() + 11s, budget_all);
    std::vector<int32_t> order;  // partition of each full batch, in sequence within passes
    size_t total = 0;
    for (const auto& req : d.requests) {
        for (const auto& b : req.batches) {
            total += b->thunks.size();
            order.push_back(b->partition);
        }
    }
    CHECK(total == 30);
    // 30 records of ~110 bytes need at least 4 batches; with one partition per batch in turn,
    // more than one partition is used.
    CHECK(order.size() >= 4);
    std::set<int32_t> used(order.begin(), order.end());
    CHECK(used.size() >= 2);
}

TEST_CASE("a record larger than max.request.size or buffer.memory is refused") {
    accumulator::options o = opts(16384, 0ms);
    o.max_request_size = 1000;
    fixture f(o);
    const auto answer = topic_answer("t", {0});
    f.acc.apply_metadata(&answer, {});
    auto e = f.send(rec("t", std::nullopt, 2000));
    CHECK(e == client_errc::record_too_large);
    CHECK(e.message().find("max.request.size is 1000") != std::string::npos);
    CHECK_FALSE(f.send(rec("t", std::nullopt, 500)));
}

TEST_CASE("a full buffer blocks send until memory is released, then until max.block.ms") {
    accumulator::options o = opts(100000, 10s);
    o.buffer_memory = 5000;
    fixture f(o);
    const auto answer = topic_answer("t", {0});
    f.acc.apply_metadata(&answer, {});
    int n = 0;
    while (!f.send(rec("t", std::nullopt, 1000), nullptr, steady::now() + 10ms)) {
        ++n;
    }
    CHECK(n == 4);
    CHECK(f.acc.buffered_bytes() <= 5000);
    // Blocked: the sender is asked to send everything, whatever linger.ms says.
    const auto t0 = steady::now();
    auto e = f.send(rec("t", std::nullopt, 1000), nullptr, t0 + 50ms);
    CHECK(e == client_errc::buffer_exhausted);
    CHECK(steady::now() - t0 >= 50ms);

    std::atomic<bool> sent{false};
    std::thread blocked([&] {
        CHECK_FALSE(f.send(rec("t", std::nullopt, 1000), nullptr, steady::now() + 10s));
        sent = true;
    });
    std::this_thread::sleep_for(50ms);
    CHECK_FALSE(sent);
    auto d = f.acc.drain(steady::now(), budget_all);  // ready: a send() waits for memory
    REQUIRE(d.requests.size() == 1);
    f.acc.release(d.requests[0].batches);
    blocked.join();
    CHECK(sent);
}

TEST_CASE("send waits for the topic's metadata, then fails with unknown_topic") {
    fixture f(opts(16384, 0ms));
    auto e = f.send(rec("nope", std::nullopt, 10), nullptr, steady::now() + 30ms);
    CHECK(e == client_errc::unknown_topic);
    CHECK(e.message() == "unknown topic: 'nope' is not in the metadata");
    CHECK(f.wakes >= 1);
    CHECK(f.acc.metadata_wanted());

    // Metadata arriving while a send waits lets it through.
    std::thread t([&] {
        std::this_thread::sleep_for(30ms);
        const auto answer = topic_answer("late", {0});
        f.acc.apply_metadata(&answer, {});
    });
    CHECK_FALSE(f.send(rec("late", std::nullopt, 10), nullptr, steady::now() + 5s));
    t.join();
    CHECK_FALSE(f.acc.metadata_wanted());

    // A metadata failure is the reason given at the deadline.
    const auto unreachable = make_client_error(client_errc::broker_unreachable, "h:1: refused");
    f.acc.apply_metadata(nullptr, unreachable);
    auto e2 = f.send(rec("other", std::nullopt, 10), nullptr, steady::now() + 20ms);
    CHECK(e2 == client_errc::unknown_topic);
}

TEST_CASE("flush closes open batches and waits for their completion") {
    fixture f(opts(16384, 1h));
    const auto answer = topic_answer("t", {0, 0});
    f.acc.apply_metadata(&answer, {});
    REQUIRE_FALSE(f.send(rec("t", "a", 10)));
    REQUIRE_FALSE(f.send(rec("t", "b", 10)));
    const uint64_t g = f.acc.begin_flush();
    auto d = f.acc.drain(steady::now(), budget_all);  // closed: ready despite linger.ms
    REQUIRE(records_in(d) == 2);
    // A record sent after the flush began is not waited for.
    REQUIRE_FALSE(f.send(rec("t", "c", 10)));
    std::atomic<bool> flushed{false};
    std::thread waiter([&] {
        f.acc.wait_flushed(g);
        flushed = true;
    });
    std::this_thread::sleep_for(30ms);
    CHECK_FALSE(flushed);
    for (auto& req : d.requests) {
        f.acc.release(req.batches);
    }
    waiter.join();
    CHECK(flushed);
    CHECK(f.acc.incomplete_batches() == 1);
}

TEST_CASE("a retried batch goes back in sequence order and waits for its backoff") {
    fixture f(opts(150, 0ms));
    const auto answer = topic_answer("t", {0});
    f.acc.apply_metadata(&answer, {});
    for (int i = 0; i < 3; ++i) {
        REQUIRE_FALSE(f.send(rec("t", std::nullopt, 100)));
    }
    const auto now = steady::now();
    auto d = f.acc.drain(now, budget_all);
    REQUIRE(d.requests.size() == 3);
    // The first two fail; they come back in front of the third.
    auto b0 = std::move(d.requests[0].batches[0]);
    auto b1 = std::move(d.requests[1].batches[0]);
    const uint64_t s0 = b0->sequence;
    const uint64_t s1 = b1->sequence;
    b1->finish();
    b1->retry_at = now + 100ms;
    b0->finish();
    b0->retry_at = now + 100ms;
    f.acc.requeue(std::move(b1));
    f.acc.requeue(std::move(b0));
    auto early = f.acc.drain(now + 50ms, budget_all);
    CHECK(early.requests.empty());
    CHECK(early.next_run == now + 100ms);
    auto again = f.acc.drain(now + 100ms, budget_all);
    REQUIRE(again.requests.size() == 2);
    CHECK(again.requests[0].batches[0]->sequence == s0);
    CHECK(again.requests[1].batches[0]->sequence == s1);
    // The finished bytes are kept for the resend.
    CHECK(batch_view::parse(again.requests[0].batches[0]->bytes));
}

TEST_CASE("batches that wait longer than delivery.timeout.ms expire") {
    accumulator::options o = opts(16384, 0ms);
    o.delivery_timeout = 20ms;
    fixture f(o);
    const auto answer = topic_answer("t", {-1});  // no leader: nothing can be sent
    f.acc.apply_metadata(&answer, {});
    REQUIRE_FALSE(f.send(rec("t", std::nullopt, 10)));
    auto d = f.acc.drain(steady::now(), budget_all);
    CHECK(d.requests.empty());
    CHECK(d.need_metadata);
    CHECK(d.expired.empty());
    auto later = f.acc.drain(steady::now() + 25ms, budget_all);
    REQUIRE(later.expired.size() == 1);
    CHECK(later.expired[0]->thunks.size() == 1);
    f.acc.release(later.expired);
    CHECK(f.acc.incomplete_batches() == 0);
    CHECK(f.acc.buffered_bytes() == 0);
}

TEST_CASE("after begin_close, sends fail with closed") {
    fixture f(opts(16384, 0ms));
    const auto answer = topic_answer("t", {0});
    f.acc.apply_metadata(&answer, {});
    f.acc.begin_close();
    CHECK(f.send(rec("t", std::nullopt, 10)) == client_errc::closed);
}

TEST_CASE("encoded batches hold the records as sent") {
    fixture f(opts(16384, 0ms));
    const auto answer = topic_answer("t", {0});
    f.acc.apply_metadata(&answer, {});
    producer_record r = rec("t", "k", 3, 0);
    r.value = "abc";
    r.headers = {{"h1", "x"}, {"h2", std::nullopt}};
    r.timestamp_ms = 12345;
    REQUIRE_FALSE(f.send(r));
    producer_record tomb = rec("t", std::nullopt, 0, 0);
    tomb.value.reset();
    REQUIRE_FALSE(f.send(tomb));
    auto d = f.acc.drain(steady::now(), budget_all);
    REQUIRE(d.requests.size() == 1);
    auto& b = *d.requests[0].batches[0];
    b.finish();
    auto v = batch_view::parse(b.bytes);
    REQUIRE(v);
    CHECK(v.value().header().record_count == 2);
    CHECK(v.value().header().base_timestamp.value() == 12345);
    auto it = v.value().records();
    record_view rv;
    REQUIRE(it.next(rv));
    CHECK(as_string(*rv.key) == "k");
    CHECK(as_string(*rv.value) == "abc");
    std::vector<header_view> hs;
    rv.headers(hs);
    REQUIRE(hs.size() == 2);
    CHECK(as_string(hs[0].key) == "h1");
    CHECK(as_string(*hs[0].value) == "x");
    CHECK_FALSE(hs[1].value);
    REQUIRE(it.next(rv));
    CHECK_FALSE(rv.key);
    CHECK_FALSE(rv.value);
}

namespace {

accumulator::options idempotent_opts() {
    accumulator::options o = opts(150, 0ms);  // one 100-byte record per batch
    o.idempotent = true;
    return o;
}

using stamp = std::tuple<int64_t, int16_t, int32_t>;

// An idempotent accumulator for topic "t" (one partition, led by broker 0) with producer id
// `id` (none if negative) and `records` records queued, one per batch.
struct idempotent_fixture : fixture {
    idempotent_fixture(int64_t id, int records) : fixture(idempotent_opts()) {
        const auto answer = topic_answer("t", {0});
        acc.apply_metadata(&answer, {});
        if (id >= 0) {
            acc.set_producer_id(producer_id_t{id});
        }
        for (int i = 0; i < records; ++i) {
            REQUIRE_FALSE(send(rec("t", std::nullopt, 100)));
        }
    }
    // What a drain now hands out, finished.
    std::vector<std::unique_ptr<producer_batch>> take();
};

std::vector<std::unique_ptr<producer_batch>> drained(drain_result& d) {
    std::vector<std::unique_ptr<producer_batch>> out;
    for (auto& req : d.requests) {
        for (auto& b : req.batches) {
            b->finish();
            out.push_back(std::move(b));
        }
    }
    return out;
}

// The producer id, epoch and first sequence the finished batch carries (its CRC checked).
std::tuple<int64_t, int16_t, int32_t> stamp_of(const producer_batch& b) {
    auto v = batch_view::parse(b.bytes);
    REQUIRE(v);
    const batch_header& h = v.value().header();
    return {h.producer_id.value(), h.producer_epoch.value(), h.base_sequence.value()};
}

std::vector<std::unique_ptr<producer_batch>> idempotent_fixture::take() {
    auto d = acc.drain(steady::now(), budget_all);
    return drained(d);
}

}  // namespace

TEST_CASE("idempotent batches wait for the producer id, then carry it and running sequences") {
    idempotent_fixture f(-1, 7);
    auto none = f.acc.drain(steady::now(), budget_all);
    CHECK(none.requests.empty());
    CHECK(none.need_producer_id);
    f.acc.set_producer_id(producer_id_t{42});
    auto first = f.take();
    REQUIRE(first.size() == 5);  // at most 5 of a partition in flight
    for (int32_t i = 0; i < 5; ++i) {
        CHECK(stamp_of(*first[size_t(i)]) == stamp{42, 0, i});
    }
    CHECK(f.acc.drain(steady::now(), budget_all).requests.empty());
    f.acc.release(*first[0], batch_end::written);
    auto next = f.take();
    REQUIRE(next.size() == 1);
    CHECK(stamp_of(*next[0]) == stamp{42, 0, 5});
}

TEST_CASE("an idempotent retry waits for the batches before it and keeps its sequence") {
    idempotent_fixture f(7, 3);
    auto b = f.take();
    REQUIRE(b.size() == 3);
    // The second fails while the first is still out: it may not overtake it.
    f.acc.requeue(std::move(b[1]));
    CHECK(f.acc.drain(steady::now(), budget_all).requests.empty());
    f.acc.release(*b[0], batch_end::written);
    auto resent = f.take();
    REQUIRE(resent.size() == 1);
    CHECK(stamp_of(*resent[0]) == stamp{7, 0, 1});
}

TEST_CASE("out of order on the first unanswered batch: a new epoch from sequence 0 (KIP-360)") {
    idempotent_fixture f(7, 4);
    auto b = f.take();
    REQUIRE(b.size() == 4);
    f.acc.release(*b[0], batch_end::written);
    // The leader lost what it had of this producer: the second is refused as out of order, and
    // so are the ones after it.
    f.acc.out_of_order(*b[1]);
    f.acc.requeue(std::move(b[1]));
    CHECK(f.acc.drain(steady::now(), budget_all).requests.empty());  // two still out
    f.acc.out_of_order(*b[3]);  // not the first unanswered: no second bump
    f.acc.requeue(std::move(b[3]));
    f.acc.out_of_order(*b[2]);
    f.acc.requeue(std::move(b[2]));
    auto resent = f.take();
    REQUIRE(resent.size() == 3);
    for (int32_t i = 0; i < 3; ++i) {
        CHECK(stamp_of(*resent[size_t(i)]) == stamp{7, 1, i});
    }
}

TEST_CASE("idempotent batches fail when the producer id cannot be had") {
    idempotent_fixture f(-1, 1);
    f.acc.producer_id_failed(make_error_code(errc::invalid_request));
    auto d = f.acc.drain(steady::now(), budget_all);
    CHECK(d.requests.empty());
    REQUIRE(d.failed.size() == 1);
    CHECK(d.failure == errc::invalid_request);
    f.acc.release(d.failed, batch_end::refused);
    CHECK(f.acc.incomplete_batches() == 0);
}

TEST_CASE("a refused batch gives its sequences back: the batches after it are resent lower") {
    idempotent_fixture f(7, 3);
    auto b = f.take();
    REQUIRE(b.size() == 3);
    f.acc.release(*b[0], batch_end::written);
    f.acc.release(*b[1], batch_end::refused);  // CONFLICT, say: nothing written
    // The third was sent at sequence 2; the leader expects 1 now and says out of order. It is
    // not a gap to bump for: resent at sequence 1, same epoch.
    f.acc.out_of_order(*b[2]);
    f.acc.requeue(std::move(b[2]));
    REQUIRE_FALSE(f.send(rec("t", std::nullopt, 100)));
    auto resent = f.take();
    REQUIRE(resent.size() == 2);
    CHECK(stamp_of(*resent[0]) == stamp{7, 0, 1});
    CHECK(stamp_of(*resent[1]) == stamp{7, 0, 2});
}

TEST_CASE("a batch of unknown fate keeps its sequences until a later one settles it") {
    idempotent_fixture f(7, 4);
    auto b = f.take();
    REQUIRE(b.size() == 4);
    // The first timed out for good: written or not, nobody knows. The second, at sequence 1,
    // is written: so was the first.
    f.acc.release(*b[0], batch_end::unknown);
    f.acc.release(*b[1], batch_end::written);
    // The third times out too; the fourth, at sequence 3, is refused as out of order: the
    // third was not written, the leader expects 2 and cannot get it. A new epoch.
    f.acc.release(*b[2], batch_end::unknown);
    f.acc.out_of_order(*b[3]);
    f.acc.requeue(std::move(b[3]));
    auto resent = f.take();
    REQUIRE(resent.size() == 1);
    CHECK(stamp_of(*resent[0]) == stamp{7, 1, 0});
}

TEST_CASE("a retry whose fate a later batch settled is resent unchanged, to be answered") {
    idempotent_fixture f(7, 2);
    auto b = f.take();
    REQUIRE(b.size() == 2);
    // The first's connection broke after the leader wrote it; the second was written.
    f.acc.release(*b[1], batch_end::written);
    f.acc.requeue(std::move(b[0]));
    auto resent = f.take();
    REQUIRE(resent.size() == 1);
    CHECK(stamp_of(*resent[0]) == stamp{7, 0, 0});
}

TEST_CASE("a bump completes, not resends, a queued batch that a later one settled as written") {
    idempotent_fixture f(7, 3);
    auto b = f.take();
    REQUIRE(b.size() == 3);
    // The second is written, so the first was (its connection broke before the answer).
    f.acc.release(*b[1], batch_end::written);
    CHECK(f.acc.known_written(*b[0]));
    CHECK_FALSE(f.acc.known_written(*b[2]));
    f.acc.requeue(std::move(b[0]));
    // The third is refused as out of order at the sequence the leader should expect: a gap
    // (the leader lost the producer's state), so a new epoch; the first must not go again.
    f.acc.out_of_order(*b[2]);
    f.acc.requeue(std::move(b[2]));
    auto d = f.acc.drain(steady::now(), budget_all);
    REQUIRE(d.settled.size() == 1);
    CHECK(d.settled[0]->sequence == 0);
    auto resent = drained(d);
    REQUIRE(resent.size() == 1);
    CHECK(stamp_of(*resent[0]) == stamp{7, 1, 0});
    f.acc.release(d.settled, batch_end::written);
}
