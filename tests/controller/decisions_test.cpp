// The controller's decisions as pure functions: requests and an image in, records and answers
// out. Placement spreads leaders and replicas; topics are created, grown, configured and deleted
// with Kafka's error codes; fencing and unfencing move leadership; and a seeded run of random
// operations keeps the image's invariants and its snapshot.
#include <doctest/doctest.h>

#include <random>
#include <set>

#include "sluice/controller/decisions.h"

using namespace sluice;
using namespace sluice::controller;
using broker::create_topic_request;

namespace {

metadata_image apply_ok(const metadata_image& image, const std::vector<metadata_record>& batch) {
    auto r = apply_batch(image, image.end_offset(), batch);
    REQUIRE_MESSAGE(r.problem.empty(), r.problem);
    return r.image;
}

metadata_image cluster(int32_t brokers) {
    metadata_image im;
    for (int32_t id = 1; id <= brokers; ++id) {
        im = apply_ok(im, plan_register(im, node_id_t{id}, uuid{uint64_t(id), 1},
                                        {{"PLAINTEXT", "127.0.0.1", 9000 + id}}, "", true));
        im = apply_ok(im, plan_unfence(im, node_id_t{id}));
    }
    return im;
}

struct ids {
    uint64_t next = 100;
    uuid operator()() { return uuid{next++, 7}; }
};

topic_defaults defaults() {
    topic_defaults d;
    d.partitions = 1;
    d.replication_factor = 1;
    d.config_problem = [](const config_map& c) -> std::optional<std::string> {
        if (c.contains("bogus")) {
            return std::string("unknown topic config bogus");
        }
        return std::nullopt;
    };
    return d;
}

create_topic_request req(std::string name, int32_t partitions, int16_t rf = -1) {
    return {std::move(name), partitions, rf, {}, {}};
}

metadata_image create(const metadata_image& im, std::vector<create_topic_request> reqs) {
    ids gen;
    gen.next = uint64_t(im.end_offset().value()) * 1000 + 1;
    auto plans = plan_create_topics(im, reqs, defaults(), false, std::ref(gen));
    metadata_image out = im;
    for (const auto& p : plans) {
        REQUIRE_MESSAGE(p.result.error == errc::none, p.result.message);
        out = apply_ok(out, p.records);
    }
    return out;
}

std::map<node_id_t, int> leaders(const metadata_image& im) {
    std::map<node_id_t, int> n;
    for (const auto& [name, t] : im.topics()) {
        for (const auto& p : t->partitions) {
            ++n[p.leader];
        }
    }
    return n;
}

}  // namespace

TEST_CASE("placement spreads leaders and replicas evenly, and counts what exists") {
    metadata_image im = cluster(3);
    im = create(im, {req("a", 6, 2)});
    CHECK(leaders(im) ==
          std::map<node_id_t, int>{{node_id_t{1}, 2}, {node_id_t{2}, 2}, {node_id_t{3}, 2}});
    std::map<node_id_t, int> replicas;
    for (const auto& p : im.topic("a")->partitions) {
        CHECK(p.replicas.size() == 2);
        CHECK(p.replicas[0] != p.replicas[1]);
        CHECK(p.isr == p.replicas);
        CHECK(p.leader == p.replicas[0]);
        for (auto r : p.replicas) {
            ++replicas[r];
        }
    }
    CHECK(replicas ==
          std::map<node_id_t, int>{{node_id_t{1}, 4}, {node_id_t{2}, 4}, {node_id_t{3}, 4}});

    // One more single-partition topic goes to a broker; the next two to the other two.
    im = create(im, {req("b", 1, 1), req("c", 1, 1), req("d", 1, 1)});
    CHECK(leaders(im) ==
          std::map<node_id_t, int>{{node_id_t{1}, 3}, {node_id_t{2}, 3}, {node_id_t{3}, 3}});

    // Fenced brokers get nothing.
    im = apply_ok(im, plan_fence(im, node_id_t{3}));
    auto place = place_partitions(im, 4, 2);
    REQUIRE(place.has_value());
    for (const auto& r : *place) {
        CHECK(std::find(r.begin(), r.end(), node_id_t{3}) == r.end());
    }
    CHECK_FALSE(place_partitions(im, 1, 3).has_value());
}

