#include "cluster_member.h"

#include <random>

#include <fmt/format.h>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>

#include "metadata_store.h"
#include "sluice/broker/topic_config.h"
#include "sluice/core/logging.h"

namespace sluice::broker {

namespace {

namespace ctl = controller;

// The controller thread's clock: the Raft tick and the broker's registration loop.
constexpr auto raft_tick = std::chrono::milliseconds(50);
constexpr auto member_tick = std::chrono::milliseconds(20);
// While fenced or shutting down, the broker heartbeats this often (it waits on the answer).
constexpr auto eager_heartbeat = std::chrono::milliseconds(50);
// The longest a topic request waits for the controller and for the change to apply here.
constexpr auto admin_timeout = std::chrono::milliseconds(30000);
// A warning that repeats (a registration refused again) is logged at most this often.
constexpr auto warning_interval = std::chrono::seconds(5);
// Polling period of the blocking waits (start-up and shutdown only).
constexpr auto blocking_poll = std::chrono::milliseconds(5);

ctl::topic_defaults topic_defaults_of(const broker_config& c) {
    ctl::topic_defaults d;
    d.partitions = c.num_partitions;
    d.replication_factor = c.default_replication_factor;
    d.partitions_max = partitions_per_topic_max;
    d.partitions_per_broker_max = c.max_partitions;
    d.replication_factor_max = 1;
    // A copy of the config: the controller thread may outlive any caller's reference.
    d.config_problem = [defaults = default_topic_settings(c)](
                           const ctl::config_map& overrides) -> std::optional<std::string> {
        auto r = apply_topic_configs(defaults, overrides);
        if (!r) {
            return r.error().to_string();
        }
        return std::nullopt;
    };
    return d;
}

std::vector<topic_result> not_answered(const std::vector<std::string>& names) {
    std::vector<topic_result> out;
    for (const auto& n : names) {
        out.push_back({n, errc::request_timed_out,
                       "the controller did not answer in time; the change may still be made"});
    }
    return out;
}

}  // namespace

cluster_member::cluster_member(const broker_config& config, storage::file_system& fs,
                               image_applier& applier)
    : config_(config), fs_(fs), applier_(applier) {}

cluster_member::~cluster_member() {
    stop();
}

result<std::string> cluster_member::start(const std::string& cluster_id) {
    if (!config_.quorum_voters.empty() && config_.quorum_voters.size() > 1) {
        return std::string(
            "controller.quorum.voters names several controllers, but this broker runs only a "
            "quorum of one: unset controller.quorum.voters");
    }
    ctl::metadata_log::options o;
    o.driver.raft.id = config_.node_id;
    o.driver.raft.bootstrap_voters = {config_.node_id};
    o.driver.raft.random_seed = std::random_device{}();
    o.driver.raft.election_timeout_ticks =
        std::max<int32_t>(4, int32_t(config_.quorum_election_timeout_ms / raft_tick.count()));
    o.driver.tick = raft_tick;
    o.driver.cluster_id = cluster_id;
    o.snapshot_bytes = config_.metadata_snapshot_bytes;
    auto send = [](node_id_t, std::vector<std::byte>) {};  // a quorum of one has no peers
    SLUICE_TRY(auto opened, ctl::metadata_log::open(io_.get_executor(), fs_,
                                                    config_.log_dir / metadata_dir_name, o, send));
    if (!opened.problem.empty()) {
        return opened.problem;
    }
    log_ = std::move(opened.log);
    if (config_.controller_role) {
        ctl::quorum_controller::options co;
        co.topics = topic_defaults_of(config_);
        co.session_timeout = std::chrono::milliseconds(config_.broker_session_timeout_ms);
        controller_ = std::make_unique<ctl::quorum_controller>(*log_, std::move(co));
    }
    log_->on_image([this](const ctl::metadata_log::image_ptr& im) { applier_.offer(im); });
    work_.emplace(io_.get_executor());
    boost::asio::post(io_, [this] {
        if (controller_) {
            controller_->start();
        }
        log_->start();
        if (log_->node().voters().size() == 1 && log_->node().is_voter()) {
            log_->campaign();  // alone: no need to wait for an election timeout
        }
        arm(member_tick);
    });
    thread_ = std::thread([this] { io_.run(); });
    return std::string();
}

void cluster_member::join(std::vector<ctl::endpoint> endpoints,
                          std::vector<ctl::imported_topic> legacy) {
    boost::asio::post(
        io_, [this, endpoints = std::move(endpoints), legacy = std::move(legacy)]() mutable {
            endpoints_ = std::move(endpoints);
            legacy_ = std::move(legacy);
            imported_ = legacy_.empty();
            joined_ = true;
        });
}

void cluster_member::arm(std::chrono::milliseconds after) {
    timer_.expires_after(after);
    timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec && !stopped_) {
            tick();
            arm(member_tick);
        }
    });
}

