#include "sluice/core/replica_manager.h"

#include <algorithm>

#include <fmt/format.h>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>

#include "sluice/core/logging.h"
#include "sluice/storage/errors.h"

namespace sluice::broker {

replica_manager::replica_manager(boost::asio::io_context& io, replica_manager_config config,
                                 storage::flusher& flusher)
    : io_(io),
      config_(std::move(config)),
      flusher_(flusher),
      image_(std::make_shared<const partition_image>()) {}

std::shared_ptr<const partition_image> replica_manager::snapshot() const {
    std::lock_guard lock(image_mutex_);
    return image_;
}

void replica_manager::publish(
    std::map<std::string, std::vector<std::shared_ptr<partition>>, std::less<>> topics) {
    auto next = std::make_shared<partition_image>();
    next->version = version_.load(std::memory_order_relaxed) + 1;
    next->topics = std::move(topics);
    const uint64_t v = next->version;
    {
        std::lock_guard lock(image_mutex_);
        image_ = std::move(next);
    }
    version_.store(v, std::memory_order_release);
}

result<void> replica_manager::add_partitions(const std::string& topic, const std::string& topic_id,
                                             const std::vector<partition_spec>& specs,
                                             const topic_settings& settings) {
    std::lock_guard lock(change_mutex_);
    auto topics = snapshot()->topics;
    auto& slots = topics[topic];
    std::vector<std::shared_ptr<partition>> opened;  // this call's, until published
    for (const auto& spec : specs) {
        if (spec.id < 0 || (size_t(spec.id) < slots.size() && slots[size_t(spec.id)])) {
            continue;  // held already
        }
        partition::options o;
        o.topic = topic;
        o.id = spec.id;
        o.dir = config_.log_dir / fmt::format("{}-{}", topic, spec.id);
        o.settings = settings;
        o.flusher = &flusher_;
        o.fs = config_.fs;
        o.time = config_.time;
        o.files = config_.files;
        o.background = config_.background;
        o.producer_id_expiration = config_.producer_id_expiration;
        o.create = spec.create;
        o.topic_id = topic_id;
        o.role = spec.role;
        auto strand = boost::asio::make_strand(io_);
        auto part = partition::open(strand, o);
        if (!part && !spec.create &&
            (part.error().category() == storage::storage_category() ||
             part.error() == std::errc::io_error)) {
            // An existing partition that cannot open stays offline; the others are served.
            part = partition::offline(strand, std::move(o), part.error());
        }
        if (!part) {
            // Not published, so this thread may still touch them.
            for (auto& done : opened) {
                done->close(errc::unknown_topic_or_partition);
            }
            if (spec.create) {
                (void)storage::partition_log::destroy(*config_.fs, o.dir);
            }
            return part.error();
        }
        if (slots.size() <= size_t(spec.id)) {
            slots.resize(size_t(spec.id) + 1);
        }
        slots[size_t(spec.id)] = part.value();
        opened.push_back(std::move(part).value());
    }
    if (!opened.empty()) {
        publish(std::move(topics));
    }
    return success();
}

awaitable<void> replica_manager::set_role(std::string_view topic, int32_t id,
                                          const partition_role& role) {
    auto image = snapshot();
    if (partition* p = image->find(topic, partition_id_t{id})) {
        auto change = [p, &role] { p->set_role(role, std::chrono::steady_clock::now()); };
        co_await run_on(p->strand(), change);
    }
}

awaitable<bool> replica_manager::set_settings(std::string_view topic,
                                              const topic_settings& settings) {
    auto image = snapshot();
    bool all = true;
    if (const auto* parts = image->find(topic)) {
        for (const auto& p : *parts) {
            if (p) {
                auto change = [&p, &settings] { return p->set_settings(settings); };
                all = co_await run_on(p->strand(), change) && all;
            }
        }
    }
    co_return all;
}

awaitable<void> replica_manager::remove_topic(std::string_view topic) {
    std::vector<std::shared_ptr<partition>> parts;
    {
        std::lock_guard lock(change_mutex_);
        auto topics = snapshot()->topics;
        auto it = topics.find(topic);
        if (it == topics.end()) {
            co_return;
        }
        parts = std::move(it->second);
        topics.erase(it);
        publish(std::move(topics));
    }
    for (const auto& p : parts) {
        if (p) {
            auto remove = [p] { p->remove(); };
            co_await run_on(p->strand(), remove);
        }
    }
}

awaitable<bool> replica_manager::close_all() {
    auto image = snapshot();
    bool clean = true;
    for (const auto& [name, parts] : image->topics) {
        for (const auto& p : parts) {
            if (p) {
                auto close = [p] { return p->close(errc::not_leader_or_follower); };
                clean = co_await run_on(p->strand(), close) && clean;
            }
        }
    }
    co_return clean;
}

namespace {

// One partition of a produce, shared between the request's coroutine and the partition's strand.
// The strand writes the fields, then publishes them with `appended` or `acked` (release); the
// coroutine reads a field only after seeing its flag (acquire), so a deadline that passes while
// an acknowledgement is still awaited is safe.
struct produce_slot {
    errc append_error = errc::none;
    std::string message;
    offset_t base_offset{-1};
    offset_t log_start{-1};
    offset_t log_end{-1};
    std::atomic<bool> appended{false};  // the append ran (with or without error)
    errc ack_error = errc::none;
    std::atomic<bool> acked{false};  // the acknowledgement wait ended
};

// Counts down to zero and then sets its event; starts at one, the coroutine's own share, so that
// it cannot fire before the coroutine has posted everything it counts.
struct latch {
    explicit latch(executor owner) : event(std::make_shared<async_event>(std::move(owner))) {}
    std::atomic<size_t> pending{1};
    std::shared_ptr<async_event> event;