TEST_CASE("topic creation answers with Kafka's codes and writes nothing it refuses") {
    metadata_image im = create(cluster(2), {req("exists", 1)});
    std::vector<create_topic_request> reqs = {
        req("fine", 3),
        req("exists", 1),
        req("dup", 1),
        req("dup", 2),  // twice in one request: both refused
        req("bad/name", 1),
        req("__cluster_metadata", 1),
        req("zero", 0),
        req("rf3", 1, 3),  // two brokers
        req("rf0", 1, 0),
        {"conf", 1, 1, {{"bogus", "1"}}, {}},
        {"twice", 1, 1, {}, "retention.ms"},
        {"defaults", -1, -1, {{"retention.ms", "10"}}, {}},
    };
    ids gen;
    auto plans = plan_create_topics(im, reqs, defaults(), false, std::ref(gen));
    REQUIRE(plans.size() == reqs.size());
    const std::vector<errc> want = {errc::none,
                                    errc::topic_already_exists,
                                    errc::invalid_request,
                                    errc::invalid_request,
                                    errc::invalid_topic,
                                    errc::invalid_topic,
                                    errc::invalid_partitions,
                                    errc::invalid_replication_factor,
                                    errc::invalid_replication_factor,
                                    errc::invalid_config,
                                    errc::invalid_config,
                                    errc::none};
    for (size_t i = 0; i < reqs.size(); ++i) {
        CAPTURE(reqs[i].name);
        CHECK(plans[i].result.name == reqs[i].name);
        CHECK(plans[i].result.error == want[i]);
        CHECK(plans[i].result.message.empty() == (want[i] == errc::none));
        CHECK(plans[i].records.empty() == (want[i] != errc::none));
    }
    CHECK(plans[1].result.message == "topic 'exists' already exists");
    CHECK(plans[2].result.message == "topic 'dup' appears more than once in the request");
    CHECK(plans[5].result.message ==
          "topic name '__cluster_metadata' is reserved: it names the "
          "metadata log");
    CHECK(plans[6].result.message ==
          "number of partitions must be from 1 to 10000 (or -1 for the broker's num.partitions); "
          "got 0");
    CHECK(plans[7].result.message == "replication factor 3 is larger than the 2 available brokers");
    CHECK(plans[10].result.message == "config 'retention.ms' is given more than once");
    for (const auto& p : plans) {
        if (!p.records.empty()) {
            im = apply_ok(im, p.records);
        }
    }
    CHECK(im.topic("fine")->partitions.size() == 3);
    CHECK(im.topic("defaults")->partitions.size() == 1);
    CHECK(im.topic("defaults")->configs.at("retention.ms") == "10");
    CHECK(im.topics().size() == 3);

    // Validate-only answers the same and writes nothing.
    auto dry = plan_create_topics(im, std::vector{req("new", 2)}, defaults(), true, std::ref(gen));
    CHECK(dry[0].result.error == errc::none);
    CHECK(dry[0].records.empty());
    CHECK(plan_create_topics(im, std::vector{req("fine", 2)}, defaults(), true, std::ref(gen))[0]
              .result.error == errc::topic_already_exists);

    // max.partitions: no broker is given more than it may hold.
    auto tight = defaults();
    tight.partitions_per_broker_max = 3;
    auto full = plan_create_topics(im, std::vector{req("big", 4, 1)}, tight, false, std::ref(gen));
    CHECK(full[0].result.error == errc::invalid_partitions);
    CHECK(full[0].result.message.find("more would pass max.partitions (3)") != std::string::npos);
}

