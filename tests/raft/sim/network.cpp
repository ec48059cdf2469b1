#include "network.h"

namespace sluice::raft::sim {

namespace {

// Damages `m` so that raft::invalid_reason() refuses it: a field no correct sender writes.
void corrupt(message& m, rng& r) {
    switch (r.below(3)) {
        case 0:
            m.from = node_id_t{-2 - static_cast<int32_t>(r.below(100))};
            return;
        case 1:
            std::visit([&](auto& b) { b.term = term_t{-1 - static_cast<int64_t>(r.below(100))}; },
                       m.body);
            return;
        default:
            break;
    }
    std::visit(
        [&](auto& b) {
            using T = std::decay_t<decltype(b)>;
            if constexpr (std::is_same_v<T, pre_vote_request> || std::is_same_v<T, vote_request>) {
                b.last_epoch = b.term + 1;
            } else if constexpr (std::is_same_v<T, pre_vote_response> ||
                                 std::is_same_v<T, vote_response> ||
                                 std::is_same_v<T, fetch_snapshot_response>) {
                b.leader = node_id_t{-3};
            } else if constexpr (std::is_same_v<T, begin_epoch>) {
                b.term = term_t{0};
            } else if constexpr (std::is_same_v<T, fetch_request>) {
                b.high_watermark = b.fetch_offset + 1;
            } else if constexpr (std::is_same_v<T, fetch_response>) {
                if (!b.entries.empty()) {
                    b.entries.back().term = b.term + 1;
                } else {
                    b.high_watermark = offset_t{-1};
                }
            } else {
                static_assert(std::is_same_v<T, fetch_snapshot_request>);
                b.position_bytes = -1;
            }
        },
        m.body);
}

}  // namespace

int network::group_of(node_id_t id) const {
    auto it = group_.find(id);
    return it == group_.end() ? 0 : it->second;
}

void network::enqueue(const message& m, int64_t now, rng& r, bool corrupted) {
    if (queue_.size() >= options_.in_flight_max) {
        ++stats_.dropped;
        return;
    }
    int64_t due = now + r.between(options_.delay_min_ticks, options_.delay_max_ticks);
    if (options_.long_delay_max_ticks > options_.delay_max_ticks &&
        r.chance_ppm(options_.long_delay_ppm)) {
        due = now + r.between(options_.delay_max_ticks, options_.long_delay_max_ticks);
    }
    queue_.push(in_flight{due, seq_++, m, corrupted});
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
    // No draw without corruption: runs that never corrupt keep their seeds' histories.
    if (options_.corrupt_ppm > 0 && r.chance_ppm(options_.corrupt_ppm)) {
        ++stats_.corrupted;
        corrupt(m, r);
        enqueue(m, now, r, true);
        return;
    }
    enqueue(m, now, r);
}

bool network::pop_due(int64_t now, message& out, bool& corrupted) {
    while (!queue_.empty() && queue_.top().due <= now) {
        // priority_queue::top() is const; the message is moved out before pop().
        out = std::move(const_cast<in_flight&>(queue_.top()).m);
        corrupted = queue_.top().corrupted;
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
