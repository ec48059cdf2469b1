// The cluster's metadata as of some offset of the metadata log: brokers, topics, partitions,
// topic configs, the next producer id. An image never changes; apply_batch makes a new one that
// shares every topic it did not touch with the old one, so handing an image to another thread is
// handing it a shared_ptr, and finding what changed compares pointers before values. Pure.
//
// A batch that does not fit the image (a partition of an unknown topic, a leader outside the
// ISR, a fence of an old registration, ...) is refused whole. Every node applies the same batches
// in the same order with the same checks, so every node refuses the same ones and all images
// stay equal; the controller checks its proposals against its own image first, so a refusal
// means a damaged or hostile entry.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/controller/metadata_records.h"
#include "sluice/protocol/types.h"

namespace sluice::controller {

struct broker_info {
    node_id_t id{-1};
    uuid incarnation;
    int64_t epoch = -1;  // the offset of its registration
    std::vector<endpoint> endpoints;
    std::string rack;
    bool fenced = true;

    friend bool operator==(const broker_info&, const broker_info&) = default;
};

struct partition_info {
    std::vector<node_id_t> replicas;  // the first is the preferred leader
    std::vector<node_id_t> isr;
    node_id_t leader{-1};  // -1: none (offline)
    leader_epoch_t leader_epoch{0};
    int32_t partition_epoch = 0;

    friend bool operator==(const partition_info&, const partition_info&) = default;
};

using config_map = std::map<std::string, std::string, std::less<>>;

struct topic_info {
    uuid id;
    std::string name;
    std::vector<partition_info> partitions;
    config_map configs;  // overrides only

    friend bool operator==(const topic_info&, const topic_info&) = default;
};

using topic_ptr = std::shared_ptr<const topic_info>;

class metadata_image {
  public:
    // The empty image, before any entry.
    metadata_image();

    const std::map<node_id_t, broker_info>& brokers() const { return *brokers_; }
    // By name.
    const std::map<std::string, topic_ptr, std::less<>>& topics() const { return *topics_; }
    const broker_info* broker(node_id_t id) const;
    const topic_info* topic(std::string_view name) const;
    const topic_info* topic(const uuid& id) const;
    int64_t next_producer_id() const { return next_producer_id_; }
    // Entries below this were applied.
    offset_t end_offset() const { return end_offset_; }

    // The records that rebuild this image from the empty one (a snapshot's contents).
    std::vector<metadata_record> to_records() const;

    // Equal contents (not identity).
    friend bool operator==(const metadata_image& a, const metadata_image& b);

  private:
    friend class image_builder;

    std::shared_ptr<const std::map<node_id_t, broker_info>> brokers_;
    std::shared_ptr<const std::map<std::string, topic_ptr, std::less<>>> topics_;
    std::shared_ptr<const std::map<uuid, std::string>> names_;  // topic id -> name
    int64_t next_producer_id_ = 0;
    offset_t end_offset_{0};
};

// The image after the batch at `offset` (whose end offset becomes offset + 1), or the reason
// it does not fit, naming the record.
struct apply_result {
    metadata_image image;
    std::string problem;  // non-empty: refused, `image` is the one given (with end_offset moved)
};
apply_result apply_batch(const metadata_image& image, offset_t offset,
                         std::span<const metadata_record> batch);

// The image a snapshot's records rebuild, as of `end_offset`; `problem` if they do not.
apply_result image_from_records(std::span<const metadata_record> records, offset_t end_offset);

}  // namespace sluice::controller