TEST_CASE("deleting, growing and configuring topics") {
    metadata_image im = create(cluster(3), {req("a", 2, 1), req("b", 1, 1)});
    auto twice = plan_delete_topics(im, std::vector<std::string>{"a", "b", "a"});
    CHECK(twice[0].result.error == errc::invalid_request);
    CHECK(twice[1].result.error == errc::none);
    CHECK(twice[2].result.error == errc::invalid_request);
    auto del = plan_delete_topics(im, std::vector<std::string>{"a", "nope"});
    CHECK(del[0].result.error == errc::none);
    CHECK(del[1].result.error == errc::unknown_topic_or_partition);
    CHECK(del[1].result.message == "topic 'nope' does not exist");
    im = apply_ok(im, del[0].records);
    CHECK(im.topic("a") == nullptr);

    CHECK(plan_add_partitions(im, "b", 1, defaults(), false).result.error ==
          errc::invalid_partitions);
    CHECK(plan_add_partitions(im, "x", 3, defaults(), false).result.error ==
          errc::unknown_topic_or_partition);
    auto grow = plan_add_partitions(im, "b", 4, defaults(), false);
    REQUIRE(grow.result.error == errc::none);
    im = apply_ok(im, grow.records);
    CHECK(im.topic("b")->partitions.size() == 4);
    std::set<node_id_t> led;
    for (const auto& p : im.topic("b")->partitions) {
        led.insert(p.leader);
    }
    CHECK(led.size() == 3);  // new partitions went to the brokers leading least

    auto bad = plan_alter_configs(im, "b", {{"bogus", "1"}}, defaults(), false);
    CHECK(bad.result.error == errc::invalid_config);
    auto set = plan_alter_configs(im, "b", {{"retention.ms", "9"}}, defaults(), false);
    im = apply_ok(im, set.records);
    CHECK(im.topic("b")->configs.at("retention.ms") == "9");
    auto unset = plan_alter_configs(im, "b", {{"retention.ms", std::nullopt}}, defaults(), false);
    im = apply_ok(im, unset.records);
    CHECK(im.topic("b")->configs.empty());
}

TEST_CASE(
    "fencing moves leadership to the ISR or leaves the partition offline; unfencing "
    "brings it back") {
    metadata_image im = create(cluster(3), {req("one", 3, 1), req("two", 3, 2)});
    const auto before = im;
    im = apply_ok(im, plan_fence(im, node_id_t{1}));
    CHECK(im.broker(node_id_t{1})->fenced);
    for (const auto& [name, t] : im.topics()) {
        for (size_t i = 0; i < t->partitions.size(); ++i) {
            const auto& p = t->partitions[i];
            const auto& old = before.topic(name)->partitions[i];
            CHECK(p.leader != node_id_t{1});
            if (old.leader == node_id_t{1}) {
                CHECK(p.leader_epoch == old.leader_epoch + 1);
                if (name == "one") {
                    CHECK(p.leader == node_id_t{-1});           // RF 1: offline
                    CHECK(p.isr == std::vector{node_id_t{1}});  // and waiting for it
                } else {
                    CHECK(p.leader != node_id_t{-1});
                }
            }
            if (name == "two") {
                CHECK(std::find(p.isr.begin(), p.isr.end(), node_id_t{1}) == p.isr.end());
            }
        }
    }
    CHECK(plan_fence(im, node_id_t{1}).empty());  // already fenced

    im = apply_ok(im, plan_unfence(im, node_id_t{1}));
    CHECK_FALSE(im.broker(node_id_t{1})->fenced);
    for (size_t i = 0; i < 3; ++i) {
        CHECK(im.topic("one")->partitions[i].leader != node_id_t{-1});
    }
    CHECK(leaders(im).count(node_id_t{-1}) == 0);
}

TEST_CASE("controlled shutdown and re-registration move leadership away") {
    metadata_image im = create(cluster(3), {req("two", 3, 2), req("one", 3, 1)});
    im = apply_ok(im, plan_move_leaders_away(im, node_id_t{2}));
    for (const auto& p : im.topic("two")->partitions) {
        CHECK(p.leader != node_id_t{2});
    }
    // RF 1 cannot move: it stays until the broker is fenced.
    int still = 0;
    for (const auto& p : im.topic("one")->partitions) {
        still += p.leader == node_id_t{2};
    }
    CHECK(still == 1);

    // The same incarnation again: nothing to write.
    CHECK(plan_register(im, node_id_t{2}, uuid{2, 1}, {{"PLAINTEXT", "h", 1}}, "", true).empty());
    // A new process: fenced, and nothing names it as leader.
    im = apply_ok(im,
                  plan_register(im, node_id_t{2}, uuid{2, 2}, {{"PLAINTEXT", "h", 1}}, "", true));
    CHECK(im.broker(node_id_t{2})->fenced);
    CHECK(leaders(im).count(node_id_t{2}) == 0);
}

