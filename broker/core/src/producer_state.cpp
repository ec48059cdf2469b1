#include "sluice/core/producer_state.h"

namespace sluice::broker {

namespace {

// Records a written batch in `m` (see producer_state::apply).
void apply_batch(producer_state::entries_map& m, const producer_batch_info& b, offset_t base,
                 offset_t last) {
    producer_entry& e = m[b.id];
    if (e.batches.empty() || e.epoch != b.epoch) {
        e.epoch = b.epoch;
        e.batches.clear();
    }
    if (e.batches.size() == producer_batches_kept) {
        e.batches.erase(e.batches.begin());
    }
    e.batches.push_back({b.first_sequence, b.last_sequence, base, last, b.max_timestamp});
}

}  // namespace

producer_batch_info producer_batch_info::of(const batch_header& h) {
    return {h.producer_id, h.producer_epoch, h.base_sequence, h.last_sequence(), h.max_timestamp};
}

sequence_t next_sequence(sequence_t last) {
    return last == sequence_t::max() ? sequence_t{0} : last + 1;
}

producer_verdict check_producer_batch(const producer_entry* e, const producer_batch_info& b) {
    if (!b.idempotent()) {
        return {};
    }
    if (b.id < producer_id_t{0} || b.epoch < producer_epoch_t{0} ||
        b.first_sequence < sequence_t{0} || b.last_sequence < sequence_t{0}) {
        return {errc::invalid_record, {}};
    }
    if (e == nullptr) {
        return {};  // no state: any sequence
    }
    if (b.epoch == e->epoch) {
        for (const producer_batch& kept : e->batches) {
            if (kept.first_sequence == b.first_sequence && kept.last_sequence == b.last_sequence) {
                return {errc::none, kept};
            }
        }
    }
    if (b.epoch < e->epoch) {
        return {errc::invalid_producer_epoch, {}};
    }
    if (b.epoch > e->epoch) {
        if (b.first_sequence != sequence_t{0}) {
            return {errc::out_of_order_sequence_number, {}};
        }
        return {};
    }
    if (!in_sequence(e->last_sequence(), b.first_sequence)) {
        return {errc::out_of_order_sequence_number, {}};
    }
    return {};
}

const producer_entry* producer_state::find(producer_id_t id) const {
    auto it = entries_.find(id);
    return it == entries_.end() ? nullptr : &it->second;
}

void producer_state::apply(const producer_batch_info& b, offset_t base, offset_t last) {
    if (b.idempotent()) {
        apply_batch(entries_, b, base, last);
    }
}

size_t producer_state::remove_expired(timestamp_ms_t now, std::chrono::milliseconds expiration) {
    return std::erase_if(entries_, [&](const auto& kv) {
        // Timestamps come from clients and may be anything: an age that overflows is that of
        // a last timestamp far below (negative) or far above `now`.
        const int64_t last = kv.second.last_timestamp().value();
        int64_t age = 0;
        if (__builtin_sub_overflow(now.value(), last, &age)) {
            return last < 0;
        }
        return age >= expiration.count();
    });
}

const producer_entry* producer_append::find(producer_id_t id) const {
    auto it = touched_.find(id);
    return it != touched_.end() ? &it->second : state_.find(id);
}

producer_verdict producer_append::check(const producer_batch_info& b) const {
    return check_producer_batch(find(b.id), b);
}

void producer_append::stage(const producer_batch_info& b, offset_t base, offset_t last) {
    if (!b.idempotent()) {
        return;
    }
    if (!touched_.contains(b.id)) {
        if (const producer_entry* e = state_.find(b.id)) {
            touched_.emplace(b.id, *e);
        }
    }
    apply_batch(touched_, b, base, last);
}

void producer_append::commit() && {
    for (auto& [id, e] : touched_) {
        state_.entries_.insert_or_assign(id, std::move(e));
    }
}

}  // namespace sluice::broker