void cluster_member::tick() {
    if (!joined_ || call_out_) {
        return;
    }
    if (epoch_ < 0) {
        try_register();
    } else if (!imported_) {
        try_import();
    } else {
        const ctl::broker_info* b =
            applier_.applied() ? applier_.applied()->broker(config_.node_id) : nullptr;
        // While fenced or shutting down the broker waits on the controller: it asks often.
        const bool eager = shutting_down_.load() || b == nullptr || b->fenced;
        const auto interval = eager
                                  ? eager_heartbeat
                                  : std::chrono::milliseconds(config_.broker_heartbeat_interval_ms);
        if (std::chrono::steady_clock::now() >= last_heartbeat_ + interval) {
            send_heartbeat();
        }
    }
}

void cluster_member::warn_now_and_then(std::string line) {
    const auto now = std::chrono::steady_clock::now();
    if (line != last_warning_ || now - last_warning_at_ >= warning_interval) {
        logging::warn("{}", line);
        last_warning_ = std::move(line);
        last_warning_at_ = now;
    }
}

void cluster_member::try_register() {
    if (!controller_ || !controller_->active()) {
        return;  // no controller to register with yet
    }
    call_out_ = true;
    controller_->register_broker(
        {config_.node_id, incarnation_, endpoints_, ""}, [this](ctl::registration_result r) {
            call_out_ = false;
            if (r.error != errc::none) {
                warn_now_and_then(fmt::format("registering broker {}: {}: {}", config_.node_id,
                                              errc_name(r.error), r.message));
                return;
            }
            epoch_ = r.broker_epoch;
            logging::info("registered as broker {} with broker epoch {}", config_.node_id, epoch_);
            send_heartbeat();
        });
}

void cluster_member::try_import() {
    if (!controller_ || !controller_->active()) {
        return;
    }
    call_out_ = true;
    controller_->import_topics(config_.node_id, legacy_, [this](topic_result r) {
        call_out_ = false;
        if (r.error != errc::none) {
            warn_now_and_then(fmt::format("adopting the topics found in {}: {}: {}",
                                          config_.log_dir.string(), errc_name(r.error), r.message));
            return;
        }
        // The metadata log holds them now: their old records have no more use.
        for (const auto& t : legacy_) {
            if (auto removed = remove_topic_record(fs_, config_.log_dir, t.name); !removed) {
                logging::warn("topic {}: removing its old topic record: {}", t.name,
                              removed.error().message());
            }
        }
        logging::info("adopted {} topics found in {} into the metadata log", legacy_.size(),
                      config_.log_dir.string());
        imported_ = true;
    });
}

void cluster_member::send_heartbeat() {
    if (!controller_ || !controller_->active()) {
        return;
    }
    call_out_ = true;
    last_heartbeat_ = std::chrono::steady_clock::now();
    ctl::broker_heartbeat h{config_.node_id, epoch_, applier_.applied_offset(),
                            shutting_down_.load()};
    controller_->heartbeat(h, [this](ctl::heartbeat_result r) {
        call_out_ = false;
        if (r.error == errc::stale_broker_epoch || r.error == errc::broker_id_not_registered) {
            logging::warn("heartbeat: {}; registering again", r.message);
            epoch_ = -1;
            return;
        }
        if (r.error != errc::none) {
            logging::debug("heartbeat: {}: {}", errc_name(r.error), r.message);
            return;
        }
        shutdown_ready_ = r.shutdown_ready;
    });
}

bool cluster_member::wait_ready(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!stopped_) {
        if (auto im = applier_.applied()) {
            const ctl::broker_info* b = im->broker(config_.node_id);
            if (b != nullptr && !b->fenced && b->incarnation == incarnation_) {
                return true;
            }
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(blocking_poll);
    }
    return false;
}