TEST_CASE("after an unclean shutdown a broker leaves the ISRs it shares; a clean one stays") {
    const metadata_image base = create(cluster(3), {req("three", 2, 3), req("alone", 1, 1)});
    auto isr_holds = [](const metadata_image& im, const std::string& topic, node_id_t id) {
        int n = 0;
        for (const auto& p : im.topic(topic)->partitions) {
            n += std::find(p.isr.begin(), p.isr.end(), id) != p.isr.end();
        }
        return n;
    };
    const node_id_t alone_on = base.topic("alone")->partitions[0].replicas[0];

    // Clean: a new process keeps its ISR places (it kept everything it had).
    auto clean = apply_ok(
        base, plan_register(base, node_id_t{2}, uuid{2, 2}, {{"PLAINTEXT", "h", 1}}, "", true));
    CHECK(isr_holds(clean, "three", node_id_t{2}) == 2);
    // Unclean: out of every ISR another member stays in, so it rejoins only once caught up;
    // where it is the last member it stays (it holds everything committed there).
    auto unclean = apply_ok(
        base, plan_register(base, alone_on, uuid{99, 2}, {{"PLAINTEXT", "h", 1}}, "", false));
    CHECK(isr_holds(unclean, "three", alone_on) == 0);
    CHECK(isr_holds(unclean, "alone", alone_on) == 1);
    CHECK(leaders(unclean).count(alone_on) == 0);
    for (const auto& p : unclean.topic("three")->partitions) {
        CHECK(p.isr.size() == 2);
        CHECK(p.leader != node_id_t{-1});
    }
}

TEST_CASE("an unclean election happens only where the topic or the default allows it") {
    metadata_image im = create(cluster(3), {req("lossy", 1, 2), req("strict", 1, 2)});
    auto lossy = plan_alter_configs(im, "lossy", {{"unclean.leader.election.enable", "TRUE"}},
                                    defaults(), false);
    REQUIRE(lossy.result.error == errc::none);
    im = apply_ok(im, lossy.records);
    // Each partition's ISR shrinks to its leader, which is then fenced: no ISR member is left.
    std::map<std::string, node_id_t> follower;
    for (const std::string name : {"lossy", "strict"}) {
        const partition_info p = im.topic(name)->partitions[0];
        follower[name] = p.replicas[0] == p.leader ? p.replicas[1] : p.replicas[0];
        auto plan = plan_isr_change(
            im, {p.leader, im.topic(name)->id, 0, p.leader_epoch, p.partition_epoch, {p.leader}});
        REQUIRE(plan.error == errc::none);
        if (!plan.records.empty()) {  // (empty: fencing the other leader shrank it already)
            im = apply_ok(im, plan.records);
        }
        REQUIRE_FALSE(im.broker(p.leader)->fenced);  // placement gave each its own leader
        im = apply_ok(im, plan_fence(im, p.leader));
        CHECK(im.topic(name)->partitions[0].leader == node_id_t{-1});
    }
    auto records = plan_unclean_elections(im, defaults());
    REQUIRE(records.size() == 1);
    im = apply_ok(im, records);
    const auto& elected = im.topic("lossy")->partitions[0];
    CHECK(elected.leader == follower["lossy"]);
    CHECK(elected.isr == std::vector<node_id_t>{follower["lossy"]});
    CHECK(im.topic("strict")->partitions[0].leader == node_id_t{-1});
    CHECK(plan_unclean_elections(im, defaults()).empty());  // done: nothing more to do
    // The broker default covers topics without an override.
    auto d = defaults();
    d.unclean_leader_election = true;
    CHECK(plan_unclean_elections(im, d).size() == 1);
}

