#include "image_applier.h"

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "cluster_member.h"
#include "metadata_store.h"
#include "sluice/broker/topic_config.h"
#include "sluice/core/logging.h"
#include "sluice/storage/log.h"

namespace sluice::broker {

namespace {

using controller::metadata_image;
using controller::partition_info;
using controller::topic_info;

// How often an asynchronous wait looks at the applied offset.
constexpr auto wait_poll = std::chrono::milliseconds(2);

const std::filesystem::path metadata_dir{std::string(metadata_dir_name)};

partition_role role_of(const partition_info& p, node_id_t self, const topic_settings& s) {
    return {p.leader, p.leader_epoch,
            replica_assignment{self, p.replicas, p.isr, p.partition_epoch, s.min_insync_replicas}};
}

// The partitions of `t` this broker holds, with their roles.
std::vector<partition_spec> specs_of(const topic_info& t, node_id_t self, const topic_settings& s) {
    std::vector<partition_spec> out;
    for (size_t i = 0; i < t.partitions.size(); ++i) {
        const partition_info& p = t.partitions[i];
        if (std::find(p.replicas.begin(), p.replicas.end(), self) != p.replicas.end()) {
            out.push_back({int32_t(i), false, role_of(p, self, s)});
        }
    }
    return out;
}

}  // namespace

image_applier::image_applier(boost::asio::io_context& io, const broker_config& config,
                             replica_manager& replicas, executor blocking,
                             replication::fetcher_manager* fetchers)
    : config_(config),
      replicas_(replicas),
      fetchers_(fetchers),
      strand_(boost::asio::make_strand(io)),
      blocking_(std::move(blocking)) {}

image_applier::image_ptr image_applier::applied() const {
    std::lock_guard lock(applied_mutex_);
    return applied_;
}

offset_t image_applier::applied_offset() const {
    auto im = applied();
    return im ? im->end_offset() : offset_t{-1};
}

void image_applier::offer(image_ptr image) {
    std::lock_guard lock(mutex_);
    if (stopped_) {
        return;
    }
    next_ = std::move(image);
    if (!running_) {
        running_ = true;
        boost::asio::co_spawn(strand_, run(), boost::asio::detached);
    }
}

void image_applier::stop() {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    next_.reset();
}

awaitable<void> image_applier::run() {
    for (;;) {
        image_ptr next;
        {
            std::lock_guard lock(mutex_);
            if (!next_ || stopped_) {
                running_ = false;
                co_return;
            }
            next = std::move(next_);
        }
        const image_ptr before = applied();
        co_await apply(before.get(), *next);
        if (fetchers_ != nullptr) {
            fetchers_->update(follows(*next));
        }
        {
            std::lock_guard lock(applied_mutex_);
            applied_ = next;
        }
    }
}

awaitable<void> image_applier::apply(const metadata_image* before, const metadata_image& after) {
    const node_id_t self = config_.node_id;
    // Topics gone, or deleted and created again under a new id: their partitions go first.
    if (before != nullptr) {
        for (const auto& [name, t] : before->topics()) {
            const topic_info* now = after.topic(name);
            if (now == nullptr || now->id != t->id) {
                co_await replicas_.remove_topic(name);
                logging::info("deleted topic {}", name);
            }
        }
    }
    for (const auto& [name, t] : after.topics()) {
        const topic_info* old = before != nullptr ? before->topic(name) : nullptr;
        if (old == t.get() && !failed_.contains(name)) {
            continue;  // the same object: unchanged (and applied)
        }
        if (old != nullptr && old->id != t->id) {
            old = nullptr;
        }
        auto settings = apply_topic_configs(default_topic_settings(config_), t->configs);
        const topic_settings s = settings ? settings.value() : default_topic_settings(config_);
        auto specs = specs_of(*t, self, s);
        if (specs.empty()) {
            continue;
        }
        if (!settings) {
            logging::error("topic {}: config {}; using the broker's defaults", name,
                           settings.error().to_string());
        }
        if (old != nullptr && old->configs != t->configs && settings) {
            // (Configs this build can not read leave open partitions as they are.)
            if (co_await replicas_.set_settings(name, s)) {
                logging::info("topic {}: configs changed", name);
            } else {
                logging::warn(
                    "topic {}: configs changed; flush.messages applies when the broker next "
                    "starts, the others now",
                    name);
            }
        }
        // New partitions: opened (recovered or created) on the blocking pool.
        // (An error_code: run_on needs a result type that can be made empty.)
        auto open = [this, &name, &t, &specs, &s] {
            auto r = replicas_.add_partitions(name, t->id.to_string(), specs, s);
            return r ? std::error_code() : r.error();
        };
        if (auto ec = co_await run_on(blocking_, open)) {
            // Tried again with the next image that changes anything.
            logging::error("topic {}: cannot open its partitions: {}", name, ec.message());
            failed_.insert(name);
            continue;
        }
        failed_.erase(name);
        if (old == nullptr) {
            logging::info("topic {}: holding {} of its {} partitions", name, specs.size(),
                          t->partitions.size());
        }
        // Roles of the ones held before: leadership, replicas, ISR (every change raises the
        // partition epoch), or min.insync.replicas.
        const bool configs_changed = old != nullptr && old->configs != t->configs;
        for (const auto& spec : specs) {
            const partition_info* was = old != nullptr && size_t(spec.id) < old->partitions.size()
                                            ? &old->partitions[size_t(spec.id)]
                                            : nullptr;
            const partition_info& is = t->partitions[size_t(spec.id)];
            if (was == nullptr || (*was == is && !configs_changed)) {
                continue;
            }
            co_await replicas_.set_role(name, spec.id, spec.role);
            if (was->leader != is.leader || was->leader_epoch != is.leader_epoch) {
                logging::info("{}-{}: {} at leader epoch {}", name, spec.id,
                              spec.role.leads()           ? "leading"
                              : is.leader >= node_id_t{0} ? fmt::format("following {}", is.leader)
                                                          : std::string("no leader"),
                              spec.role.epoch);
            }
        }
    }
}

std::vector<replication::follow_spec> image_applier::follows(const metadata_image& image) const {
    std::vector<replication::follow_spec> out;
    const node_id_t self = config_.node_id;
    const auto held = replicas_.snapshot();
    for (const auto& [name, t] : image.topics()) {
        for (size_t i = 0; i < t->partitions.size(); ++i) {
            const partition_info& p = t->partitions[i];
            if (p.leader < node_id_t{0} || p.leader == self ||
                std::find(p.replicas.begin(), p.replicas.end(), self) == p.replicas.end()) {
                continue;
            }
            partition* part = held->find(name, partition_id_t{int32_t(i)});
            const controller::broker_info* leader = image.broker(p.leader);
            if (part == nullptr || !part->offline_reason().empty() || leader == nullptr) {
                continue;  // not open here (or offline), or a leader the image does not know
            }
            for (const auto& e : leader->endpoints) {
                if (e.listener == "PLAINTEXT") {
                    out.push_back({p.leader,
                                   {e.host, uint16_t(e.port)},
                                   {name, int32_t(i), p.leader_epoch, part->shared_from_this()}});
                    break;
                }
            }
        }
    }
    return out;
}

awaitable<void> image_applier::wait_idle() {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
    for (;;) {
        {
            std::lock_guard lock(mutex_);
            if (!running_) {
                co_return;
            }
        }
        co_await wait_timer(timer, std::chrono::steady_clock::now() + wait_poll);
    }
}

awaitable<bool> image_applier::wait_applied_async(offset_t offset,
                                                  std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
    while (applied_offset() < offset) {
        bool stopped = false;
        {
            std::lock_guard lock(mutex_);
            stopped = stopped_;
        }
        if (stopped || std::chrono::steady_clock::now() >= deadline) {
            co_return false;
        }
        co_await wait_timer(timer, std::chrono::steady_clock::now() + wait_poll);
    }
    co_return true;
}

awaitable<void> image_applier::remove_strays(bool keep) {
    // No image is applied meanwhile (offers wait): a partition being opened is never taken for
    // a stray, nor one being removed as such while the applier opens it. Images keep coming
    // while a cluster starts: this waits for a gap between them.
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
    for (;;) {
        {
            std::lock_guard lock(mutex_);
            if (stopped_) {
                co_return;
            }
            if (!running_) {
                running_ = true;
                break;
            }
        }
        co_await wait_timer(timer, std::chrono::steady_clock::now() + wait_poll);
    }
    co_await sweep(keep);
    bool more = false;
    {
        std::lock_guard lock(mutex_);
        running_ = false;
        if (next_ && !stopped_) {
            running_ = true;
            more = true;
        }
    }
    if (more) {
        // Outside the lock: on this strand a newer Asio starts run() at once, and it locks.
        boost::asio::co_spawn(strand_, run(), boost::asio::detached);
    }
}

awaitable<void> image_applier::sweep(bool keep) {
    const image_ptr image = applied();
    if (!image) {
        co_return;
    }
    auto& fs = *replicas_.config().fs;
    std::error_code scan_error;
    auto scan = [&] {
        auto r = scan_log_dir(fs, config_.log_dir);
        scan_error = r ? std::error_code() : r.error();
        return r ? std::move(r).value().orphans : std::vector<std::filesystem::path>{};
    };
    auto orphans = co_await run_on(blocking_, scan);
    if (scan_error) {
        logging::warn("looking for stray partitions in {}: {}", config_.log_dir.string(),
                      scan_error.message());
        co_return;
    }
    for (const auto& dir : orphans) {
        auto named = parse_partition_dir(dir.filename().string());
        if (!named || dir.filename() == metadata_dir) {
            continue;
        }
        // A stray is a partition the image does not place here, whatever is open: one the
        // image places here but that failed to open is kept for the next attempt.
        const topic_info* t = image->topic(named->first);
        if (t != nullptr && named->second >= 0 && size_t(named->second) < t->partitions.size()) {
            const auto& replicas = t->partitions[size_t(named->second)].replicas;
            if (std::find(replicas.begin(), replicas.end(), config_.node_id) != replicas.end()) {
                continue;
            }
        }
        if (keep) {
            logging::warn(
                "keeping {}: no topic of the new metadata log places that partition on "
                "this broker; remove it by hand if its data is not wanted",
                dir.string());
            continue;
        }
        logging::warn(
            "removing {}: no topic places that partition on this broker (left by a "
            "deletion or an interrupted creation)",
            dir.string());
        auto destroy = [&] {
            auto r = storage::partition_log::destroy(fs, dir);
            return r ? std::error_code() : r.error();
        };
        if (auto ec = co_await run_on(blocking_, destroy)) {
            logging::warn("removing {}: {}", dir.string(), ec.message());
        }
    }
}

}  // namespace sluice::broker
