#include "sluice/replication/isr_manager.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include "sluice/core/async.h"
#include "sluice/core/logging.h"

namespace sluice::replication {

namespace logging = broker::logging;

// How long a partition whose ISR change was refused waits before proposing again (the image
// usually says why sooner, and a new proposal then differs).
constexpr auto refused_backoff = std::chrono::milliseconds(1000);

namespace {

std::string list(const std::vector<node_id_t>& ids) {
    return fmt::format("[{}]", fmt::join(ids, ","));
}

}  // namespace

isr_manager::isr_manager(broker::executor strand, broker::replica_manager& replicas,
                         isr_sender send, std::chrono::milliseconds lag_max,
                         std::chrono::milliseconds interval)
    : strand_(std::move(strand)),
      replicas_(replicas),
      send_(std::move(send)),
      lag_max_(lag_max),
      interval_(interval),
      timer_(strand_) {}

void isr_manager::start() {
    boost::asio::co_spawn(
        strand_, [self = shared_from_this()] { return self->run(); }, boost::asio::detached);
}

void isr_manager::stop() {
    stopped_ = true;
    boost::asio::post(strand_, [self = shared_from_this()] { self->timer_.cancel(); });
}

boost::asio::awaitable<void> isr_manager::run() {
    while (!stopped_) {
        co_await pass();
        co_await broker::wait_timer(timer_, std::chrono::steady_clock::now() + interval_);
    }
}

boost::asio::awaitable<void> isr_manager::pass() {
    const auto image = replicas_.snapshot();
    for (const auto& [topic, parts] : image->topics) {
        for (const auto& part : parts) {
            if (stopped_) {
                co_return;
            }
            if (!part || !part->is_leader()) {
                continue;
            }
            const auto key = std::make_pair(topic, part->id());
            if (auto h = held_.find(key); h != held_.end()) {
                if (std::chrono::steady_clock::now() < h->second) {
                    continue;
                }
                held_.erase(h);
            }
            const auto lag = lag_max_;
            auto propose = [&part, lag] {
                auto p = part->propose_isr(std::chrono::steady_clock::now(), lag);
                return std::make_pair(p, std::make_pair(part->isr(), part->leader_epoch()));
            };
            auto [proposal, current] = co_await broker::run_on(part->strand(), propose);
            if (!proposal) {
                continue;
            }
            isr_request req{topic, part->id(), current.second, *proposal};
            isr_answer a = co_await send_(req);
            if (a.error == errc::none) {
                logging::info("{}-{}: ISR {} -> {} (leader epoch {})", topic, part->id(),
                              list(current.first), list(proposal->isr), current.second);
                continue;  // the partition takes it from the image
            }
            // INVALID_UPDATE_VERSION and FENCED_LEADER_EPOCH: the image is about to say more.
            logging::info("{}-{}: ISR change {} -> {} not made: {} {}", topic, part->id(),
                          list(current.first), list(proposal->isr), errc_name(a.error), a.message);
            const broker::isr_proposal p = *proposal;
            auto failed = [&part, &p] { part->isr_proposal_failed(p); };
            co_await broker::run_on(part->strand(), failed);
            held_[key] = std::chrono::steady_clock::now() + refused_backoff;
        }
    }
}

}  // namespace sluice::replication
