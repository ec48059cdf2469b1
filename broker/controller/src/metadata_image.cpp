#include "sluice/controller/metadata_image.h"

#include <algorithm>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "sluice/core/topic_admin.h"

namespace sluice::controller {

namespace {

bool distinct(const std::vector<node_id_t>& ids) {
    std::set<node_id_t> seen(ids.begin(), ids.end());
    return seen.size() == ids.size();
}

bool contains(const std::vector<node_id_t>& ids, node_id_t id) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
}

bool subset(const std::vector<node_id_t>& part, const std::vector<node_id_t>& whole) {
    return std::all_of(part.begin(), part.end(), [&](node_id_t id) { return contains(whole, id); });
}

}  // namespace

// The mutable working copy of one batch: the maps are copied once per batch, topics once per
// batch that touches them.
class image_builder {
  public:
    image_builder(const metadata_image& base, offset_t offset, bool snapshot)
        : brokers_(base.brokers()),
          topics_(base.topics()),
          names_(*base.names_),
          next_producer_id_(base.next_producer_id_),
          offset_(offset),
          snapshot_(snapshot) {}

    // The reason the record does not fit, or nothing.
    std::optional<std::string> apply(const metadata_record& r) {
        return std::visit([&](const auto& rec) { return on(rec); }, r);
    }

    // `image` as it is, at `end_offset`: what a refused batch leaves.
    static metadata_image moved_to(metadata_image image, offset_t end_offset) {
        image.end_offset_ = end_offset;
        return image;
    }

    metadata_image build(offset_t end_offset) && {
        metadata_image out;
        out.brokers_ =
            std::make_shared<const std::map<node_id_t, broker_info>>(std::move(brokers_));
        out.topics_ = std::make_shared<const std::map<std::string, topic_ptr, std::less<>>>(
            std::move(topics_));
        out.names_ = std::make_shared<const std::map<uuid, std::string>>(std::move(names_));
        out.next_producer_id_ = next_producer_id_;
        out.end_offset_ = end_offset;
        return out;
    }

  private:
    using problem = std::optional<std::string>;

    // The topic with `id`, copied for writing (once per batch).
    topic_info* writable(const uuid& id) {
        auto n = names_.find(id);
        if (n == names_.end()) {
            return nullptr;
        }
        auto& slot = topics_.at(n->second);
        if (!copied_.contains(id)) {
            slot = std::make_shared<topic_info>(*slot);
            copied_.insert(id);
        }
        return const_cast<topic_info*>(slot.get());  // the copy is this builder's own
    }

    problem check_replicas(const std::vector<node_id_t>& replicas,
                           const std::vector<node_id_t>& isr, node_id_t leader) const {
        if (replicas.empty() || !distinct(replicas) || !distinct(isr)) {
            return "replicas empty or named twice";
        }
        for (node_id_t r : replicas) {
            if (!brokers_.contains(r)) {
                return fmt::format("replica {} is not a registered broker", r);
            }
        }
        if (!subset(isr, replicas)) {
            return "an ISR member that is not a replica";
        }
        if (leader != node_id_t{-1} && !contains(isr, leader)) {
            return fmt::format("leader {} is not in the ISR", leader);
        }
        return std::nullopt;
    }

    problem on(const records::register_broker& r) {
        if (snapshot_ != (r.broker_epoch != epoch_of_this_record)) {
            return "a broker epoch in a log entry, or none in a snapshot";
        }
        const int64_t epoch = snapshot_ ? r.broker_epoch : offset_.value();
        brokers_[r.id] = broker_info{r.id, r.incarnation, epoch, r.endpoints, r.rack, true};
        return std::nullopt;
    }

    problem fenced(node_id_t id, int64_t epoch, bool value) {
        auto it = brokers_.find(id);
        if (it == brokers_.end() || it->second.epoch != epoch) {
            return fmt::format("broker {} has no registration of epoch {}", id, epoch);
        }
        it->second.fenced = value;
        return std::nullopt;
    }
    problem on(const records::fence_broker& r) { return fenced(r.id, r.broker_epoch, true); }
    problem on(const records::unfence_broker& r) { return fenced(r.id, r.broker_epoch, false); }

    problem on(const records::topic& r) {
        if (auto why = broker::topic_name_problem(r.name)) {
            return *why;
        }
        if (topics_.contains(r.name) || names_.contains(r.id)) {
            return fmt::format("topic {} or its id exists", r.name);
        }
        topics_.emplace(r.name, std::make_shared<topic_info>(topic_info{r.id, r.name, {}, {}}));
        names_.emplace(r.id, r.name);
        copied_.insert(r.id);
        return std::nullopt;
    }

    problem on(const records::partition& r) {
        topic_info* t = writable(r.topic_id);
        if (t == nullptr) {
            return "a partition of an unknown topic";
        }
        if (size_t(r.index) != t->partitions.size()) {
            return fmt::format("partition {} of {} is not the next one ({})", r.index, t->name,
                               t->partitions.size());
        }
        if (auto why = check_replicas(r.replicas, r.isr, r.leader)) {
            return fmt::format("partition {} of {}: {}", r.index, t->name, *why);
        }
        t->partitions.push_back(
            partition_info{r.replicas, r.isr, r.leader, r.leader_epoch, r.partition_epoch});
        return std::nullopt;
    }

