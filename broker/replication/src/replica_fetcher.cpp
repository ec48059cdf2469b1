#include "sluice/replication/replica_fetcher.h"

#include <algorithm>
#include <atomic>
#include <tuple>

#include <fmt/format.h>
#include <boost/asio/post.hpp>

#include "sluice/client/internal/requests.h"
#include "sluice/core/async.h"
#include "sluice/core/logging.h"

namespace sluice::replication {

namespace logging = broker::logging;
using broker::partition;
using steady = std::chrono::steady_clock;

namespace {

// What applying an answer did to a partition, read back on the fetcher's thread.
struct applied {
    offset_t fetch_offset{0};
    leader_epoch_t last_epoch{-1};
    // Waiting for its fsync (wait_durable) unless already set; null: no wait.
    std::shared_ptr<std::atomic<bool>> durable_fired;
    std::chrono::milliseconds delay{0};
    std::string problem;  // logged, with the delay
};

bool epoch_error(errc e) {
    return e == errc::fenced_leader_epoch || e == errc::unknown_leader_epoch ||
           e == errc::not_leader_or_follower || e == errc::replica_not_available ||
           e == errc::unknown_topic_or_partition;
}

}  // namespace

replica_fetcher::replica_fetcher(boost::asio::io_context& io,
                                 std::shared_ptr<thread_channel> channel, node_id_t leader,
                                 client::endpoint ep, const fetcher_config& config)
    : io_(io),
      channel_(std::move(channel)),
      leader_(leader),
      endpoint_(std::move(ep)),
      config_(config),
      signal_(io) {}

void replica_fetcher::start() {
    boost::asio::co_spawn(
        io_, [self = shared_from_this()] { return self->run(); }, boost::asio::detached);
}

void replica_fetcher::set_partitions(std::vector<followed_partition> parts) {
    std::map<key, slot> next;
    bool added = false;
    for (auto& p : parts) {
        key k{p.topic, p.id};
        auto it = slots_.find(k);
        if (it != slots_.end() && it->second.p.part == p.part &&
            it->second.p.leader_epoch == p.leader_epoch) {
            next.emplace(k, std::move(it->second));  // unchanged: keeps its position and waits
            continue;
        }
        slot s;
        s.p = std::move(p);
        s.generation = next_generation_++;
        next.emplace(std::move(k), std::move(s));
        added = true;
    }
    slots_ = std::move(next);
    if (added && polling_ && conn_ && !repoll_) {
        // The request out may wait up to replica.fetch.wait.max.ms for partitions that have
        // nothing new, and the new ones are not in it.
        repoll_ = true;
        conn_->close(make_error_code(errc::network_exception));
    }
    wake();
}

void replica_fetcher::stop() {
    stopped_ = true;
    slots_.clear();
    if (conn_) {
        conn_->close(make_error_code(errc::network_exception));
    }
    wake();
}

void replica_fetcher::wake() {
    signal_.cancel();
}

void replica_fetcher::durable_done(const key& k, uint64_t generation) {
    auto it = slots_.find(k);
    if (it != slots_.end() && it->second.generation == generation) {
        it->second.durable_wait = false;
        wake();
    }
}

boost::asio::awaitable<bool> replica_fetcher::ensure_connected() {
    if (conn_ && !conn_->is_closed()) {
        co_return true;
    }
    client::connection_options o;
    o.connect_timeout = config_.connect_timeout;
    o.frame_bytes_max =
        std::max(frame::frame_bytes_max_default, size_t(config_.response_max_bytes) + (1u << 20));
    conn_ = std::make_shared<client::connection>(io_, endpoint_, o);
    if (auto ec = co_await conn_->connect()) {
        if (!failing_) {
            logging::warn("replica fetcher for broker {}: cannot connect to {}: {}; retrying",
                          leader_, endpoint_.text(), ec.message());
            failing_ = true;
        }
        co_return false;
    }
    co_return true;
}

std::shared_ptr<std::atomic<bool>> replica_fetcher::wait_durable(
    partition& part, const partition::offsets_view& o, std::weak_ptr<replica_fetcher> weak,
    std::shared_ptr<thread_channel> channel, key k, uint64_t generation) {
    if (o.error != errc::none || o.local_end >= o.log_end) {
        return nullptr;
    }
    auto fired = std::make_shared<std::atomic<bool>>(false);
    part.when_durable(o.log_end, [weak, channel, k, generation, fired](errc) {
        fired->store(true, std::memory_order_release);
        channel->post([weak, k, generation] {
            if (auto self = weak.lock()) {
                self->durable_done(k, generation);
            }
        });
    });
    return fired;
}

boost::asio::awaitable<void> replica_fetcher::learn_positions() {
    auto unknown =
        std::find_if(slots_.begin(), slots_.end(), [](const auto& e) { return !e.second.known; });
    if (unknown == slots_.end()) {
        co_return;
    }
    // Copies: the map may change while this waits on the partition's strand.
    const key k = unknown->first;
    const uint64_t generation = unknown->second.generation;
    std::shared_ptr<partition> part = unknown->second.p.part;
    auto weak = weak_from_this();
    auto channel = channel_;
    auto read = [&part, &weak, &channel, &k, generation] {
        const auto o = part->offsets();
        // Fsync mode: what the last leader sent may not be durable yet, and the fetch offset is
        // the position the new leader counts.
        auto fired = wait_durable(*part, o, weak, channel, k, generation);
        return std::make_tuple(o.log_end, part->last_epoch(), std::move(fired));
    };
    auto [end, epoch, fired] = co_await broker::run_on(part->strand(), read);
    auto it = slots_.find(k);
    if (it != slots_.end() && it->second.generation == generation) {
        it->second.fetch_offset = std::max(end, offset_t{0});
        it->second.last_epoch = epoch;
        it->second.durable_wait = fired && !fired->load(std::memory_order_acquire);
        it->second.known = true;
    }
}

boost::asio::awaitable<void> replica_fetcher::run() {
    auto self = shared_from_this();
    while (!stopped_) {
        const auto now = steady::now();
        if (std::any_of(slots_.begin(), slots_.end(),
                        [](const auto& e) { return !e.second.known; })) {
            co_await learn_positions();
            continue;
        }
        // The queries' topic names are views into `asked`, which owns copies of the keys and
        // does not grow once they are taken: slots_ may be replaced (set_partitions) while this
        // coroutine waits to connect or for the answer.
        // A slot added from here until the request is out (polling_) is not in it: compared
        // after connecting, and the queries are built again if it moved.
        const uint64_t generations_seen = next_generation_;
        std::vector<std::pair<key, uint64_t>> asked;
        std::vector<client::fetch_query> queries;
        auto next_wake = steady::time_point::max();
        for (const auto& [k, s] : slots_) {
            if (s.durable_wait) {
                continue;
            }
            if (s.not_before > now) {
                next_wake = std::min(next_wake, s.not_before);
                continue;
            }
            client::fetch_query q;
            q.partition = k.second;
            q.offset = s.fetch_offset.value();
            q.max_bytes = config_.partition_max_bytes;
            q.current_leader_epoch = s.p.leader_epoch.value();
            q.last_fetched_epoch = s.last_epoch.value();
            queries.push_back(q);
            asked.emplace_back(k, s.generation);
        }
        for (size_t i = 0; i < queries.size(); ++i) {
            queries[i].topic = asked[i].first.first;
        }
        if (queries.empty()) {
            co_await broker::wait_timer(signal_, next_wake);
            continue;
        }
        if (!co_await ensure_connected()) {
            if (!stopped_) {
                co_await broker::wait_timer(signal_, steady::now() + config_.backoff);
            }
            continue;
        }
        if (next_generation_ != generations_seen) {
            continue;  // partitions were added while connecting
        }
        client::fetch_limits limits;
        limits.replica_id = config_.self.value();
        // A partition waiting for its fsync must not wait behind this request's long poll too:
        // its position reaches the leader with the next request.
        const bool someone_waits = std::any_of(slots_.begin(), slots_.end(),
                                               [](const auto& e) { return e.second.durable_wait; });
        limits.max_wait_ms = someone_waits ? 0 : config_.max_wait_ms;
        if (next_wake != steady::time_point::max()) {
            // A partition waiting out a delay is asked for again once the delay ends.
            // Measured from now: connecting may have taken a while.
            const auto until =
                std::chrono::ceil<std::chrono::milliseconds>(next_wake - steady::now());
            limits.max_wait_ms = int32_t(
                std::clamp<int64_t>(until.count(), 0, std::max<int64_t>(limits.max_wait_ms, 0)));
        }
        limits.min_bytes = config_.min_bytes;
        limits.max_bytes = config_.response_max_bytes;
        auto conn = conn_;
        polling_ = limits.max_wait_ms > 0;
        auto answer = co_await conn->call(
            [&](int32_t id) {
                return client::encode_fetch(id, config_.client_id, limits, queries);
            },
            config_.request_timeout + std::chrono::milliseconds(config_.max_wait_ms));
        polling_ = false;
        const bool ended_on_purpose = std::exchange(repoll_, false);
        if (stopped_) {
            break;
        }
        if (!answer && ended_on_purpose) {
            continue;  // reconnects and asks for every partition at once
        }
        if (!answer) {
            if (!failing_) {
                logging::warn("replica fetcher for broker {} ({}): {}; retrying", leader_,
                              endpoint_.text(), answer.error().message());
                failing_ = true;
            }
            conn->close(answer.error());
            if (!stopped_) {
                co_await broker::wait_timer(signal_, steady::now() + config_.backoff);
            }
            continue;
        }
        auto decoded = client::decode_fetch(answer.value());
        if (!decoded) {
            logging::warn("replica fetcher for broker {}: a bad answer: {}", leader_,
                          decoded.error().message());
            conn->close(decoded.error());
            if (!stopped_) {
                co_await broker::wait_timer(signal_, steady::now() + config_.backoff);
            }
            continue;
        }
        if (failing_) {
            logging::info("replica fetcher for broker {} ({}): fetching again", leader_,
                          endpoint_.text());
            failing_ = false;
        }
        for (const auto& a : decoded.value()) {
            const key k{std::string(a.topic), a.partition};
            auto it = std::find_if(asked.begin(), asked.end(),
                                   [&](const auto& e) { return e.first == k; });
            if (it == asked.end()) {
                continue;  // not a partition this request asked for: ignored
            }
            co_await apply(k, it->second, a);
            asked.erase(it);  // each partition is applied once
        }
    }
}

boost::asio::awaitable<void> replica_fetcher::apply(const key& k, uint64_t generation,
                                                    const client::fetch_answer& a) {
    auto found = slots_.find(k);
    if (found == slots_.end() || found->second.generation != generation) {
        co_return;  // replaced or dropped while the request was out
    }
    std::shared_ptr<partition> part = found->second.p.part;
    const leader_epoch_t epoch = found->second.p.leader_epoch;
    const offset_t asked_at = found->second.fetch_offset;
    auto weak = weak_from_this();
    auto channel = channel_;
    const auto retry = config_.epoch_retry;
    const auto backoff = config_.backoff;
    auto work = [&]() -> applied {
        applied out;
        const bool mine = part->leader_epoch() == epoch && !part->is_leader();
        const auto offsets = part->offsets();
        if (!mine) {
            out.delay = retry;  // the image moved on: wait for it
        } else if (offsets.error != errc::none) {
            out.delay = backoff;  // closed, or offline
        } else if (a.error == errc::none && a.diverging_epoch >= 0 &&
                   (a.diverging_end_offset < 0 || a.diverging_epoch > part->last_epoch().value())) {
            // A divergence the leader cannot mean: at a negative offset, or at an epoch above
            // the one this follower named.
            out.problem = fmt::format("a divergence at epoch {}, offset {}, refused",
                                      a.diverging_epoch, a.diverging_end_offset);
            out.delay = backoff;
        } else if (a.error == errc::none && a.diverging_epoch >= 0) {
            auto t = part->truncate_diverged(
                {leader_epoch_t{a.diverging_epoch}, offset_t{a.diverging_end_offset}});
            if (!t) {
                out.problem = fmt::format("truncating after a divergence at epoch {}: {}",
                                          a.diverging_epoch, t.error().message());
                out.delay = backoff;
            }
        } else if (a.error == errc::none) {
            if (!a.records.empty() && offsets.log_end == asked_at) {
                auto r = part->append_replicated(a.records);
                if (r.error != errc::none) {
                    out.problem = fmt::format("appending at {}: {} {}", offsets.log_end,
                                              errc_name(r.error), r.message);
                    out.delay = backoff;
                }
            }
            part->leader_high_watermark(offset_t{a.high_watermark});
        } else if (a.error == errc::offset_out_of_range &&
                   (a.log_start_offset < 0 || a.high_watermark < 0)) {
            out.problem = fmt::format(
                "an out-of-range answer with log start {} and high "
                "watermark {}, refused",
                a.log_start_offset, a.high_watermark);
            out.delay = backoff;
        } else if (a.error == errc::offset_out_of_range) {
            // Past the leader's log start: this log holds nothing the leader has.
            const offset_t start{a.log_start_offset};
            if (asked_at < start) {
                if (auto r = part->restart_at(start); !r) {
                    out.problem = fmt::format("restarting at {}: {}", start, r.error().message());
                    out.delay = backoff;
                }
            } else if (auto r =
                           part->truncate_to(std::min(offset_t{a.high_watermark}, offsets.log_end));
                       !r) {
                out.problem = fmt::format("truncating to the leader's high watermark: {}",
                                          r.error().message());
                out.delay = backoff;
            }
        } else if (epoch_error(a.error)) {
            out.delay = retry;
        } else {
            out.problem = std::string(errc_name(a.error));
            out.delay = backoff;
        }
        const auto now = part->offsets();
        out.fetch_offset = std::max(now.log_end, offset_t{0});
        out.last_epoch = part->last_epoch();
        out.durable_fired = wait_durable(*part, now, weak, channel, k, generation);
        return out;
    };
    const applied out = co_await broker::run_on(part->strand(), work);
    auto it = slots_.find(k);
    if (it == slots_.end() || it->second.generation != generation) {
        co_return;
    }
    slot& s = it->second;
    s.fetch_offset = out.fetch_offset;
    s.last_epoch = out.last_epoch;
    s.durable_wait = out.durable_fired && !out.durable_fired->load(std::memory_order_acquire);
    s.not_before = steady::now() + out.delay;
    if (!out.problem.empty()) {
        logging::warn("{}-{}: replicating from broker {}: {}", k.first, k.second, leader_,
                      out.problem);
    }
}

}  // namespace sluice::replication