TEST_CASE("preferred leader elections and the automatic rebalance") {
    metadata_image im = create(cluster(3), {req("p", 3, 3)});
    // Broker 1 stops cleanly: its leadership moves away; back, it is unfenced but leads nothing.
    std::vector<int32_t> preferred_by_1;
    for (size_t i = 0; i < 3; ++i) {
        if (im.topic("p")->partitions[i].replicas[0] == node_id_t{1}) {
            preferred_by_1.push_back(int32_t(i));
        }
    }
    REQUIRE(preferred_by_1.size() == 1);
    im = apply_ok(im, plan_move_leaders_away(im, node_id_t{1}));
    CHECK(leaders(im).count(node_id_t{1}) == 0);

    auto plan = plan_preferred_elections(im, {"p", "nope"});
    REQUIRE(plan.results.size() == 4);
    CHECK(plan.results[0].topic == "nope");
    CHECK(plan.results[0].error == errc::unknown_topic_or_partition);
    int elected = 0;
    int not_needed = 0;
    for (size_t i = 1; i < 4; ++i) {
        elected += plan.results[i].error == errc::none;
        not_needed += plan.results[i].error == errc::election_not_needed;
    }
    CHECK(elected == 1);
    CHECK(not_needed == 2);
    CHECK(plan.records.size() == 1);
    // The rebalance plans the same move: broker 1 leads none of the one it prefers (100%).
    CHECK(plan_rebalance(im, 0.1) == plan.records);
    CHECK(plan_rebalance(im, 1.0).empty());  // at most 100% imbalance: never above it
    im = apply_ok(im, plan.records);
    CHECK(im.topic("p")->partitions[size_t(preferred_by_1[0])].leader == node_id_t{1});
    CHECK(plan_preferred_elections(im, {}).records.empty());

    // A fenced preferred replica cannot take over.
    im = apply_ok(im, plan_fence(im, node_id_t{1}));
    auto fenced = plan_preferred_elections(im, {"p"});
    CHECK(fenced.records.empty());
    CHECK(fenced.results[size_t(preferred_by_1[0])].error == errc::preferred_leader_not_available);
    CHECK(plan_rebalance(im, 0.0).empty());
}

// Random operations, planned and applied as the controller would; after each: every leader is
// an unfenced ISR member (or none), every ISR is in its replicas, leader epochs never fall, and
// the image survives a snapshot round trip.
TEST_CASE("a seeded run of random decisions keeps the image's invariants") {
    for (uint64_t seed = 1; seed <= 20; ++seed) {
        CAPTURE(seed);
        std::mt19937_64 rng(seed);
        auto pick = [&](int n) { return int(rng() % uint64_t(n)); };
        metadata_image im = cluster(5);
        ids gen;
        std::map<std::pair<std::string, size_t>, leader_epoch_t> epochs;
        for (int step = 0; step < 200; ++step) {
            std::vector<metadata_record> batch;
            const node_id_t b{1 + pick(5)};
            switch (pick(10)) {
                case 0:
                case 1: {
                    auto plans =
                        plan_create_topics(im,
                                           std::vector{req(fmt::format("t{}", pick(30)),
                                                           1 + pick(4), int16_t(1 + pick(3)))},
                                           defaults(), false, std::ref(gen));
                    batch = plans[0].records;
                    break;
                }
                case 2:
                    batch = plan_delete_topics(im, std::vector{fmt::format("t{}", pick(30))})[0]
                                .records;
                    break;
                case 3:
                    batch = plan_fence(im, b);
                    break;
                case 4:
                    batch = plan_unfence(im, b);
                    break;
                case 5:
                    batch = plan_move_leaders_away(im, b);
                    break;
                case 6:
                    batch = plan_register(im, b, uuid{uint64_t(b.value()), rng() | 1},
                                          {{"PLAINTEXT", "h", 1}}, "", pick(2) == 0);
                    break;
                case 7: {
                    auto d = defaults();
                    d.unclean_leader_election = pick(2) == 0;
                    batch = plan_unclean_elections(im, d);
                    break;
                }
                case 8:
                    batch = plan_preferred_elections(im, {}).records;
                    break;
                case 9:
                    batch = plan_rebalance(im, 0.1 * pick(5));
                    break;
            }
            if (batch.empty()) {
                continue;
            }
            im = apply_ok(im, batch);
            for (const auto& [name, t] : im.topics()) {
                for (size_t i = 0; i < t->partitions.size(); ++i) {
                    const auto& p = t->partitions[i];
                    if (p.leader != node_id_t{-1}) {
                        CHECK_FALSE(im.broker(p.leader)->fenced);
                        CHECK(std::find(p.isr.begin(), p.isr.end(), p.leader) != p.isr.end());
                    }
                    CHECK_FALSE(p.isr.empty());
                    auto [it, fresh] =
                        epochs.try_emplace({name + t->id.to_string(), i}, p.leader_epoch);
                    CHECK(p.leader_epoch >= it->second);
                    it->second = p.leader_epoch;
                }
            }
        }
        auto rebuilt = image_from_records(im.to_records(), im.end_offset());
        REQUIRE(rebuilt.problem.empty());
        CHECK(rebuilt.image == im);
    }
}

