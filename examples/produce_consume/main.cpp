// Produces a few records to a topic and reads them back: the smallest complete use of the
// Sluice producer, consumer and admin client.
//
//   produce_consume BOOTSTRAP [TOPIC]
//
// Exit status 0 when every record came back, 1 otherwise.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <sluice/client/admin.h>
#include <sluice/consumer/consumer.h>
#include <sluice/producer/producer.h>

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: produce_consume BOOTSTRAP [TOPIC]\n");
        return 2;
    }
    const std::string bootstrap = argv[1];
    const std::string topic = argc > 2 ? argv[2] : "produce-consume-example";
    constexpr int count = 5;

    // A topic with two partitions; one that exists already will do.
    sluice::client_config client;
    client.bootstrap_servers = sluice::split_servers(bootstrap);
    auto admin = sluice::admin::create(client);
    if (!admin) {
        std::fprintf(stderr, "admin: %s\n", admin.error().message().c_str());
        return 1;
    }
    auto created = admin.value()->create_topic(topic, 2);
    if (!created && created.error() != sluice::errc::topic_already_exists) {
        std::fprintf(stderr, "create topic: %s\n", created.error().message().c_str());
        return 1;
    }

    // Produce: each send's future completes when the broker acknowledged the record.
    sluice::producer_config pc;
    pc.bootstrap_servers = client.bootstrap_servers;
    auto producer = sluice::producer::create(pc);
    if (!producer) {
        std::fprintf(stderr, "producer: %s\n", producer.error().message().c_str());
        return 1;
    }
    std::vector<std::future<sluice::result<sluice::record_metadata>>> acks;
    for (int i = 0; i < count; ++i) {
        sluice::producer_record r;
        r.topic = topic;
        r.key = "key-" + std::to_string(i);
        r.value = "hello " + std::to_string(i);
        acks.push_back(producer.value()->send(std::move(r)));
    }
    for (auto& f : acks) {
        auto md = f.get();
        if (!md) {
            std::fprintf(stderr, "produce: %s\n", md.error().message().c_str());
            return 1;
        }
        std::printf("produced %s-%d@%lld\n", md.value().topic.c_str(), md.value().partition,
                    static_cast<long long>(md.value().offset));
    }
    producer.value()->close();

    // Consume every partition from the beginning until the records are back.
    sluice::consumer_config cc;
    cc.bootstrap_servers = client.bootstrap_servers;
    auto consumer = sluice::consumer::create(cc);
    if (!consumer) {
        std::fprintf(stderr, "consumer: %s\n", consumer.error().message().c_str());
        return 1;
    }
    auto& c = *consumer.value();
    auto partitions = c.partitions_for(topic);
    if (!partitions) {
        std::fprintf(stderr, "partitions: %s\n", partitions.error().message().c_str());
        return 1;
    }
    std::vector<sluice::topic_partition> tps;
    for (int32_t p : partitions.value()) {
        tps.push_back({topic, p});
    }
    if (!c.assign(tps) || !c.seek_to_beginning(tps)) {
        std::fprintf(stderr, "assign/seek failed\n");
        return 1;
    }
    int seen = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (seen < count && std::chrono::steady_clock::now() < deadline) {
        auto records = c.poll(std::chrono::milliseconds(200));
        if (!records) {
            std::fprintf(stderr, "poll: %s\n", records.error().message().c_str());
            return 1;
        }
        for (const sluice::consumer_record& r : records.value()) {
            std::printf("consumed %s-%d@%lld %s=%s\n", r.topic.c_str(), r.partition,
                        static_cast<long long>(r.offset), r.key.value_or("").c_str(),
                        r.value.value_or("").c_str());
            ++seen;
        }
    }
    std::printf("consumed %d records\n", seen);
    return seen >= count ? 0 : 1;
}