bool cluster_member::has_peers() const {
    auto im = applier_.applied();
    return im && std::any_of(im->brokers().begin(), im->brokers().end(),
                             [&](const auto& b) { return b.first != config_.node_id; });
}

bool cluster_member::controlled_shutdown(std::chrono::milliseconds timeout) {
    shutting_down_ = true;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!shutdown_ready_ && !stopped_) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(blocking_poll);
    }
    return shutdown_ready_;
}

void cluster_member::stop() {
    if (stopped_.exchange(true)) {
        return;
    }
    if (thread_.joinable()) {
        boost::asio::post(io_, [this] {
            timer_.cancel();
            if (controller_) {
                controller_->stop();
            }
            if (log_) {
                log_->stop();
            }
            work_.reset();
        });
        thread_.join();
    }
    controller_.reset();
    log_.reset();
}

template <typename R>
awaitable<R> cluster_member::on_controller(
    std::function<void(ctl::quorum_controller*, std::function<void(R)>)>& start, R& late) {
    // The answer and the wake-up of the waiting coroutine, which runs on a strand (a
    // connection's): the timer is only touched there.
    struct state {
        std::mutex mutex;
        std::optional<R> answer;
        boost::asio::steady_timer timer;
        explicit state(const executor& ex) : timer(ex) {}
    };
    auto st = std::make_shared<state>(co_await boost::asio::this_coro::executor);
    st->timer.expires_after(admin_timeout);
    boost::asio::post(io_, [this, st, start = std::move(start)]() mutable {
        ctl::quorum_controller* c =
            controller_ && controller_->active() && !stopped_ ? controller_.get() : nullptr;
        start(c, [st](R r) {
            {
                std::lock_guard lock(st->mutex);
                st->answer = std::move(r);
            }
            // A time in the past: a wait in progress ends, and one not yet begun ends at once.
            boost::asio::post(st->timer.get_executor(), [st] {
                st->timer.expires_at(std::chrono::steady_clock::time_point::min());
            });
        });
    });
    boost::system::error_code ec;
    co_await st->timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    std::lock_guard lock(st->mutex);
    if (!st->answer) {
        st->answer = std::move(late);  // an answer that comes later is dropped
    }
    co_return std::move(*st->answer);
}

awaitable<std::vector<topic_result>> cluster_member::topic_change(std::vector<std::string>& names,
                                                                  topic_action& act) {
    using answer = std::pair<std::vector<topic_result>, offset_t>;
    std::function<void(ctl::quorum_controller*, std::function<void(answer)>)> start =
        [this, names, act = std::move(act)](ctl::quorum_controller* c,
                                            std::function<void(answer)> done) {
            if (c == nullptr) {
                std::vector<topic_result> out;
                for (const auto& n : names) {
                    out.push_back({n, errc::not_controller, "no controller is active yet; retry"});
                }
                return done({std::move(out), offset_t{-1}});
            }
            // Answered once applied to the controller's image: the applier must reach it too.
            act(*c, [this, done](std::vector<topic_result> r) {
                done({std::move(r), log_->image()->end_offset()});
            });
        };
    answer late{not_answered(names), offset_t{-1}};
    auto [results, offset] = co_await on_controller<answer>(start, late);
    if (offset >= offset_t{0}) {
        co_await applier_.wait_applied_async(offset, admin_timeout);
    }
    co_return results;
}

awaitable<std::vector<topic_result>> cluster_member::create_topics(
    std::vector<create_topic_request>&& topics, bool validate_only) {
    std::vector<std::string> names;
    for (const auto& t : topics) {
        names.push_back(t.name);
    }
    topic_action act = [topics = std::move(topics), validate_only](ctl::quorum_controller& c,
                                                                   topic_done done) mutable {
        c.create_topics(std::move(topics), validate_only, std::move(done));
    };
    co_return co_await topic_change(names, act);
}

awaitable<std::vector<topic_result>> cluster_member::delete_topics(
    std::vector<std::string>&& names) {
    topic_action act = [names](ctl::quorum_controller& c, topic_done done) {
        c.delete_topics(names, std::move(done));
    };
    co_return co_await topic_change(names, act);
}

}  // namespace sluice::broker