    problem on(const records::partition_change& r) {
        topic_info* t = writable(r.topic_id);
        if (t == nullptr || size_t(r.index) >= t->partitions.size()) {
            return "a change of an unknown partition";
        }
        partition_info p = t->partitions[size_t(r.index)];
        const bool new_leader = r.leader && *r.leader != p.leader;
        if (r.leader) {
            p.leader = *r.leader;
        }
        if (r.isr) {
            p.isr = *r.isr;
        }
        if (r.replicas) {
            p.replicas = *r.replicas;
        }
        if (auto why = check_replicas(p.replicas, p.isr, p.leader)) {
            return fmt::format("partition {} of {}: {}", r.index, t->name, *why);
        }
        if (new_leader) {
            p.leader_epoch = p.leader_epoch + 1;
        }
        ++p.partition_epoch;
        t->partitions[size_t(r.index)] = std::move(p);
        return std::nullopt;
    }

    problem on(const records::remove_topic& r) {
        auto n = names_.find(r.topic_id);
        if (n == names_.end()) {
            return "removal of an unknown topic";
        }
        topics_.erase(n->second);
        names_.erase(n);
        return std::nullopt;
    }

    problem on(const records::topic_config& r) {
        topic_info* t = writable(r.topic_id);
        if (t == nullptr) {
            return "a config of an unknown topic";
        }
        if (r.value) {
            t->configs[r.key] = *r.value;
        } else {
            t->configs.erase(r.key);
        }
        return std::nullopt;
    }

    problem on(const records::producer_ids& r) {
        if (r.next_producer_id <= next_producer_id_) {
            return fmt::format("producer ids up to {} were handed out already", next_producer_id_);
        }
        next_producer_id_ = r.next_producer_id;
        return std::nullopt;
    }

    std::map<node_id_t, broker_info> brokers_;
    std::map<std::string, topic_ptr, std::less<>> topics_;
    std::map<uuid, std::string> names_;
    std::set<uuid> copied_;  // topics this builder owns
    int64_t next_producer_id_;
    offset_t offset_;
    bool snapshot_;
};

metadata_image::metadata_image()
    : brokers_(std::make_shared<const std::map<node_id_t, broker_info>>()),
      topics_(std::make_shared<const std::map<std::string, topic_ptr, std::less<>>>()),
      names_(std::make_shared<const std::map<uuid, std::string>>()) {}

const broker_info* metadata_image::broker(node_id_t id) const {
    auto it = brokers_->find(id);
    return it == brokers_->end() ? nullptr : &it->second;
}

const topic_info* metadata_image::topic(std::string_view name) const {
    auto it = topics_->find(name);
    return it == topics_->end() ? nullptr : it->second.get();
}

const topic_info* metadata_image::topic(const uuid& id) const {
    auto it = names_->find(id);
    return it == names_->end() ? nullptr : topic(it->second);
}

std::vector<metadata_record> metadata_image::to_records() const {
    std::vector<metadata_record> out;
    for (const auto& [id, b] : *brokers_) {
        out.push_back(records::register_broker{id, b.incarnation, b.endpoints, b.rack, b.epoch});
        if (!b.fenced) {
            out.push_back(records::unfence_broker{id, b.epoch});
        }
    }
    for (const auto& [name, t] : *topics_) {
        out.push_back(records::topic{name, t->id});
        for (size_t i = 0; i < t->partitions.size(); ++i) {
            const auto& p = t->partitions[i];
            out.push_back(records::partition{t->id, int32_t(i), p.replicas, p.isr, p.leader,
                                             p.leader_epoch, p.partition_epoch});
        }
        for (const auto& [k, v] : t->configs) {
            out.push_back(records::topic_config{t->id, k, v});
        }
    }
    if (next_producer_id_ > 0) {
        out.push_back(records::producer_ids{node_id_t{-1}, -1, next_producer_id_});
    }
    return out;
}

bool operator==(const metadata_image& a, const metadata_image& b) {
    if (a.next_producer_id_ != b.next_producer_id_ || a.end_offset_ != b.end_offset_ ||
        *a.brokers_ != *b.brokers_ || a.topics_->size() != b.topics_->size()) {
        return false;
    }
    return std::equal(
        a.topics_->begin(), a.topics_->end(), b.topics_->begin(),
        [](const auto& x, const auto& y) { return x.first == y.first && *x.second == *y.second; });
}

namespace {

apply_result apply_all(const metadata_image& image, offset_t offset, offset_t end_offset,
                       std::span<const metadata_record> batch, bool snapshot) {
    image_builder b(image, offset, snapshot);
    for (size_t i = 0; i < batch.size(); ++i) {
        if (auto why = b.apply(batch[i])) {
            return {image_builder::moved_to(image, end_offset),
                    fmt::format("record {} of the batch at offset {} ({}): {}", i, offset,
                                describe(batch[i]), *why)};
        }
    }
    return {std::move(b).build(end_offset), {}};
}

}  // namespace

apply_result apply_batch(const metadata_image& image, offset_t offset,
                         std::span<const metadata_record> batch) {
    return apply_all(image, offset, offset + 1, batch, false);
}

apply_result image_from_records(std::span<const metadata_record> records, offset_t end_offset) {
    return apply_all(metadata_image{}, end_offset, end_offset, records, true);
}

}  // namespace sluice::controller
