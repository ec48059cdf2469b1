// The metadata image: batches apply in order and whole or not at all, a refused batch leaves the
// image as it was, epochs move by the rules, untouched topics are shared between images, and a
// snapshot's records rebuild an equal image.
#include <doctest/doctest.h>

#include "sluice/controller/metadata_image.h"

using namespace sluice;
using namespace sluice::controller;

namespace {

const uuid orders_id{1, 1};
const uuid users_id{2, 2};

metadata_image apply_ok(const metadata_image& image, std::vector<metadata_record> batch) {
    auto r = apply_batch(image, image.end_offset(), batch);
    REQUIRE_MESSAGE(r.problem.empty(), r.problem);
    return r.image;
}

std::string refusal(const metadata_image& image, std::vector<metadata_record> batch) {
    auto r = apply_batch(image, image.end_offset(), batch);
    CHECK_FALSE(r.problem.empty());
    // Nothing of the batch is in the image; only the offset moved past it.
    CHECK(r.image.end_offset() == image.end_offset() + 1);
    CHECK(r.image.brokers() == image.brokers());
    CHECK(r.image.topics() == image.topics());
    return r.problem;
}

records::register_broker reg(int32_t id) {
    return {node_id_t{id}, uuid{uint64_t(id), 1}, {{"PLAINTEXT", "127.0.0.1", 9000 + id}}, "", -1};
}

// Brokers 1..3 registered (at offsets 0..2) and unfenced.
metadata_image three_brokers() {
    metadata_image im;
    for (int32_t id = 1; id <= 3; ++id) {
        im = apply_ok(im, {reg(id)});
    }
    for (int32_t id = 1; id <= 3; ++id) {
        im = apply_ok(im, {records::unfence_broker{node_id_t{id}, id - 1}});
    }
    return im;
}

records::partition part(const uuid& t, int32_t index, std::vector<node_id_t> replicas) {
    return {t, index, replicas, replicas, replicas.front(), leader_epoch_t{0}, 0};
}

}  // namespace

TEST_CASE("brokers register fenced at the offset of their record, and fencing names that epoch") {
    metadata_image im = three_brokers();
    CHECK(im.end_offset() == offset_t{6});
    REQUIRE(im.broker(node_id_t{2}) != nullptr);
    CHECK(im.broker(node_id_t{2})->epoch == 1);
    CHECK_FALSE(im.broker(node_id_t{2})->fenced);

    // A new incarnation is a new registration, fenced, with a new epoch.
    im = apply_ok(im, {reg(2)});
    CHECK(im.broker(node_id_t{2})->epoch == 6);
    CHECK(im.broker(node_id_t{2})->fenced);
    // A fence or unfence of the old registration is refused.
    CHECK(refusal(im, {records::unfence_broker{node_id_t{2}, 1}})
              .find("no registration of epoch 1") != std::string::npos);
    im = apply_ok(im, {records::unfence_broker{node_id_t{2}, 6}});
    CHECK_FALSE(im.broker(node_id_t{2})->fenced);
    refusal(im, {records::fence_broker{node_id_t{9}, 0}});
    // A log entry may not choose its own broker epoch.
    auto r = reg(4);
    r.broker_epoch = 3;
    refusal(im, {r});
}

TEST_CASE("a topic and its partitions appear in one batch, and a bad record refuses the batch") {
    const metadata_image base = three_brokers();
    metadata_image im = apply_ok(base, {records::topic{"orders", orders_id},
                                        part(orders_id, 0, {node_id_t{1}, node_id_t{2}}),
                                        part(orders_id, 1, {node_id_t{2}, node_id_t{3}}),
                                        records::topic_config{orders_id, "retention.ms", "1000"}});
    const topic_info* t = im.topic("orders");
    REQUIRE(t != nullptr);
    CHECK(im.topic(orders_id) == t);
    CHECK(t->partitions.size() == 2);
    CHECK(t->partitions[1].leader == node_id_t{2});
    CHECK(t->configs.at("retention.ms") == "1000");

    // Each of these spoils an otherwise good batch that creates "users".
    const std::vector<metadata_record> spoilers = {
        part(users_id, 5, {node_id_t{1}}),                // not the next partition
        part(users_id, 1, {node_id_t{1}, node_id_t{1}}),  // a replica twice
        part(users_id, 1, {node_id_t{8}}),                // not a broker
        records::partition{users_id,
                           1,
                           {node_id_t{1}},
                           {node_id_t{2}},
                           node_id_t{1},
                           leader_epoch_t{0},
                           0},  // ISR outside the replicas
        records::partition{users_id,
                           1,
                           {node_id_t{1}, node_id_t{2}},
                           {node_id_t{2}},
                           node_id_t{1},
                           leader_epoch_t{0},
                           0},                                          // leader outside the ISR
        records::topic{"orders", uuid{9, 9}},                           // the name exists
        records::topic{"bad name!", uuid{9, 9}},                        // an invalid name
        records::partition_change{orders_id, 7, node_id_t{1}, {}, {}},  // no such partition
        records::remove_topic{uuid{5, 5}},                              // no such topic
        records::topic_config{uuid{5, 5}, "retention.ms", "1"},
    };
    for (const auto& spoiler : spoilers) {
        CAPTURE(describe(spoiler));
        const std::string why = refusal(
            im, {records::topic{"users", users_id}, part(users_id, 0, {node_id_t{1}}), spoiler});
        CHECK(why.find("record 2 of the batch") != std::string::npos);
        CHECK(im.topic("users") == nullptr);
    }
}