    void count_down() {
        if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            event->set();
        }
    }
};

// Shared with the partitions' strands, which may outlive the request after a timeout.
struct produce_state {
    produce_state(size_t n, const executor& owner) : slots(n), appends(owner), acks(owner) {}
    std::vector<produce_slot> slots;
    // Appends still to run. The request always waits for these, whatever its deadline: an
    // append writes into the request's buffer, which must outlive it.
    latch appends;
    // Acknowledgements still awaited; the deadline bounds this wait only.
    latch acks;
};

}  // namespace

awaitable<std::vector<produce_result>> replica_manager::produce(produce_request& req) {
    const size_t n = req.partitions.size();
    std::vector<produce_result> out(n);
    auto image = snapshot();
    const executor self = co_await boost::asio::this_coro::executor;
    auto st = std::make_shared<produce_state>(n, self);
    const required_acks acks = req.acks;

    // Fan out: every append is posted to its partition's strand before this coroutine first
    // suspends (see the header), and the partitions work concurrently.
    std::vector<bool> posted(n, false);
    for (size_t i = 0; i < n; ++i) {
        produce_partition& in = req.partitions[i];
        if (in.error != errc::none) {
            out[i].error = in.error;
            out[i].message = std::move(in.message);
            continue;
        }
        partition* found = image->find(in.topic, in.partition);
        if (found == nullptr) {
            out[i].error = errc::unknown_topic_or_partition;
            out[i].message = fmt::format("no partition {} of topic '{}'", in.partition, in.topic);
            continue;
        }
        std::shared_ptr<partition> part = found->shared_from_this();
        st->appends.pending.fetch_add(1, std::memory_order_relaxed);
        posted[i] = true;
        boost::asio::post(part->strand(),
                          [st, i, part, batches = in.batches, acks, expected = in.expected_end] {
                              produce_slot& s = st->slots[i];
                              auto o = part->append(batches, acks == required_acks::all, expected);
                              s.append_error = o.error;
                              s.message = std::move(o.message);
                              s.base_offset = o.base_offset;
                              s.log_start = o.log_start;
                              s.log_end = o.log_end;
                              s.appended.store(true, std::memory_order_release);
                              if (o.error == errc::none && acks != required_acks::none) {
                                  st->acks.pending.fetch_add(1, std::memory_order_relaxed);
                                  const bool all = acks == required_acks::all;
                                  part->wait_for_ack(o.last_offset + 1, all, [st, i](errc e) {
                                      st->slots[i].ack_error = e;
                                      st->slots[i].acked.store(true, std::memory_order_release);
                                      st->acks.count_down();
                                  });
                              }
                              // After the acknowledgement is counted, so the coroutine that wakes
                              // on `appends` sees every acknowledgement it must wait for.
                              st->appends.count_down();
                          });
    }
    st->appends.count_down();  // the coroutine's own share
    co_await st->appends.event->wait_until(steady_clock::time_point::max());
    st->appends.event->finish();
    st->acks.count_down();
    if (!req.cancel || req.cancel->add(st->acks.event)) {
        co_await st->acks.event->wait_until(req.deadline);
    }
    st->acks.event->finish();

    for (size_t i = 0; i < n; ++i) {
        if (!posted[i]) {
            continue;
        }
        produce_slot& s = st->slots[i];
        produce_result& r = out[i];
        (void)s.appended.load(std::memory_order_acquire);  // every append ran (see above)
        r.log_end = s.log_end;
        if (s.append_error != errc::none) {
            r.error = s.append_error;
            r.message = s.message;
            continue;
        }
        r.base_offset = s.base_offset;
        r.log_start = s.log_start;
        if (acks == required_acks::none) {
            continue;
        }
        if (!s.acked.load(std::memory_order_acquire)) {
            r.error = errc::request_timed_out;
            r.message = "appended, but not acknowledged within the request's timeout";
        } else if (s.ack_error != errc::none) {
            r.error = s.ack_error;
        }
    }
    co_return out;
}