TEST_CASE("ISR changes: only the current leader at the current epochs, never a fenced joiner") {
    metadata_image im = create(cluster(3), {req("r", 1, 3)});
    const uuid id = im.topic("r")->id;  // (the image is replaced below: no pointer into it)
    const partition_info p = im.topic("r")->partitions[0];
    REQUIRE(p.isr.size() == 3);
    const node_id_t leader = p.leader;
    std::vector<node_id_t> others;
    for (node_id_t r : p.replicas) {
        if (r != leader) {
            others.push_back(r);
        }
    }
    isr_change shrink{leader, id, 0, p.leader_epoch, p.partition_epoch, {leader, others[0]}};

    auto refused = [&](isr_change c, errc e) {
        auto plan = plan_isr_change(im, c);
        CHECK(plan.error == e);
        CHECK_FALSE(plan.message.empty());
        CHECK(plan.records.empty());
    };
    auto c = shrink;
    c.leader = others[0];
    refused(c, errc::not_leader_or_follower);
    c = shrink;
    c.leader_epoch = p.leader_epoch + 1;
    refused(c, errc::fenced_leader_epoch);
    c = shrink;
    c.partition_epoch = p.partition_epoch - 1;
    refused(c, errc::invalid_update_version);
    c = shrink;
    c.isr = {others[0]};
    refused(c, errc::invalid_request);  // without its leader
    c.isr = {leader, leader};
    refused(c, errc::invalid_request);
    c.isr = {leader, node_id_t{9}};
    refused(c, errc::invalid_request);
    c = shrink;
    c.topic_id = uuid{99, 99};
    refused(c, errc::unknown_topic_or_partition);

    im = apply_ok(im, plan_isr_change(im, shrink).records);
    const partition_info after = im.topic("r")->partitions[0];
    CHECK(after.isr == shrink.isr);
    CHECK(after.partition_epoch == p.partition_epoch + 1);
    CHECK(after.leader_epoch == p.leader_epoch);
    // The same change again, at the old partition epoch: refused (the leader learns the new one).
    refused(shrink, errc::invalid_update_version);

    // A fenced broker may not join; an unfenced one may.
    im = apply_ok(im, plan_fence(im, others[1]));
    const partition_info fenced = im.topic("r")->partitions[0];
    isr_change grow{
        leader, id, 0, fenced.leader_epoch, fenced.partition_epoch, {leader, others[0], others[1]}};
    refused(grow, errc::ineligible_replica);
    im = apply_ok(im, plan_unfence(im, others[1]));
    grow.partition_epoch = im.topic("r")->partitions[0].partition_epoch;
    auto ok = plan_isr_change(im, grow);
    REQUIRE(ok.error == errc::none);
    im = apply_ok(im, ok.records);
    CHECK(im.topic("r")->partitions[0].isr.size() == 3);
    // No change: nothing to write.
    grow.partition_epoch = im.topic("r")->partitions[0].partition_epoch;
    auto same = plan_isr_change(im, grow);
    CHECK(same.error == errc::none);
    CHECK(same.records.empty());
}
