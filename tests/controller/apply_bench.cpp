// Metadata records applied per second: batches of topic creations (one Topic and its Partition
// records each) planned by the controller's decisions and applied to the image, as every node
// applies the metadata log. Pure: no disk, no network.
//
//   controller-apply-bench [TOPICS] [PARTITIONS]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "sluice/controller/decisions.h"

using namespace sluice;
using namespace sluice::controller;

int main(int argc, char** argv) {
    const int topics = argc > 1 ? std::atoi(argv[1]) : 20000;
    const int partitions = argc > 2 ? std::atoi(argv[2]) : 10;
    metadata_image im;
    for (int32_t id = 1; id <= 3; ++id) {
        im = apply_batch(im, im.end_offset(),
                         plan_register(im, node_id_t{id}, uuid{uint64_t(id), 1},
                                       {{"PLAINTEXT", "127.0.0.1", 9000 + id}}, "", true))
                 .image;
        im = apply_batch(im, im.end_offset(), plan_unfence(im, node_id_t{id})).image;
    }
    // Planned first, applied in the timed loop, as a follower applies what it fetched.
    topic_defaults d;
    d.partitions_per_broker_max = 1 << 30;
    std::vector<std::vector<metadata_record>> batches;
    metadata_image planning = im;
    uint64_t next = 1;
    size_t records = 0;
    for (int t = 0; t < topics; ++t) {
        std::vector<broker::create_topic_request> req{
            {fmt::format("topic-{}", t), partitions, 1, {}, {}}};
        auto plans = plan_create_topics(planning, req, d, false, [&] { return uuid{next++, 9}; });
        records += plans[0].records.size();
        planning = apply_batch(planning, planning.end_offset(), plans[0].records).image;
        batches.push_back(std::move(plans[0].records));
    }
    const auto start = std::chrono::steady_clock::now();
    for (const auto& b : batches) {
        auto r = apply_batch(im, im.end_offset(), b);
        if (!r.problem.empty()) {
            std::fprintf(stderr, "controller-apply-bench: %s\n", r.problem.c_str());
            return 1;
        }
        im = std::move(r.image);
    }
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf(
        "applied %zu metadata records in %d batches in %.3f s: %.0f records/s, %.0f "
        "batches/s (ending with %zu topics)\n",
        records, topics, s, double(records) / s, double(topics) / s, im.topics().size());
    return 0;
}
