#include "fetcher.h"

#include <algorithm>

#include "sluice/client/errc.h"
#include "sluice/client/internal/requests.h"
#include "sluice/protocol/batch_format.h"
#include "sluice/protocol/byte_order.h"

namespace sluice::detail {

using client::clock;

fetcher::fetcher(client::cluster& cl, fetch_buffer& buffer, const consumer_config& config)
    : cluster_(cl),
      buffer_(buffer),
      config_(config),
      refresher_(cl,
                 [this](const result<client::metadata_answer>& m) {
                     metadata_stale_ = metadata_stale_ || !m;
                     run();
                 }),
      timer_(cl.io()) {}

void fetcher::stop() {
    stopped_ = true;
    refresher_.stop();
    timer_.cancel();
}

void fetcher::assign(const std::vector<topic_partition>& tps) {
    std::map<topic_partition, partition_state> next;
    for (const topic_partition& tp : tps) {
        auto it = parts_.find(tp);
        next[tp] = it == parts_.end() ? partition_state{} : it->second;
    }
    parts_ = std::move(next);
    run();
}

void fetcher::seek(const topic_partition& tp, int64_t offset, uint64_t generation) {
    auto it = parts_.find(tp);
    if (it == parts_.end()) {
        return;
    }
    partition_state& st = it->second;
    st.fetch_offset = offset;
    st.last_epoch = -1;
    st.generation = generation;
    st.stopped = false;
    st.max_bytes = 0;
    st.retry_at = {};
    run();
}

void fetcher::backoff(partition_state& st) {
    st.retry_at = clock::now() + std::chrono::milliseconds(config_.retry_backoff_ms);
}

void fetcher::run() {
    if (stopped_ || buffer_.full_mark_waiting()) {
        return;  // the buffer calls back when poll() made room
    }
    const auto now = clock::now();
    auto next = clock::time_point::max();
    bool need_metadata = metadata_stale_;
    struct ready_partition {
        const topic_partition* tp;
        partition_state* st;
        int32_t leader_epoch;
    };
    std::map<int32_t, std::vector<ready_partition>> by_node;
    for (auto& [tp, st] : parts_) {
        if (st.fetch_offset < 0 || st.stopped || st.in_flight) {
            continue;
        }
        if (st.retry_at > now) {
            next = std::min(next, st.retry_at);
            continue;
        }
        const client::partition_meta* pm = cluster_.metadata().partition(tp.topic, tp.partition);
        if (pm == nullptr || pm->leader < 0) {
            need_metadata = true;
            continue;
        }
        if (!busy_.contains(pm->leader)) {
            by_node[pm->leader].push_back({&tp, &st, pm->leader_epoch});
        }
    }
    const client::fetch_limits limits{config_.fetch_max_wait_ms, config_.fetch_min_bytes,
                                      config_.fetch_max_bytes};
    for (auto& [node, list] : by_node) {
        auto conn = cluster_.ready(node);
        if (!conn) {
            // ready() calls back when a connection attempt ends; after a failed one it holds
            // back for retry.backoff.ms, so look again then.
            next = std::min(next, now + std::chrono::milliseconds(config_.retry_backoff_ms));
            if (cluster_.unreachable(node)) {
                // The leader the metadata names cannot be reached: it may be dead and replaced,
                // and nothing else would ask for news (the producer does the same).
                need_metadata = true;
            }
            continue;
        }
        std::vector<client::fetch_query> queries;
        std::vector<asked> asked_for;
        for (auto& [tp, st, leader_epoch] : list) {
            const int32_t max_bytes = std::max(st->max_bytes, config_.max_partition_fetch_bytes);
            queries.push_back({tp->topic, tp->partition, st->fetch_offset, max_bytes, leader_epoch,
                               st->last_epoch});
            asked_for.push_back({*tp, st->generation});
            st->in_flight = true;
        }
        busy_.insert(node);
        client::request r;
        r.correlation_id = conn->next_correlation_id();
        r.frame = client::encode_fetch(r.correlation_id, config_.client_id, limits, queries);
        r.timeout =
            std::chrono::milliseconds(config_.request_timeout_ms + config_.fetch_max_wait_ms);
        r.on_done = [this, node = node,
                     asked_for = std::move(asked_for)](result<client::response> answer) {
            on_answer(node, asked_for, std::move(answer));
        };
        conn->send(std::move(r));
    }
    const auto m = refresher_.maybe_refresh(
        need_metadata,
        [this] {
            std::vector<std::string> topics;
            for (const auto& [tp, st] : parts_) {
                if (topics.empty() || topics.back() != tp.topic) {
                    topics.push_back(tp.topic);
                }
            }
            return topics;
        },
        false);
    if (m.started) {
        metadata_stale_ = false;
    } else if (need_metadata) {
        metadata_stale_ = true;
    }
    arm(std::min(next, m.call_again));
}

void fetcher::on_answer(int32_t node, const std::vector<asked>& asked_for,
                        result<client::response> r) {
    busy_.erase(node);
    std::vector<client::fetch_answer> answers;
    std::error_code failed;
    if (!r) {
        failed = r.error();
    } else if (auto a = client::decode_fetch(r.value())) {
        answers = std::move(a).value();
    } else {
        failed = a.error();
    }
    for (const asked& q : asked_for) {
        auto it = parts_.find(q.tp);
        if (it == parts_.end()) {
            continue;  // unassigned meanwhile
        }
        partition_state& st = it->second;
        st.in_flight = false;
        if (st.generation != q.generation) {
            continue;  // sought meanwhile: the answer is for an old position
        }
        if (failed) {
            if (is_retriable(failed)) {
                metadata_stale_ = true;
                backoff(st);
            } else {
                buffer_.push(completed_fetch{q.tp, st.generation, failed, {}, {}});
                st.stopped = true;
            }
            continue;
        }
        const client::fetch_answer* a = nullptr;
        for (const client::fetch_answer& x : answers) {
            if (x.partition == q.tp.partition && x.topic == q.tp.topic) {
                a = &x;
            }
        }
        if (a == nullptr) {
            backoff(st);  // the broker left it out (its byte limit); ask again
            continue;
        }
        take(q.tp, st, *a, r.value().buffer);
    }
    run();
}

void fetcher::take(const topic_partition& tp, partition_state& st, const client::fetch_answer& a,
                   const std::shared_ptr<std::byte[]>& buffer) {
    if (a.error == errc::none && a.diverging_epoch >= 0) {
        if (a.diverging_end_offset < 0 || a.diverging_epoch > st.last_epoch) {
            // A divergence above the epoch asked about, or without an end, is not an answer any
            // leader gives: refuse it as a corrupt one.
            buffer_.push(
                completed_fetch{tp, st.generation, make_error_code(errc::corrupt_message), {}, {}});
            st.stopped = true;
            return;
        }
        st.fetch_offset = std::min(st.fetch_offset, a.diverging_end_offset);
        st.last_epoch = a.diverging_epoch;
        buffer_.push(completed_fetch{tp, st.generation, {}, {}, {}, st.fetch_offset});
        return;
    }
    if (a.error != errc::none) {
        const std::error_code ec = make_error_code(a.error);
        if (is_retriable(ec)) {
            metadata_stale_ = true;
            backoff(st);
        } else {
            buffer_.push(completed_fetch{tp, st.generation, ec, {}, {}});
            st.stopped = true;
        }
        return;
    }
    // Walk the batch headers (the poll side validates them fully) to find where the next fetch
    // starts: after the last whole batch. A partial tail is the byte limit cutting a batch.
    bytes_view rest = a.records;
    size_t whole = 0;
    int64_t next_offset = st.fetch_offset;
    size_t partial_needs = 0;
    bool corrupt = false;
    while (!rest.empty()) {
        if (rest.size() < batch_format::length_field_end) {
            partial_needs = batch_format::header_size;
            break;
        }
        const auto length = load_be<int32_t>(rest.data() + batch_format::batch_length_pos);
        if (length < int32_t(batch_format::header_size - batch_format::length_field_end) ||
            size_t(length) > batch_format::batch_size_max - batch_format::length_field_end) {
            corrupt = true;
            break;
        }
        const size_t size = batch_format::length_field_end + size_t(length);
        if (rest.size() < size) {
            partial_needs = size;
            break;
        }
        auto h = read_header(rest);
        if (!h) {
            corrupt = true;
            break;
        }
        next_offset = std::max(next_offset, h.value().next_offset().value());
        st.last_epoch = std::max(st.last_epoch, h.value().leader_epoch.value());
        whole += size;
        rest = rest.subspan(size);
    }
    if (whole > 0) {
        buffer_.push(completed_fetch{tp, st.generation, {}, buffer, a.records.first(whole)});
        st.max_bytes = 0;
    }
    if (corrupt) {
        // poll() hands out the whole batches before, then this error; no fetching until a seek.
        buffer_.push(
            completed_fetch{tp, st.generation, make_error_code(errc::corrupt_message), {}, {}});
        st.stopped = true;
        return;
    }
    if (whole > 0) {
        if (next_offset > st.fetch_offset) {
            st.fetch_offset = next_offset;
        } else {
            backoff(st);  // only data below the position: do not spin on it
        }
        return;
    }
    if (partial_needs > 0) {
        // The first batch alone is larger than the partition limit: ask for all of it next
        // time. A batch within the limit was cut by the request's total limit: ask again.
        const int32_t limit = std::max(st.max_bytes, config_.max_partition_fetch_bytes);
        if (partial_needs > size_t(limit)) {
            st.max_bytes = int32_t(partial_needs);
        } else {
            backoff(st);
        }
    }
}

void fetcher::arm(client::clock::time_point t) {
    if (stopped_ || t == client::clock::time_point::max() || t == timer_at_) {
        return;
    }
    if (t > timer_at_ && timer_at_ > client::clock::now()) {
        return;
    }
    timer_at_ = t;
    timer_.expires_at(t);
    timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) {
            return;
        }
        timer_at_ = client::clock::time_point::max();
        run();
    });
}

}  // namespace sluice::detail