TEST_CASE(
    "partition changes: a new leader raises the leader epoch, every change the partition "
    "epoch") {
    metadata_image im =
        apply_ok(three_brokers(), {records::topic{"orders", orders_id},
                                   part(orders_id, 0, {node_id_t{1}, node_id_t{2}, node_id_t{3}})});
    im = apply_ok(im, {records::partition_change{
                          orders_id, 0, {}, std::vector{node_id_t{1}, node_id_t{2}}, {}}});
    auto p = im.topic("orders")->partitions[0];
    CHECK(p.leader_epoch == leader_epoch_t{0});
    CHECK(p.partition_epoch == 1);
    CHECK(p.isr == std::vector{node_id_t{1}, node_id_t{2}});

    im = apply_ok(im, {records::partition_change{orders_id, 0, node_id_t{2}, {}, {}}});
    p = im.topic("orders")->partitions[0];
    CHECK(p.leader == node_id_t{2});
    CHECK(p.leader_epoch == leader_epoch_t{1});
    CHECK(p.partition_epoch == 2);

    // The same leader again is no new leadership.
    im = apply_ok(im, {records::partition_change{orders_id, 0, node_id_t{2}, {}, {}}});
    CHECK(im.topic("orders")->partitions[0].leader_epoch == leader_epoch_t{1});
    // Offline, then a leader outside the ISR is refused.
    im = apply_ok(im, {records::partition_change{orders_id, 0, node_id_t{-1}, {}, {}}});
    CHECK(im.topic("orders")->partitions[0].leader_epoch == leader_epoch_t{2});
    refusal(im, {records::partition_change{orders_id, 0, node_id_t{3}, {}, {}}});
}

TEST_CASE("untouched topics are shared between images; removal and configs") {
    metadata_image im = apply_ok(
        three_brokers(), {records::topic{"orders", orders_id}, part(orders_id, 0, {node_id_t{1}})});
    im = apply_ok(im, {records::topic{"users", users_id}, part(users_id, 0, {node_id_t{2}})});
    const metadata_image next =
        apply_ok(im, {records::topic_config{users_id, "cleanup.policy", "delete"}});
    CHECK(next.topics().at("orders") == im.topics().at("orders"));  // the same object
    CHECK(next.topics().at("users") != im.topics().at("users"));
    CHECK(im.topic("users")->configs.empty());  // the old image did not change

    const metadata_image removed =
        apply_ok(next, {records::topic_config{users_id, "cleanup.policy", std::nullopt},
                        records::remove_topic{orders_id}});
    CHECK(removed.topic("orders") == nullptr);
    CHECK(removed.topic(orders_id) == nullptr);
    CHECK(removed.topic("users")->configs.empty());
    // The name is free again, under a new id.
    apply_ok(removed, {records::topic{"orders", uuid{3, 3}}, part(uuid{3, 3}, 0, {node_id_t{3}})});
}

TEST_CASE("producer ids only move forward") {
    metadata_image im = apply_ok(three_brokers(), {records::producer_ids{node_id_t{1}, 0, 1000}});
    CHECK(im.next_producer_id() == 1000);
    refusal(im, {records::producer_ids{node_id_t{2}, 1, 1000}});
    im = apply_ok(im, {records::producer_ids{node_id_t{2}, 1, 2000}});
    CHECK(im.next_producer_id() == 2000);
}

TEST_CASE("a snapshot's records rebuild an equal image, through the codec") {
    metadata_image im = three_brokers();
    im = apply_ok(im, {reg(3)});  // broker 3 re-registered: fenced, epoch 6
    im = apply_ok(
        im, {records::topic{"orders", orders_id}, part(orders_id, 0, {node_id_t{1}, node_id_t{2}}),
             part(orders_id, 1, {node_id_t{2}, node_id_t{1}}),
             records::topic_config{orders_id, "retention.ms", "5"}});
    im = apply_ok(im, {records::partition_change{orders_id, 1, node_id_t{1}, {}, {}}});
    im = apply_ok(im, {records::producer_ids{node_id_t{1}, 0, 3000}});

    const auto bytes = encode_batch(im.to_records());
    auto decoded = decode_batch(bytes);
    REQUIRE(decoded.has_value());
    auto rebuilt = image_from_records(*decoded, im.end_offset());
    REQUIRE_MESSAGE(rebuilt.problem.empty(), rebuilt.problem);
    CHECK(rebuilt.image == im);
    CHECK(rebuilt.image.broker(node_id_t{3})->epoch == 6);
    CHECK(rebuilt.image.broker(node_id_t{3})->fenced);
    CHECK(rebuilt.image.topic("orders")->partitions[1].leader_epoch == leader_epoch_t{1});

    // The empty image's snapshot is empty and rebuilds the empty image.
    CHECK(metadata_image{}.to_records().empty());
    CHECK(image_from_records({}, offset_t{0}).image == metadata_image{});
    // A snapshot record without its broker epoch is refused.
    CHECK_FALSE(
        image_from_records(std::vector<metadata_record>{reg(1)}, offset_t{1}).problem.empty());
}
