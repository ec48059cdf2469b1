// Idempotent produce on real broker processes (scripts/cluster.sh): 200,000 keyed records through
// the producer library while the leaders of the topic's partitions are killed with SIGKILL reach
// the log exactly once each, in the order produced; so do records whose acknowledgements a proxy
// loses, resetting the connections; and a batch retried after its broker was killed and
// restarted is answered from the producer state the restart rebuilt from the log, and a retry at a
// follower elected leader from the state it built as it replicated. Every wait is for a
// condition.
#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "broker_process.h"
#include "lossy_proxy.h"
#include "raw_connection.h"
#include "replication_helpers.h"
#include "sluice/protocol/record_batch.h"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

uint16_t port_of(const std::string& address) {
    return uint16_t(std::stoi(address.substr(address.rfind(':') + 1)));
}

std::vector<std::byte> idempotent_batch(int64_t id, int32_t seq, int records) {
    batch_builder b({producer_id_t{id}, producer_epoch_t{0}, sequence_t{seq}, 0});
    for (int i = 0; i < records; ++i) {
        const std::string v = fmt::format("r{}", seq + i);
        b.add(record_input{std::nullopt, as_bytes(v), timestamp_ms_t{1'700'000'000'000}, {}});
    }
    return b.finish();
}

frame::writer produce_frame(int32_t correlation, const std::string& topic,
                            const std::vector<std::byte>& batch) {
    frame::writer w;
    auto& fbb = w.fbb();
    auto ref = w.add_data(batch);
    std::vector<flatbuffers::Offset<fbs::ProducePartition>> parts{
        fbs::CreateProducePartition(fbb, 0, &ref)};
    std::vector<flatbuffers::Offset<fbs::ProduceTopic>> topics{
        fbs::CreateProduceTopic(fbb, fbb.CreateString(topic), fbb.CreateVector(parts))};
    auto body = fbs::CreateProduceRequest(fbb, -1, 10000, fbb.CreateVector(topics));
    w.finish(frame::make_envelope(fbb, fbs::ApiKey::Produce, 0, correlation,
                                  fbs::Body::ProduceRequest, body.Union()));
    return w;
}

struct produce_answer {
    int16_t error = -1;
    int64_t base_offset = -1;
};

// One produce of `batch` to partition 0 over a new connection, or nullopt while the broker
// does not answer (it is restarting).
std::optional<produce_answer> produce_once(uint16_t port, const std::string& topic,
                                           const std::vector<std::byte>& batch) {
    auto conn = raw_connection::connect(port);
    if (!conn) {
        return std::nullopt;
    }
    if (!conn.value().send_frame(produce_frame(1, topic, batch))) {
        return std::nullopt;
    }
    auto f = conn.value().read_frame(15s);
    if (!f) {
        return std::nullopt;
    }
    auto env = envelope_of(f.value());
    REQUIRE(env);
    const auto* r = env.value()->body_as_ProduceResponse();
    REQUIRE(r != nullptr);
    const auto* p = r->topics()->Get(0)->partitions()->Get(0);
    return produce_answer{p->error_code(), p->base_offset()};
}

// Every record of `topic`'s `partitions`, from their beginning, until `total` have come: each
// value read (a number) with its partition and offset. Fails the test if more come.
std::map<int32_t, std::vector<std::pair<int64_t, int>>> read_everything(const client_config& client,
                                                                        const std::string& topic,
                                                                        int32_t partitions,
                                                                        size_t total) {
    consumer_config cc;
    static_cast<client_config&>(cc) = client;
    cc.auto_offset_reset = "earliest";
    auto con = consumer::create(cc);
    REQUIRE(con);
    REQUIRE(con.value()->assign(partitions_of(topic, partitions)));
    std::map<int32_t, std::vector<std::pair<int64_t, int>>> read;  // partition -> (offset, value)
    size_t n = 0;
    REQUIRE(eventually(
        [&] {
            auto got = con.value()->poll(200ms);
            if (got) {
                for (const auto& r : got.value()) {
                    read[r.partition].emplace_back(r.offset, std::stoi(r.value.value_or("-1")));
                    ++n;
                }
            }
            return n >= total;
        },
        120s));
    auto extra = con.value()->poll(500ms);  // nothing more: no duplicate after the last one
    REQUIRE(extra);
    CHECK(extra.value().empty());
    return read;
}

