#include "log_cleaner.h"

#include <chrono>
#include <future>
#include <optional>

#include <boost/asio/post.hpp>

#include "sluice/core/logging.h"

namespace sluice::broker {
namespace {

using namespace std::chrono_literals;

// How often a wait for a strand looks at the stop flag.
constexpr auto stop_poll = 100ms;

// Runs `fn(p)` on p's strand and waits for its result; nullopt once `stopping` is set first
// (the strand may then run it later, or never, if the server is going).
template <typename F>
auto on_strand(const std::shared_ptr<partition>& p, const std::atomic<bool>& stopping, F fn)
    -> std::optional<decltype(fn(*p))> {
    using value = decltype(fn(*p));
    auto promise = std::make_shared<std::promise<value>>();
    auto future = promise->get_future();
    boost::asio::post(p->strand(),
                      [p, promise, fn = std::move(fn)]() mutable { promise->set_value(fn(*p)); });
    while (future.wait_for(stop_poll) != std::future_status::ready) {
        if (stopping.load()) {
            return std::nullopt;
        }
    }
    return future.get();
}

}  // namespace

log_cleaner::log_cleaner(replica_manager& replicas, options o)
    : replicas_(replicas), opts_(o), map_(o.dedupe_buffer_bytes) {}

log_cleaner::~log_cleaner() {
    stop();
}

void log_cleaner::start() {
    thread_ = std::thread([this] { run(); });
}

void log_cleaner::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_.store(true);
    }
    wake_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void log_cleaner::run() {
    while (!stopping_.load()) {
        if (pass()) {
            continue;  // more may be due at once
        }
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, std::chrono::milliseconds(opts_.backoff_ms),
                       [this] { return stopping_.load(); });
    }
}

bool log_cleaner::pass() {
    // The dirtiest log whose dirty share reached its topic's min.cleanable.dirty.ratio, leaving
    // out those whose last pass failed or got nowhere within log.cleaner.backoff.ms: one such
    // log must not keep the others waiting.
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(resting_, [now](const auto& r) { return r.second <= now; });
    std::shared_ptr<partition> best;
    double best_ratio = 0;
    const auto image = replicas_.snapshot();
    for (const auto& [name, parts] : image->topics) {
        for (const auto& p : parts) {
            if (!p || resting_.contains({p->topic(), p->id()})) {
                continue;
            }
            auto due = on_strand(p, stopping_, [](partition& q) { return q.cleaning_due(); });
            if (!due) {
                return false;
            }
            if (*due && **due > best_ratio) {
                best = p;
                best_ratio = **due;
            }
        }
    }
    if (!best) {
        return false;
    }
    if (!clean(best)) {
        resting_[{best->topic(), best->id()}] = now + std::chrono::milliseconds(opts_.backoff_ms);
    }
    return !stopping_.load();  // the next log, at once
}

bool log_cleaner::clean(const std::shared_ptr<partition>& p) {
    auto job = on_strand(p, stopping_, [](partition& q) { return q.plan_cleaning(); });
    if (!job || !*job) {
        return false;
    }
    storage::io_throttle throttle(opts_.io_bytes_per_second, &stopping_);
    storage::clean_options& how = (*job)->options;
    how.throttle = &throttle;
    how.cancel = &stopping_;
    auto out = storage::clean_log((*job)->plan, how, map_);
    if (!out) {
        if (out.error() != std::errc::operation_canceled) {
            logging::warn("{}-{}: compaction: {} (tried again in {} ms)", p->topic(), p->id(),
                          out.error().message(), opts_.backoff_ms);
        }
        return false;
    }
    auto cleaned = std::make_shared<storage::clean_outcome>(std::move(out).value());
    auto installed = on_strand(
        p, stopping_, [cleaned](partition& q) { return q.install_cleaned(std::move(*cleaned)); });
    return installed && *installed;
}

}  // namespace sluice::broker
