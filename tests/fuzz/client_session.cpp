// fuzz-client-session: one session of the client libraries against a broker, for recording the
// fuzz corpus through fuzz-record-proxy (scripts/fuzz-corpus.sh). It uses what the `sluice`
// command does not: record headers, null keys and values, explicit timestamps, and the
// consumer's offset lookups.
//
//   fuzz-client-session HOST:PORT
//
// Creates topic `session` (2 partitions, with topic configs) and a scratch topic that it
// deletes again, produces 60 records (20 each with acks all, 1 and 0), reads them back and
// counts them, and looks offsets up by time. Exit code 0 on success, 1 with one line on stderr
// naming the step that failed.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>
#include <vector>

#include "sluice/client/admin.h"
#include "sluice/consumer/consumer.h"
#include "sluice/producer/producer.h"

namespace {

using namespace sluice;
using namespace std::chrono_literals;

constexpr int records_per_producer = 20;
constexpr const char* topic = "session";

template <typename T>
T check(result<T> r, const char* step) {
    if (!r) {
        std::fprintf(stderr, "fuzz-client-session: %s: %s\n", step, r.error().message().c_str());
        std::exit(1);
    }
    if constexpr (!std::is_void_v<T>) {
        return std::move(r).value();
    }
}

void fail(const char* step) {
    std::fprintf(stderr, "fuzz-client-session: %s\n", step);
    std::exit(1);
}

// Record i of a producer: every shape a record can take, in turn.
producer_record make_record(int i, const std::string& tag) {
    producer_record r;
    r.topic = topic;
    switch (i % 5) {
        case 0:  // key, value and headers, one of them with a null value
            r.key = tag + "-key-" + std::to_string(i);
            r.value = "value " + std::to_string(i);
            r.headers = {{"trace-id", "t" + std::to_string(i)}, {"empty", std::nullopt}};
            break;
        case 1:  // no key: the sticky partitioner picks
            r.value = std::string(size_t(100 + i), 'v');
            break;
        case 2:  // a tombstone: key without value
            r.key = tag + "-deleted-" + std::to_string(i);
            break;
        case 3:  // explicit partition and timestamp, empty key and value
            r.key = "";
            r.value = "";
            r.partition = 1;
            r.timestamp_ms = 1'700'000'000'000 + i;
            break;
        default:  // many headers
            r.value = "h";
            for (int h = 0; h < 4; ++h) {
                r.headers.push_back({"h" + std::to_string(h), std::string(size_t(h), 'x')});
            }
            break;
    }
    return r;
}

void produce(const std::string& bootstrap, int16_t acks, const std::string& tag) {
    producer_config cfg;
    cfg.bootstrap_servers = {bootstrap};
    cfg.client_id = "fuzz-session-" + tag;
    cfg.acks = acks;
    cfg.linger_ms = 2;
    auto p = check(producer::create(cfg), "producer create");
    std::vector<std::future<result<record_metadata>>> acked;
    for (int i = 0; i < records_per_producer; ++i) {
        acked.push_back(p->send(make_record(i, tag)));
    }
    check(p->flush(), "producer flush");
    for (auto& f : acked) {
        check(f.get(), "produce");
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: fuzz-client-session HOST:PORT\n");
        return 2;
    }
    const std::string bootstrap = argv[1];
    client_config base;
    base.bootstrap_servers = {bootstrap};
    base.client_id = "fuzz-session-admin";

    auto admin_client = check(admin::create(base), "admin create");
    check(admin_client->create_topic(topic, 2, 1,
                                     {{"retention.ms", "86400000"}, {"segment.bytes", "1048576"}}),
          "create topic");
    check(admin_client->create_topic("session-scratch", 1), "create scratch topic");
    check(admin_client->list_topics(), "list topics");
    check(admin_client->describe_topic(topic), "describe topic");
    check(admin_client->describe_cluster(), "describe cluster");
    check(admin_client->delete_topic("session-scratch"), "delete scratch topic");

    produce(bootstrap, -1, "all");
    produce(bootstrap, 1, "one");
    produce(bootstrap, 0, "none");

    consumer_config cc;
    static_cast<client_config&>(cc) = base;
    cc.client_id = "fuzz-session-consumer";
    cc.auto_offset_reset = "earliest";
    cc.max_poll_records = 7;
    auto c = check(consumer::create(cc), "consumer create");
    std::vector<topic_partition> tps{{topic, 0}, {topic, 1}};
    check(c->assign(tps), "assign");
    check(c->seek_to_beginning(tps), "seek to beginning");
    check(c->beginning_offsets(tps), "beginning offsets");
    auto ends = check(c->end_offsets(tps), "end offsets");
    int64_t total = 0;
    for (const auto& [tp, end] : ends) {
        total += end;
    }
    int64_t got = 0;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (got < total && std::chrono::steady_clock::now() < deadline) {
        got += int64_t(check(c->poll(200ms), "poll").size());
    }
    if (got < 2 * records_per_producer) {
        fail("consumed fewer records than acknowledged");
    }
    check(c->seek_to_timestamp({topic, 1}, 1'700'000'000'000), "seek to timestamp");
    check(c->position({topic, 1}), "position");
    check(c->poll(200ms), "poll after seek");
    std::printf("fuzz-client-session produced=%d consumed=%lld\n", 3 * records_per_producer,
                static_cast<long long>(got));
    return 0;
}