// Each value 0 .. total-1 read exactly once, in increasing order within its partition (the order
// it was produced in), at the partition and offset its acknowledgement gave.
void check_exactly_once(const std::map<int32_t, std::vector<std::pair<int64_t, int>>>& read,
                        const std::map<int, std::pair<int32_t, int64_t>>& acked, int total) {
    std::vector<int> seen(size_t(total), 0);
    for (const auto& [p, list] : read) {
        int last = -1;
        for (const auto& [offset, value] : list) {
            REQUIRE(value >= 0);
            REQUIRE(value < total);
            ++seen[size_t(value)];
            CHECK_MESSAGE(value > last, "partition ", p, " offset ", offset, " holds ", value,
                          " after ", last);
            last = value;
            auto it = acked.find(value);
            if (it != acked.end()) {
                CHECK(it->second == std::pair<int32_t, int64_t>{p, offset});
            }
        }
    }
    int twice = 0, missing = 0;
    for (int count : seen) {
        twice += count > 1 ? 1 : 0;
        missing += count == 0 ? 1 : 0;
    }
    CHECK(twice == 0);
    CHECK(missing == 0);
    MESSAGE("read ", total, " values in ", read.size(), " partitions; ", twice, " twice, ", missing,
            " missing");
}

// Sends values 0 .. total-1 keyed by value % 1000 and records each outcome.
struct outcomes {
    std::mutex mu;
    std::map<int, std::pair<int32_t, int64_t>> acked;  // value -> (partition, offset)
    std::vector<std::string> failures;

    void send(producer& prod, const std::string& topic, int from, int to) {
        for (int i = from; i < to; ++i) {
            producer_record r;
            r.topic = topic;
            r.key = fmt::format("key-{}", i % 1000);
            r.value = std::to_string(i);
            prod.send(std::move(r), [this, i](const result<record_metadata>& m) {
                std::lock_guard lock(mu);
                if (m) {
                    acked[i] = {m.value().partition, m.value().offset};
                } else {
                    failures.push_back(m.error().message());
                }
            });
        }
    }
    void check_all_acked(size_t total) {
        std::lock_guard lock(mu);
        CHECK_MESSAGE(failures.empty(), failures.size(),
                      " records failed, the first: ", failures.empty() ? "" : failures.front());
        CHECK(acked.size() == total);
    }
};

int64_t high_watermark(const local_cluster& c, const std::string& topic, int32_t partition) {
    auto reader = partition_reader(c, topic);
    const topic_partition tp{topic, partition};
    int64_t end = -1;
    REQUIRE(eventually([&] {
        auto e = reader->end_offsets({tp});
        if (e) {
            end = e.value().at(tp);
        }
        return e.has_value();
    }));
    return end;
}

}  // namespace

TEST_CASE("idempotence: a retry after SIGKILL and restart is answered from the rebuilt state") {
    local_cluster c(1);
    REQUIRE(created(c.admin_of()->create_topic("again", 1, 1, {})));
    const uint16_t port = port_of(c.client().bootstrap_servers.at(0));
    std::optional<produce_answer> a;
    // The producer id is the client's to choose here: the broker checks only what batches say.
    REQUIRE(eventually([&] {
        a = produce_once(port, "again", idempotent_batch(4242, 0, 5));
        return a && a->error == 0;
    }));
    CHECK(a->base_offset == 0);
    a = produce_once(port, "again", idempotent_batch(4242, 5, 3));
    REQUIRE(a);
    CHECK(a->error == 0);
    CHECK(a->base_offset == 5);
    // Killed: no snapshot at close, so the restart replays the log to know the producer.
    c.node("kill", 1);
    c.node("restart", 1);
    REQUIRE(eventually([&] {
        a = produce_once(port, "again", idempotent_batch(4242, 5, 3));
        return a && a->error == 0;
    }));
    CHECK(a->base_offset == 5);  // the first write's offsets, nothing appended
    CHECK(high_watermark(c, "again", 0) == 8);
    // The sequence goes on where it was; a gap is refused.
    a = produce_once(port, "again", idempotent_batch(4242, 9, 1));
    REQUIRE(a);
    CHECK(a->error == int16_t(errc::out_of_order_sequence_number));
    a = produce_once(port, "again", idempotent_batch(4242, 8, 1));
    REQUIRE(a);
    CHECK(a->error == 0);
    CHECK(a->base_offset == 8);
}