namespace {

// One partition of a fetch, owned by the fetch's coroutine.
struct fetch_slot {
    partition* part = nullptr;  // kept alive by the fetch's image
    offset_t next{-1};
};

}  // namespace

awaitable<std::vector<fetch_result>> replica_manager::fetch(fetch_request& req) {
    const size_t n = req.partitions.size();
    std::vector<fetch_result> out(n);
    std::vector<fetch_slot> slots(n);
    auto image = snapshot();
    const size_t max_bytes = std::min(req.max_bytes, config_.fetch_max_bytes);
    const executor self = co_await boost::asio::this_coro::executor;
    for (size_t i = 0; i < n; ++i) {
        const fetch_partition& in = req.partitions[i];
        slots[i].part = image->find(in.topic, in.partition);
        slots[i].next = in.fetch_offset;
        if (slots[i].part == nullptr) {
            out[i].error = errc::unknown_topic_or_partition;
        }
    }

    size_t total = 0;
    for (;;) {
        const bool may_wait = req.min_bytes > 0 && steady_clock::now() < req.deadline &&
                              !(req.cancel && req.cancel->cancelled());
        auto waiter = may_wait ? std::make_shared<async_event>(self) : nullptr;
        bool failed = false;
        for (size_t k = 0; k < n; ++k) {
            const size_t i = (req.rotation + k) % n;
            fetch_result& r = out[i];
            fetch_slot& s = slots[i];
            if (s.part == nullptr || r.error != errc::none ||
                r.diverging_epoch >= leader_epoch_t{0}) {
                failed = failed || r.error != errc::none || r.diverging_epoch >= leader_epoch_t{0};
                continue;
            }
            const fetch_partition& in = req.partitions[i];
            const size_t request_left = max_bytes > total ? max_bytes - total : 0;
            const size_t partition_left =
                in.partition_max_bytes > r.bytes ? in.partition_max_bytes - r.bytes : 0;
            const size_t budget = std::min(partition_left, request_left);
            // KIP-74: the first batch of the first partition with data comes whatever its size;
            // a partition's first batch may exceed its own limit if the request has room.
            const size_t first_batch_max =
                total == 0 ? SIZE_MAX : (r.bytes == 0 ? request_left : budget);
            std::shared_ptr<wakeup> w = waiter;
            partition* part = s.part;
            const offset_t from = s.next;
            const partition::reader who{req.replica, in.last_fetched_epoch,
                                        std::chrono::steady_clock::now(), from == in.fetch_offset};
            const leader_epoch_t epoch = in.current_leader_epoch;
            auto read = [part, from, budget, first_batch_max, &who, epoch, &w] {
                return part->read(from, budget, first_batch_max, who, epoch, w);
            };
            auto got = co_await run_on(part->strand(), read);
            r.high_watermark = got.high_watermark;
            r.log_start = got.log_start;
            if (got.error != errc::none) {
                r.error = got.error;
                failed = true;
                continue;
            }
            if (got.diverging) {
                // An answer in itself: the follower truncates before it fetches again.
                r.diverging_epoch = got.diverging->epoch;
                r.diverging_end_offset = got.diverging->end_offset;
                failed = true;
                continue;
            }
            if (got.bytes > 0) {
                r.bytes += got.bytes;
                total += got.bytes;
                s.next = got.next;
                for (auto& range : got.ranges) {
                    r.ranges.push_back(std::move(range));
                }
            }
        }
        if (total >= req.min_bytes || failed || !waiter) {
            if (waiter) {
                waiter->finish();
            }
            break;
        }
        if (req.cancel && !req.cancel->add(waiter)) {
            waiter->finish();
            break;  // nobody waits for the answer any more
        }
        const bool woken = co_await waiter->wait_until(req.deadline);
        waiter->finish();
        if (!woken || (req.cancel && req.cancel->cancelled())) {
            break;  // the deadline passed, or nobody waits for the answer any more
        }
    }
    co_return out;
}

awaitable<partition::offset_outcome> replica_manager::list_offset(std::string_view topic,
                                                                  partition_id_t p,
                                                                  int64_t timestamp) {
    auto image = snapshot();
    partition* part = image->find(topic, p);
    if (part == nullptr) {
        co_return partition::offset_outcome{errc::unknown_topic_or_partition};
    }
    auto lookup = [part, timestamp] { return part->list_offset(timestamp); };
    co_return co_await run_on(part->strand(), lookup);
}

}  // namespace sluice::broker
