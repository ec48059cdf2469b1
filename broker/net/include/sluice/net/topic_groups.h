// A request's topics flattened into one list of partition entries, remembering which topic each
// entry came from, so that the response groups its partitions by topic the way the request did.
// Produce and fetch both flatten their requests this way for the core's plain structs.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace sluice::broker {

class topic_groups {
  public:
    // Calls `fn(name, partition)` for every partition of every topic in `topics` (a FlatBuffers
    // vector, possibly null, of tables with name() and partitions()), in request order; `fn`
    // appends exactly one entry to the caller's list per call.
    template <typename Topics, typename Fn>
    void flatten(const Topics* topics, Fn&& fn) {
        if (topics == nullptr) {
            return;
        }
        for (const auto* t : *topics) {
            names_.push_back(t->name() != nullptr ? t->name()->string_view() : "");
            if (t->partitions() == nullptr) {
                continue;
            }
            for (const auto* p : *t->partitions()) {
                topic_of_.push_back(names_.size() - 1);
                fn(names_.back(), *p);
            }
        }
    }

    // The topic of entry `k`, and whether it is the last entry of that topic.
    std::string_view topic(size_t k) const { return names_[topic_of_[k]]; }
    bool last_of_topic(size_t k) const {
        return k + 1 == topic_of_.size() || topic_of_[k + 1] != topic_of_[k];
    }

  private:
    std::vector<std::string_view> names_;
    std::vector<size_t> topic_of_;  // per entry: its index in names_
};

}  // namespace sluice::broker
