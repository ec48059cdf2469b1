#include "accumulator.h"

#include "producer_limits.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "sluice/client/errc.h"
#include "sluice/protocol/batch_format.h"

namespace sluice::detail {
namespace {

int64_t system_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::optional<bytes_view> view_of(const std::optional<std::string>& s) {
    if (!s) {
        return std::nullopt;
    }
    return as_bytes(*s);
}

// Bytes by which a record's encoding can exceed record_size_bytes(r, 0, 0): its timestamp delta
// varint (up to 10 bytes instead of 1) and offset delta varint (up to 5 instead of 1), plus the
// growth of its length prefix.
constexpr size_t record_delta_slack = 9 + 4 + 2;

// A new batch reserves room for at most this many record thunks and bytes up front; a larger
// batch.size grows the batch as records come.
constexpr size_t thunks_reserve_max = 4096;
constexpr size_t batch_reserve_bytes_max = 1u << 20;

}  // namespace

accumulator::accumulator(options o, std::function<void()> wake)
    : opts_(o), wake_(std::move(wake)) {}

accumulator::topic_state& accumulator::topic_locked(const std::string& name) {
    if (last_topic_ != nullptr && last_topic_->name == name) {
        return *last_topic_;
    }
    auto& slot = topics_[name];
    if (!slot) {
        slot = std::make_unique<topic_state>();
        slot->name = name;
        topic_order_.push_back(slot.get());
    }
    last_topic_ = slot.get();
    return *slot;
}

bool accumulator::want_run_locked() {
    if (run_pending_) {
        return false;
    }
    run_pending_ = true;
    return true;
}

producer_batch* accumulator::open_batch_locked(partition_queue& q) const {
    if (q.batches.empty() || q.batches.back()->closed) {
        return nullptr;
    }
    return q.batches.back().get();
}

bool accumulator::fits_locked(const producer_batch* b, size_t record_bytes) const {
    return b->builder.empty() || b->builder.size_bytes() + record_bytes <= opts_.batch_size;
}

int32_t accumulator::sticky_partition_locked(topic_state& t, size_t record_bytes) {
    if (t.sticky >= 0 && t.sticky < t.partition_count) {
        if (t.sticky_sequence == UINT64_MAX) {
            return t.sticky;
        }
        const producer_batch* b = open_batch_locked(t.partitions[size_t(t.sticky)]);
        if (b != nullptr && b->sequence == t.sticky_sequence && fits_locked(b, record_bytes)) {
            return t.sticky;
        }
    }
    // The batch the sticky partition was filling is full or gone: move on, to a partition with
    // a leader if there is one, and to a different one if there is a choice.
    std::vector<int32_t> candidates;
    for (int pass = 0; pass < 2 && candidates.empty(); ++pass) {
        for (int32_t p = 0; p < t.partition_count; ++p) {
            if (p != t.sticky && (pass == 1 || t.partitions[size_t(p)].leader >= 0)) {
                candidates.push_back(p);
            }
        }
    }
    t.sticky = candidates.empty() ? 0 : candidates[rng_() % candidates.size()];
    t.sticky_sequence = UINT64_MAX;
    return t.sticky;
}

std::error_code accumulator::wait_metadata_locked(std::unique_lock<std::mutex>& lk, topic_state& t,
                                                  steady::time_point deadline) {
    if (want_run_locked()) {
        lk.unlock();
        wake_();
        lk.lock();
    }
    while (t.partition_count < 0) {
        if (closing_) {
            return make_error_code(client_errc::closed);
        }
        if (t.error && !is_retriable(t.error)) {
            return t.error;
        }
        if (metadata_cv_.wait_until(lk, deadline) == std::cv_status::timeout &&
            t.partition_count < 0) {
            if (!t.error || t.error == errc::unknown_topic_or_partition) {
                return make_client_error(client_errc::unknown_topic,
                                         fmt::format("'{}' is not in the metadata", t.name));
            }
            return t.error;
        }
    }
    return {};
}

std::error_code accumulator::append(producer_record& r, producer::callback& cb,
                                    steady::time_point deadline,
                                    producer::conditional_callback* conditional) {
    if (conditional != nullptr && !r.expected_offset) {
        return make_client_error(client_errc::invalid_record,
                                 "send_conditional: the record has no expected offset");
    }
    if (r.expected_offset && (!r.partition || *r.expected_offset < 0)) {
        return make_client_error(client_errc::invalid_record,
                                 "a record with an expected offset (a conditional append) needs "
                                 "an explicit partition and an offset >= 0");
    }
    const int64_t ts = r.timestamp_ms ? *r.timestamp_ms : system_now_ms();
    std::array<header_view, 8> few;
    std::vector<header_view> many;
    std::span<const header_view> headers;
    if (r.headers.size() <= few.size()) {
        for (size_t i = 0; i < r.headers.size(); ++i) {
            few[i] = header_view{as_bytes(r.headers[i].key), view_of(r.headers[i].value)};
        }
        headers = std::span<const header_view>(few.data(), r.headers.size());
    } else {
        for (const header& h : r.headers) {
            many.push_back(header_view{as_bytes(h.key), view_of(h.value)});
        }
        headers = many;
    }
    const record_input in{view_of(r.key), view_of(r.value), timestamp_ms_t(ts), headers};
    const size_t record_bytes = batch_builder::record_size_bytes(in, 0, 0) + record_delta_slack;
    const size_t alone = record_bytes + batch_format::header_size;
    if (alone > opts_.max_request_size || int64_t(alone) > opts_.buffer_memory) {
        return make_client_error(
            client_errc::record_too_large,
            fmt::format("{} bytes encoded, max.request.size is {}, buffer.memory is {}", alone,
                        opts_.max_request_size, opts_.buffer_memory));
    }

    std::unique_lock lk(mutex_);
    if (closing_) {
        return make_error_code(client_errc::closed);
    }
    topic_state& t = topic_locked(r.topic);

    // Metadata: the partition count decides the partition.
    if (t.partition_count < 0) {
        ++t.waiters;
        metadata_wanted_ = true;
        const std::error_code e = wait_metadata_locked(lk, t, deadline);
        --t.waiters;
        if (e) {
            return e;
        }
    }

    // Buffer memory: wait for completions, making every batch ready meanwhile.
    bool waiting = false;
    while (used_bytes_ + int64_t(record_bytes) > opts_.buffer_memory) {
        if (closing_) {
            if (waiting) {
                --memory_waiters_;
            }
            return make_error_code(client_errc::closed);
        }
        if (!waiting) {
            waiting = true;
            ++memory_waiters_;
            if (want_run_locked()) {
                lk.unlock();
                wake_();
                lk.lock();
            }
            continue;
        }
        if (memory_cv_.wait_until(lk, deadline) == std::cv_status::timeout &&
            used_bytes_ + int64_t(record_bytes) > opts_.buffer_memory) {
            --memory_waiters_;
            return make_error_code(client_errc::buffer_exhausted);
        }
    }
    if (waiting) {
        --memory_waiters_;
    }

    // The partition (no waiting from here on: partition queues stay where they are).
    int32_t p = 0;
    const bool sticky = !r.partition && !r.key;
    if (r.partition) {
        p = *r.partition;
        if (p < 0 || p >= t.partition_count) {
            return make_error_code(errc::unknown_topic_or_partition);
        }
    } else if (r.key) {
        p = murmur2_partition(*r.key, t.partition_count);
    } else {
        p = sticky_partition_locked(t, record_bytes);
    }

    partition_queue& q = t.partitions[size_t(p)];
    producer_batch* b = open_batch_locked(q);
    bool wake = false;
    if (b != nullptr && (r.expected_offset || !fits_locked(b, record_bytes))) {
        b->closed = true;
        wake = true;
        b = nullptr;
    }
    if (b == nullptr) {
        batch_builder::options bo;
        bo.reserve_bytes = std::min(std::max(opts_.batch_size, alone), batch_reserve_bytes_max);
        auto nb = std::make_unique<producer_batch>(bo);
        nb->topic = t.name;
        nb->partition = p;
        nb->sequence = q.next_sequence++;
        nb->generation = generation_;
        nb->created = steady::now();
        nb->thunks.reserve(std::min(opts_.batch_size / record_bytes + 1, thunks_reserve_max));
        ++incomplete_[generation_];
        b = nb.get();
        q.batches.push_back(std::move(nb));
        // The sender must look at the new batch if it is ready at once or before the time the
        // sender is due anyway.
        wake = wake || opts_.linger.count() == 0 || b->created + opts_.linger < armed_;
    }
    b->builder.add(in);
    b->thunks.push_back(record_thunk{std::move(cb), ts});
    if (r.expected_offset) {
        // Alone in its batch: the condition is the batch's.
        b->expected_end = *r.expected_offset;
        if (conditional != nullptr) {
            b->on_conditional = std::move(*conditional);
        }
        b->closed = true;
        wake = true;
    }
    b->memory_bytes += int64_t(record_bytes);
    used_bytes_ += int64_t(record_bytes);
    if (sticky) {
        t.sticky_sequence = b->sequence;
    }
    if (b->builder.size_bytes() >= opts_.batch_size) {
        b->closed = true;
        wake = true;
    }
    const bool post = wake && want_run_locked();
    lk.unlock();
    if (post) {
        wake_();
    }
    return {};
}

void accumulator::close_open_batches_locked() {
    for (topic_state* t : topic_order_) {
        for (partition_queue& q : t->partitions) {
            if (producer_batch* b = open_batch_locked(q)) {
                b->closed = true;
            }
        }
    }
}

uint64_t accumulator::begin_flush() {
    std::unique_lock lk(mutex_);
    close_open_batches_locked();
    const uint64_t g = generation_++;
    const bool post = want_run_locked();
    lk.unlock();
    if (post) {
        wake_();
    }
    return g;
}

void accumulator::wait_flushed(uint64_t generation) {
    std::unique_lock lk(mutex_);
    flush_cv_.wait(lk,
                   [&] { return incomplete_.empty() || incomplete_.begin()->first > generation; });
}

void accumulator::begin_close() {
    std::unique_lock lk(mutex_);
    closing_ = true;
    close_open_batches_locked();
    metadata_cv_.notify_all();
    memory_cv_.notify_all();
    const bool post = want_run_locked();
    lk.unlock();
    if (post) {
        wake_();
    }
}

drain_result accumulator::drain(steady::time_point now, const std::function<int(int32_t)>& budget) {
    drain_result out;
    std::lock_guard lk(mutex_);
    run_pending_ = false;
    const bool all_ready = closing_ || memory_waiters_ > 0;
    std::map<int32_t, int> room;  // node -> requests it still takes
    // Each pass builds at most one request per broker with at most one batch per partition;
    // passes repeat while they take something.
    for (bool took = true; took;) {
        took = false;
        std::map<int32_t, size_t> current;  // node -> its request of this pass
        for (topic_state* t : topic_order_) {
            for (partition_queue& q : t->partitions) {
                while (!q.batches.empty() &&
                       now >= q.batches.front()->created + opts_.delivery_timeout) {
                    q.batches.front()->closed = true;
                    out.expired.push_back(std::move(q.batches.front()));
                    q.batches.pop_front();
                }
                if (opts_.idempotent && q.bump && q.in_flight == 0) {
                    bump_epoch_locked(q, out);
                }
                if (q.batches.empty()) {
                    continue;
                }
                producer_batch& f = *q.batches.front();
                out.next_run = std::min(out.next_run, f.created + opts_.delivery_timeout);
                if (f.retry_at > now) {
                    out.next_run = std::min(out.next_run, f.retry_at);
                    continue;
                }
                if (!f.closed && !all_ready && now < f.created + opts_.linger) {
                    out.next_run = std::min(out.next_run, f.created + opts_.linger);
                    continue;
                }
                if (q.leader < 0) {
                    out.need_metadata = true;
                    continue;
                }
                if (opts_.idempotent) {
                    if (!producer_id_ && producer_id_error_) {
                        for (auto& b : q.batches) {
                            b->closed = true;
                            out.failed.push_back(std::move(b));
                        }
                        q.batches.clear();
                        out.failure = producer_id_error_;
                        continue;
                    }
                    if (!producer_id_) {
                        out.need_producer_id = true;
                        continue;
                    }
                    if (!idempotent_ready_locked(q)) {
                        continue;
                    }
                }
                auto c = current.find(q.leader);
                if (c == current.end()) {
                    auto r = room.find(q.leader);
                    if (r == room.end()) {
                        r = room.emplace(q.leader, budget(q.leader)).first;
                    }
                    if (r->second <= 0) {
                        continue;
                    }
                    --r->second;
                    out.requests.push_back(drained_request{q.leader, 0, {}});
                    c = current.emplace(q.leader, out.requests.size() - 1).first;
                }
                drained_request& req = out.requests[c->second];
                const size_t size = f.bytes.empty() ? f.builder.size_bytes() : f.bytes.size();
                if (!req.batches.empty() && req.bytes + size > opts_.max_request_size) {
                    continue;
                }
                f.closed = true;
                if (opts_.idempotent) {
                    stamp_locked(q, f);
                }
                req.bytes += size;
                req.batches.push_back(std::move(q.batches.front()));
                q.batches.pop_front();
                took = true;
            }
        }
    }
    armed_ = out.next_run;
    return out;
}

accumulator::partition_queue& accumulator::queue_locked(const producer_batch& b) {
    return topic_locked(std::string(b.topic)).partitions[size_t(b.partition)];
}

void accumulator::bump_epoch_locked(partition_queue& q, drain_result& out) {
    // Every unsettled batch is queued again: they restart at sequence 0 of a new epoch (a broker
    // takes a new epoch only from sequence 0), in their order. 32,767 bumps of one partition
    // would exhaust the epochs; then the sequences restart in the same epoch, the broker keeps
    // refusing them and the batches fail when delivery.timeout.ms passes.
    q.bump = false;
    // Those a later batch settled as written complete now; sent again in the new epoch, they
    // would be written twice.
    std::deque<std::unique_ptr<producer_batch>> keep;
    for (auto& b : q.batches) {
        if (settled_locked(q, *b)) {
            b->closed = true;
            out.settled.push_back(std::move(b));
        } else {
            b->stamped = false;
            keep.push_back(std::move(b));
        }
    }
    q.batches.swap(keep);
    if (q.epoch < producer_epoch_t::max()) {
        q.epoch = q.epoch + 1;
    }
    q.expected = sequence_t{0};
    q.unanswered.clear();
}

bool accumulator::idempotent_ready_locked(partition_queue& q) {
    // A broker knows a producer's last 5 batches per partition: never more out at once.
    if (q.in_flight >= idempotent_in_flight_max) {
        return false;
    }
    if (q.bump) {
        return false;  // the answers of those in flight first: each may yet say written
    }
    const producer_batch& f = *q.batches.front();
    // A retry goes only when every earlier batch is settled (or of unknown fate, which only a
    // later batch can settle), so that the partition's batches reach the leader in order.
    return !f.stamped || only_unknown_before(q, f.sequence);
}

bool accumulator::settled_locked(const partition_queue& q, const producer_batch& b) {
    return b.stamped && b.epoch == q.epoch && !q.unanswered.contains(b.sequence);
}

bool accumulator::only_unknown_before(const partition_queue& q, uint64_t order) {
    for (const auto& [o, slot] : q.unanswered) {
        if (o >= order) {
            break;
        }
        if (!slot.unknown) {
            return false;
        }
    }
    return true;
}

sequence_t accumulator::sequence_for(const partition_queue& q, uint64_t order) {
    sequence_t s = q.expected;
    for (const auto& [o, slot] : q.unanswered) {
        if (o >= order) {
            break;
        }
        s = sequence_after(s, slot.records);
    }
    return s;
}

void accumulator::stamp_locked(partition_queue& q, producer_batch& b) {
    b.in_flight = true;
    ++q.in_flight;
    if (settled_locked(q, b)) {
        // Settled meanwhile: a later batch was written, so this one was. Resent as it was, it
        // is answered as the retry it is, with its offsets.
        return;
    }
    if (!b.stamped) {
        q.unanswered[b.sequence] = {static_cast<int32_t>(b.thunks.size()), false};
    }
    const sequence_t seq = sequence_for(q, b.sequence);
    if (b.stamped && b.epoch == q.epoch && b.base_sequence == seq) {
        return;  // a retry: the same bytes again
    }
    // New, or its sequences moved (a batch before it was refused, or the epoch was bumped).
    b.stamped = true;
    b.epoch = q.epoch;
    b.base_sequence = seq;
    if (b.bytes.empty()) {
        b.builder.set_producer_state(*producer_id_, b.epoch, b.base_sequence);
    } else {
        set_producer_state(b.bytes, *producer_id_, b.epoch, b.base_sequence);
    }
}

void accumulator::returned_locked(partition_queue& q, producer_batch& b,
                                  std::optional<batch_end> how) {
    if (b.in_flight) {
        b.in_flight = false;
        --q.in_flight;
    }
    if (!how || !b.stamped || b.epoch != q.epoch) {
        return;
    }
    auto it = q.unanswered.find(b.sequence);
    if (it == q.unanswered.end()) {
        return;  // settled already (a later batch was written)
    }
    switch (*how) {
        case batch_end::written:
            // The leader took the batches in order: every earlier one is written too.
            q.expected = sequence_after(b.base_sequence, it->second.records);
            q.unanswered.erase(q.unanswered.begin(), std::next(it));
            break;
        case batch_end::refused:
            q.unanswered.erase(it);
            break;
        case batch_end::unknown:
            it->second.unknown = true;
            break;
    }
}

void accumulator::set_producer_id(producer_id_t id) {
    std::lock_guard lk(mutex_);
    producer_id_ = id;
}

void accumulator::producer_id_failed(std::error_code ec) {
    bool wake = false;
    {
        std::lock_guard lk(mutex_);
        producer_id_error_ = ec;
        wake = want_run_locked();
    }
    if (wake) {
        wake_();
    }
}

bool accumulator::known_written(const producer_batch& b) {
    std::lock_guard lk(mutex_);
    return settled_locked(queue_locked(b), b);
}

void accumulator::out_of_order(const producer_batch& b) {
    std::lock_guard lk(mutex_);
    partition_queue& q = queue_locked(b);
    if (!b.stamped || b.epoch != q.epoch || !q.unanswered.contains(b.sequence)) {
        return;
    }
    // An earlier batch still out decides; if none is, and `b` carries the sequence the leader
    // should expect, the leader refused it: a gap it cannot fill.
    if (only_unknown_before(q, b.sequence) && b.base_sequence == sequence_for(q, b.sequence)) {
        q.bump = true;
    }
}

void accumulator::requeue(std::unique_ptr<producer_batch> b) {
    std::lock_guard lk(mutex_);
    partition_queue& q = queue_locked(*b);
    returned_locked(q, *b, std::nullopt);
    auto& batches = q.batches;
    auto at = std::find_if(batches.begin(), batches.end(),
                           [&](const auto& x) { return x->sequence > b->sequence; });
    batches.insert(at, std::move(b));
}

void accumulator::release(producer_batch& done, batch_end how) {
    std::lock_guard lk(mutex_);
    returned_locked(queue_locked(done), done, how);
    used_bytes_ -= done.memory_bytes;
    auto it = incomplete_.find(done.generation);
    if (it != incomplete_.end() && --it->second == 0) {
        incomplete_.erase(it);
        flush_cv_.notify_all();
    }
    if (memory_waiters_ > 0) {
        memory_cv_.notify_all();
    }
}

void accumulator::release(const std::vector<std::unique_ptr<producer_batch>>& done, batch_end how) {
    for (const auto& b : done) {
        release(*b, how);
    }
}

bool accumulator::metadata_wanted() {
    std::lock_guard lk(mutex_);
    return metadata_wanted_;
}

std::vector<std::string> accumulator::topics() {
    std::lock_guard lk(mutex_);
    std::vector<std::string> out;
    for (const topic_state* t : topic_order_) {
        out.push_back(t->name);
    }
    return out;
}

void accumulator::apply_metadata(const client::metadata_answer* answer, std::error_code error) {
    std::lock_guard lk(mutex_);
    metadata_wanted_ = false;
    if (answer != nullptr) {
        // Answers name only topics this producer asked for; know them all.
        for (const client::topic_meta& tm : answer->topics) {
            if (tm.error == errc::none) {
                topic_locked(tm.name);
            }
        }
    }
    for (topic_state* t : topic_order_) {
        const client::topic_meta* m = nullptr;
        if (answer != nullptr) {
            for (const client::topic_meta& tm : answer->topics) {
                if (tm.name == t->name) {
                    m = &tm;
                }
            }
        }
        if (m == nullptr || m->error != errc::none || m->partitions.empty()) {
            if (answer == nullptr) {
                t->error = error;
            } else if (m != nullptr) {
                t->error = m->error == errc::none
                               ? make_error_code(errc::unknown_topic_or_partition)
                               : make_error_code(m->error);
                for (partition_queue& q : t->partitions) {
                    q.leader = -1;
                }
            }
            metadata_wanted_ = metadata_wanted_ || (t->waiters > 0 && t->partition_count < 0);
            continue;
        }
        const int32_t count = m->partitions.back().partition + 1;
        if (count > t->partition_count) {
            t->partitions.resize(size_t(count));
            t->partition_count = count;
        }
        for (partition_queue& q : t->partitions) {
            q.leader = -1;
        }
        for (const client::partition_meta& pm : m->partitions) {
            if (pm.partition >= 0 && pm.partition < t->partition_count) {
                t->partitions[size_t(pm.partition)].leader =
                    pm.error == errc::none ? pm.leader : -1;
            }
        }
        t->error = {};
    }
    metadata_cv_.notify_all();
}

void accumulator::set_armed(steady::time_point t) {
    std::lock_guard lk(mutex_);
    armed_ = t;
}

size_t accumulator::incomplete_batches() {
    std::lock_guard lk(mutex_);
    size_t n = 0;
    for (const auto& [g, count] : incomplete_) {
        n += count;
    }
    return n;
}

int64_t accumulator::buffered_bytes() {
    std::lock_guard lk(mutex_);
    return used_bytes_;
}

}  // namespace sluice::detail
