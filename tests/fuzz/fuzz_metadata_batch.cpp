// Fuzz target: one entry of the cluster metadata log (a batch of metadata records).
//
// decode_batch either refuses the entry with a reason or returns records; returned records
// describe themselves and encode to an entry that decodes to the same records. They are then
// applied to the empty image and to a small cluster's image, and read as a snapshot: each either
// applies whole or is refused with a reason, and an image that results survives a snapshot round
// trip unchanged.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sluice/controller/metadata_image.h"

namespace {

using namespace sluice;
using namespace sluice::controller;

volatile size_t sink;

// Brokers 1 and 2 unfenced, topic "t" (id 1:1) with two partitions.
metadata_image small_cluster() {
    const uuid t{1, 1};
    const std::vector<std::vector<metadata_record>> batches = {
        {records::register_broker{node_id_t{1}, uuid{1, 9}, {{"PLAINTEXT", "h", 1}}, "", -1}},
        {records::register_broker{node_id_t{2}, uuid{2, 9}, {{"PLAINTEXT", "h", 2}}, "", -1}},
        {records::unfence_broker{node_id_t{1}, 0}, records::unfence_broker{node_id_t{2}, 1}},
        {records::topic{"t", t},
         records::partition{t,
                            0,
                            {node_id_t{1}, node_id_t{2}},
                            {node_id_t{1}, node_id_t{2}},
                            node_id_t{1},
                            leader_epoch_t{0},
                            0},
         records::partition{
             t, 1, {node_id_t{2}}, {node_id_t{2}}, node_id_t{2}, leader_epoch_t{0}, 0}},
    };
    metadata_image im;
    for (const auto& b : batches) {
        auto r = apply_batch(im, im.end_offset(), b);
        if (!r.problem.empty()) {
            std::abort();
        }
        im = r.image;
    }
    return im;
}

void check_image(const apply_result& r) {
    if (!r.problem.empty()) {
        return;
    }
    auto again = image_from_records(r.image.to_records(), r.image.end_offset());
    if (!again.problem.empty() || !(again.image == r.image)) {
        std::abort();  // a snapshot must rebuild the image it was taken of
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const metadata_image cluster = small_cluster();
    const std::string bytes(reinterpret_cast<const char*>(data), size);  // aligned copy
    std::string why;
    auto batch = decode_batch(bytes, &why);
    if (!batch) {
        if (why.empty()) {
            std::abort();  // a refusal always says why
        }
        return 0;
    }
    for (const auto& r : *batch) {
        sink = describe(r).size();
    }
    auto again = decode_batch(encode_batch(*batch));
    if (!again || *again != *batch) {
        std::abort();  // the encoder and decoder disagree
    }
    check_image(apply_batch(metadata_image{}, offset_t{0}, *batch));
    const auto applied = apply_batch(cluster, cluster.end_offset(), *batch);
    if (applied.problem.empty() == false && !(applied.image.topics() == cluster.topics())) {
        std::abort();  // a refused batch changed the image
    }
    check_image(applied);
    check_image(image_from_records(*batch, offset_t{7}));
    return 0;
}