TEST_CASE("idempotence: a follower elected leader answers a retry of a batch it only replicated") {
    local_cluster c(3, replication_timeouts);
    const partition_seen p = create_in_sync(c, "promoted", 3, {{"min.insync.replicas", "2"}});
    const int old_leader = p.leader;
    const uint16_t old_port = port_of(c.client(old_leader).bootstrap_servers.at(0));
    std::optional<produce_answer> a;
    // acks=all: answered once the followers hold the batch.
    REQUIRE(eventually([&] {
        a = produce_once(old_port, "promoted", idempotent_batch(77, 0, 4));
        return a && a->error == 0;
    }));
    CHECK(a->base_offset == 0);
    // The leader dies; say its answer never reached the producer, which retries at the new one.
    c.node("kill", old_leader);
    const int other = old_leader % 3 + 1;
    int new_leader = -1;
    REQUIRE(eventually([&] {
        auto s = seen_by(c, other, "promoted");
        new_leader = s ? s->leader : -1;
        return new_leader > 0 && new_leader != old_leader;
    }));
    const uint16_t new_port = port_of(c.client(new_leader).bootstrap_servers.at(0));
    REQUIRE(eventually([&] {
        a = produce_once(new_port, "promoted", idempotent_batch(77, 0, 4));
        return a && a->error == 0;
    }));
    CHECK(a->base_offset == 0);  // the old leader's offsets: not appended again
    a = produce_once(new_port, "promoted", idempotent_batch(77, 4, 1));
    REQUIRE(a);
    CHECK(a->error == 0);
    CHECK(a->base_offset == 4);
    CHECK(high_watermark(c, "promoted", 0) == 5);
}

TEST_CASE("idempotence: 200,000 keyed records, leaders killed three times, each record once") {
    local_cluster c(3, replication_timeouts);
    const std::string topic = "exactly-once";
    constexpr int32_t partitions = 3;
    REQUIRE(
        created(c.admin_of()->create_topic(topic, partitions, 3, {{"min.insync.replicas", "2"}})));
    auto all_in_sync = [&](int via) {
        for (int32_t p = 0; p < partitions; ++p) {
            auto s = seen_by(c, via, topic, p);
            if (!s || s->leader <= 0 || s->isr.size() != 3) {
                return false;
            }
        }
        return true;
    };
    REQUIRE(eventually([&] { return all_in_sync(1); }, 60s));

    producer_config pc = producer_of(c);
    pc.delivery_timeout_ms = 120000;
    pc.batch_size = 4096;  // many batches, so that several are in flight when a leader dies
    pc.linger_ms = 2;
    auto made = producer::create(pc);
    REQUIRE(made);
    auto& prod = *made.value();

    constexpr int total = 200000;
    constexpr int chunks = 10;
    outcomes out;
    for (int chunk = 0; chunk < chunks; ++chunk) {
        out.send(prod, topic, chunk * (total / chunks), (chunk + 1) * (total / chunks));
        if (chunk % 3 == 2) {
            // The leader of one partition dies with that chunk's records in flight.
            const int32_t p = chunk / 3;
            auto before = seen_by(c, 1 + chunk % 3, topic, p);
            REQUIRE(before);
            const int victim = before->leader;
            REQUIRE(victim > 0);
            c.node("kill", victim);
            const int other = victim % 3 + 1;
            REQUIRE(eventually([&] {
                auto s = seen_by(c, other, topic, p);
                return s && s->leader > 0 && s->leader != victim;
            }));
            c.node("restart", victim);
            REQUIRE_MESSAGE(eventually([&] { return all_in_sync(other); }, 60s),
                            broker_story(c, topic));
        }
    }
    REQUIRE(prod.flush());
    out.check_all_acked(total);
    check_exactly_once(read_everything(c.client(), topic, partitions, total), out.acked, total);
}

TEST_CASE("idempotence: acknowledgements lost with their connections are retried, never doubled") {
    lossy_proxy proxy(5);  // every 5th produce answer lost, both connections reset
    broker_process broker(
        {{"advertised.listeners", fmt::format("PLAINTEXT://127.0.0.1:{}", proxy.port())}});
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    proxy.set_upstream(broker.port());
    client_config client;
    client.bootstrap_servers = {fmt::format("127.0.0.1:{}", proxy.port())};
    auto a = admin::create(client);
    REQUIRE(a);
    REQUIRE(a.value()->create_topic("lossy", 2, 1));

    producer_config pc;
    static_cast<client_config&>(pc) = client;
    pc.batch_size = 2048;  // many batches, so many answers to lose
    pc.linger_ms = 1;
    pc.retry_backoff_ms = 20;
    auto made = producer::create(pc);
    REQUIRE(made);
    constexpr int total = 20000;
    outcomes out;
    out.send(*made.value(), "lossy", 0, total);
    REQUIRE(made.value()->flush());
    out.check_all_acked(total);
    CHECK(proxy.dropped() >= 10);
    MESSAGE(proxy.dropped(), " of ", proxy.produce_responses(), " produce answers lost");
    check_exactly_once(read_everything(client, "lossy", 2, total), out.acked, total);
}
