#include "network.h"

namespace sluice::raft::sim {

int network::group_of(node_id_t id) const {
    auto it = group_.find(id);
    return it == group_.end() ? 0 : it->second;
}

void network::enqueue(const message& m, int64_t now, rng& r) {
    if (queue_.size() >= options_.in_flight_max) {
        ++stats_.dropped;
        return;
    }
    int64_t due = now + r.between(options_.delay_min_ticks, options_.delay_max_ticks);
    if (options_.long_delay_max_ticks > options_.delay_max_ticks &&
        r.chance_ppm(options_.long_delay_ppm)) {
        due = now + r.between(options_.delay_max_ticks, options_.long_delay_max_ticks);
    }
    queue_.push(in_flight{due, seq_++, m});
}

void network::send(message m, int64_t now, rng& r) {
    ++stats_.sent;
    if (!connected(m.from, m.to) || r.chance_ppm(options_.drop_ppm)) {
        ++stats_.dropped;
        return;
    }
    if (r.chance_ppm(options_.duplicate_ppm)) {
        ++stats_.duplicated;
        enqueue(m, now, r);
    }
    enqueue(m, now, r);
}

bool network::pop_due(int64_t now, message& out) {
    while (!queue_.empty() && queue_.top().due <= now) {
        // priority_queue::top() is const; the message is moved out before pop().
        out = std::move(const_cast<in_flight&>(queue_.top()).m);
        queue_.pop();
        if (connected(out.from, out.to)) {
            ++stats_.delivered;
            return true;
        }
        ++stats_.dropped;
    }
    return false;
}

}  // namespace sluice::raft::sim
