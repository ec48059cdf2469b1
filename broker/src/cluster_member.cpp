#include "cluster_member.h"

#include <random>

#include <fmt/format.h>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>

#include "metadata_store.h"
#include "sluice/broker/topic_config.h"
#include "sluice/controller/quorum_state.h"
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
// The longest a call to a controller elsewhere waits for its answer: a broker's own calls are
// asked again soon, a topic request once (its frame may have been dropped while the connection
// to the controller was being made).
constexpr auto member_call_timeout = std::chrono::milliseconds(1000);
constexpr auto topic_call_timeout = std::chrono::milliseconds(10000);
// After a refused or unanswered registration, the broker waits this long before it asks again.
constexpr auto retry_backoff = std::chrono::milliseconds(100);
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
    d.unclean_leader_election = c.unclean_leader_election_enable;
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

// The endpoint of host:port, resolved now (the controller thread only sends to endpoints).
std::optional<boost::asio::ip::tcp::endpoint> resolve(boost::asio::io_context& io,
                                                      const std::string& host, uint16_t port,
                                                      std::string& why) {
    boost::system::error_code ec;
    if (auto addr = boost::asio::ip::make_address(host, ec); !ec) {
        return boost::asio::ip::tcp::endpoint(addr, port);
    }
    boost::asio::ip::tcp::resolver resolver(io);
    auto found = resolver.resolve(host, std::to_string(port), ec);
    if (ec || found.empty()) {
        why = fmt::format("cannot resolve {}: {}", host,
                          ec ? ec.message() : std::string("no address"));
        return std::nullopt;
    }
    return found.begin()->endpoint();
}

// Whether `a` is the kind of answer `c` asks for (a broken or hostile controller may send
// another).
bool answers(const ctl::rpc_call& c, const ctl::rpc_answer& a) {
    return a.index() == ctl::error_answer(c, errc::none, {}).index();
}

// REQUEST_TIMED_OUT for `c`: a topic change may still be made.
ctl::rpc_answer timed_out(const ctl::rpc_call& c) {
    return ctl::error_answer(c, errc::request_timed_out,
                             ctl::is_topic_change(c)
                                 ? "the controller did not answer in time; the change may still "
                                   "be made"
                                 : "the controller did not answer in time");
}

}  // namespace

cluster_member::cluster_member(const broker_config& config, storage::file_system& fs,
                               image_applier& applier)
    : config_(config), fs_(fs), applier_(applier) {}

cluster_member::~cluster_member() {
    stop();
}

// A controller of a quorum of several starts only from a formatted metadata directory, whose
// voters are the configured ones: the directory ids in it keep a node that lost its directory
// from voting as its old self (quorum_bootstrap.h).
result<ctl::quorum_bootstrap_load> cluster_member::voter_directories(
    const std::vector<node_id_t>& voters) {
    const auto dir = config_.log_dir / metadata_dir_name;
    SLUICE_TRY(auto load, ctl::load_quorum_bootstrap(fs_, dir, config_.node_id));
    if (!load.problem.empty()) {
        return load;
    }
    if (!load.bootstrap) {
        load.problem = fmt::format(
            "{} is not formatted: every controller of a quorum of several is formatted once, "
            "when the cluster is created: sluice-broker format --config FILE "
            "--initial-controllers ID@HOST:PORT:DIRECTORY_ID,... (scripts/cluster.sh does it). "
            "A controller that lost this directory is formatted again with the same list and "
            "--new-directory, never under its old directory id (docs/controller.md, "
            "\"Formatting\")",
            dir.string());
        return load;
    }
    std::vector<node_id_t> formatted;
    for (const auto& [id, d] : load.bootstrap->voters) {
        formatted.push_back(id);
    }
    if (formatted != voters) {
        load.problem = fmt::format(
            "controller.quorum.voters names nodes {} but {} was formatted for voters {}",
            fmt::join(voters, ","), dir.string(), fmt::join(formatted, ","));
    }
    return load;
}

result<std::string> cluster_member::start(const std::string& cluster_id) {
    cluster_id_ = cluster_id;
    std::vector<node_id_t> voters;
    for (const auto& v : config_.quorum_voters) {
        voters.push_back(v.id);
    }
    if (voters.empty()) {
        voters.push_back(config_.node_id);  // the zero-config quorum of one
    }
    std::sort(voters.begin(), voters.end());
    ctl::metadata_log::options o;
    o.driver.raft.id = config_.node_id;
    o.driver.raft.bootstrap_voters = voters;
    if (!config_.quorum_voters.empty() && config_.controller_role) {
        SLUICE_TRY(auto directories, voter_directories(voters));
        if (!directories.problem.empty()) {
            return directories.problem;
        }
        o.driver.raft.directory = directories.bootstrap->directory;
        o.driver.raft.voter_directories = directories.bootstrap->voters;
    }
    o.driver.raft.random_seed = std::random_device{}();
    o.driver.raft.election_timeout_ticks =
        std::max<int32_t>(4, int32_t(config_.quorum_election_timeout_ms / raft_tick.count()));
    // Fetches long-poll for up to a fifth of the election timeout (raft::config's bound): a
    // change reaches every node as soon as it is written, and answers still come well within
    // every lease (no long poll with the shortest timeouts).
    o.driver.raft.fetch_wait_ticks = std::max<int32_t>(
        0, (o.driver.raft.election_timeout_ticks / 2 - o.driver.raft.fetch_interval_ticks) / 2);
    // One entry holds a whole decision: a topic of max partitions, the fence of a broker that
    // leads as many. The transport's frames (16 MiB) hold a fetch answer of this much.
    o.driver.raft.entry_bytes_max = 4 << 20;
    o.driver.raft.fetch_bytes_max = 8 << 20;
    o.driver.raft.uncommitted_bytes_max = 64 << 20;
    o.driver.tick = raft_tick;
    o.driver.cluster_id = cluster_id;
    o.snapshot_bytes = config_.metadata_snapshot_bytes;

    if (!config_.quorum_voters.empty()) {
        transport_ = std::make_unique<ctl::raft_transport>(
            io_.get_executor(), ctl::raft_transport::options{},
            [this](std::span<const std::byte> frame, uint64_t link) { on_frame(frame, link); });
        std::string why;
        if (config_.controller_role) {
            const auto& l = *config_.controller_listen;
            auto at = l.host.empty() ? std::optional(boost::asio::ip::tcp::endpoint(
                                           boost::asio::ip::tcp::v4(), l.port))
                                     : resolve(io_, l.host, l.port, why);
            if (!at) {
                return fmt::format("listeners={}: {}", l.to_string(), why);
            }
            try {
                controller_port_ = transport_->listen(*at).port();
            } catch (const boost::system::system_error& e) {
                return fmt::format("listeners={}: {}", l.to_string(), e.code().message());
            }
        }
        for (const auto& v : config_.quorum_voters) {
            if (v.id == config_.node_id) {
                continue;
            }
            auto at = resolve(io_, v.host, v.port, why);
            if (!at) {
                return fmt::format("controller.quorum.voters: node {}: {}", v.id, why);
            }
            transport_->set_peer(v.id, *at);
        }
    }
    auto send = [t = transport_.get()](node_id_t to, std::vector<std::byte> frame) {
        if (t != nullptr) {
            t->send(to, std::move(frame));
        }
    };
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
        if (config_.auto_leader_rebalance_enable) {
            co.rebalance_interval =
                std::chrono::seconds(config_.leader_imbalance_check_interval_seconds);
        }
        co.imbalance = config_.leader_imbalance_per_broker_percentage / 100.0;
        controller_ = std::make_unique<ctl::quorum_controller>(*log_, std::move(co));
    }
    log_->on_image([this](const ctl::metadata_log::image_ptr& im) { applier_.offer(im); });
    log_->on_leadership([this](const raft::leadership& l) {
        const node_id_t before{leader_.exchange(l.leader.value())};
        if (before != l.leader && before != raft::no_node) {
            fail_calls_to(before, fmt::format("node {} no longer leads the quorum", before), false);
        }
        if (log_ && log_->halted()) {
            halted_ = true;
        }
    });
    if (transport_) {
        transport_->on_peer_down([this](node_id_t id) {
            fail_calls_to(id, fmt::format("the connection to node {} failed", id), true);
        });
    }
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
                          std::vector<ctl::imported_topic> legacy, bool clean_shutdown) {
    boost::asio::post(io_, [this, endpoints = std::move(endpoints), legacy = std::move(legacy),
                            clean_shutdown]() mutable {
        endpoints_ = std::move(endpoints);
        clean_shutdown_ = clean_shutdown;
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
    expire_calls();
    if (halted_) {
        return;  // no more heartbeats: the controller fences this broker after its session
    }
    const auto now = std::chrono::steady_clock::now();
    if (!joined_ || call_out_ || now < retry_at_) {
        return;
    }
    if (epoch_ < 0) {
        try_register();
    } else if (!imported_) {
        try_import();
    } else {
        const auto image = applier_.applied();  // held while `b` points into it
        const ctl::broker_info* b = image ? image->broker(config_.node_id) : nullptr;
        // While fenced or shutting down the broker waits on the controller: it asks often.
        const bool eager = shutting_down_.load() || b == nullptr || b->fenced;
        const auto interval = eager
                                  ? eager_heartbeat
                                  : std::chrono::milliseconds(config_.broker_heartbeat_interval_ms);
        if (now >= last_heartbeat_ + interval) {
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
    call_out_ = true;
    call(ctl::broker_registration{config_.node_id, incarnation_, endpoints_, "", clean_shutdown_},
         [this](ctl::rpc_answer a, offset_t) {
             call_out_ = false;
             const auto& r = std::get<ctl::registration_result>(a);
             if (r.error != errc::none) {
                 retry_at_ = std::chrono::steady_clock::now() + retry_backoff;
                 if (r.error != errc::not_controller) {
                     warn_now_and_then(fmt::format("registering broker {}: {}: {}", config_.node_id,
                                                   errc_name(r.error), r.message));
                 }
                 return;
             }
             epoch_ = r.broker_epoch;
             broker_epoch_ = epoch_;
             logging::info("registered as broker {} with broker epoch {}", config_.node_id, epoch_);
             send_heartbeat();
         });
}

void cluster_member::try_import() {
    if (!controller_ || !controller_->active()) {
        if (transport_ != nullptr) {
            // Adopting old topics needs this process's own controller: a single broker's.
            logging::warn(
                "{} holds topics from before the metadata log; only a broker that is "
                "its own controller adopts them: they are left as they are",
                config_.log_dir.string());
            imported_ = true;
        }
        return;
    }
    call_out_ = true;
    controller_->import_topics(config_.node_id, legacy_, [this](topic_result r) {
        call_out_ = false;
        if (r.error != errc::none) {
            warn_now_and_then(fmt::format("adopting the topics found in {}: {}: {}",
                                          config_.log_dir.string(), errc_name(r.error), r.message));
            retry_at_ = std::chrono::steady_clock::now() + retry_backoff;
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
    call_out_ = true;
    last_heartbeat_ = std::chrono::steady_clock::now();
    ctl::broker_heartbeat h{config_.node_id, epoch_, applier_.applied_offset(),
                            shutting_down_.load()};
    call(h, [this](ctl::rpc_answer a, offset_t) {
        call_out_ = false;
        const auto& r = std::get<ctl::heartbeat_result>(a);
        if (r.error == errc::stale_broker_epoch || r.error == errc::broker_id_not_registered) {
            logging::warn("heartbeat: {}; registering again", r.message);
            epoch_ = -1;
            broker_epoch_ = -1;
            return;
        }
        if (r.error != errc::none) {
            logging::debug("heartbeat: {}: {}", errc_name(r.error), r.message);
            return;
        }
        shutdown_ready_ = r.shutdown_ready;
    });
}

void cluster_member::call(ctl::rpc_call c, answer_fn done) {
    if (controller_ && controller_->active()) {
        ctl::run_call(*controller_, std::move(c), [this, done](ctl::rpc_answer a) {
            done(std::move(a), log_->image()->end_offset());
        });
        return;
    }
    const node_id_t leader = log_->node().leader();
    if (transport_ == nullptr || leader == raft::no_node || leader == config_.node_id || stopped_) {
        // No controller elsewhere (yet: the metadata log learns the leader as it fetches), or
        // this node leads and its controller is still catching up.
        return done(
            ctl::error_answer(c, errc::not_controller, "no controller is active yet; retry"),
            offset_t{-1});
    }
    const bool member_call = std::holds_alternative<ctl::broker_registration>(c) ||
                             std::holds_alternative<ctl::broker_heartbeat>(c);
    const int32_t correlation = next_correlation_++;
    transport_->send(leader,
                     ctl::encode_rpc_request({cluster_id_, correlation, config_.node_id, c}));
    calls_.emplace(correlation,
                   pending_call{std::move(done), leader, std::move(c),
                                std::chrono::steady_clock::now() +
                                    (member_call ? member_call_timeout : topic_call_timeout)});
}

void cluster_member::fail_calls_to(node_id_t to, const std::string& why, bool connection) {
    std::vector<pending_call> failed;
    for (auto it = calls_.begin(); it != calls_.end();) {
        if (it->second.to == to) {
            failed.push_back(std::move(it->second));
            it = calls_.erase(it);
        } else {
            ++it;
        }
    }
    for (auto& p : failed) {
        // A topic change that reached a controller which then lost its leadership may be written
        // yet: its outcome is unknown, so it is not asked again. One whose connection failed
        // (most often refused: the frame never left) and the broker's own calls are.
        const bool topic_call = !connection && ctl::is_topic_change(p.call);
        p.done(ctl::error_answer(
                   p.call, topic_call ? errc::request_timed_out : errc::not_controller,
                   topic_call ? why + "; the change may or may not have been made" : why),
               offset_t{-1});
    }
}

void cluster_member::call_until(ctl::rpc_call c, std::chrono::steady_clock::time_point deadline,
                                answer_fn done) {
    auto again = c;
    call(std::move(c), [this, again = std::move(again), deadline, done = std::move(done)](
                           ctl::rpc_answer a, offset_t offset) mutable {
        const bool not_controller = std::visit(
            [](const auto& x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, std::vector<topic_result>> ||
                              std::is_same_v<T, std::vector<election_result>>) {
                    // The whole call went unanswered (error_answer gives every entry the code);
                    // entries of a call that was partly made are not retried (a retry would
                    // find the made ones made and answer so).
                    return !x.empty() && x.front().error == errc::not_controller;
                } else {
                    return x.error == errc::not_controller;
                }
            },
            a);
        if (!not_controller || stopped_ ||
            std::chrono::steady_clock::now() + retry_backoff >= deadline) {
            return done(std::move(a), offset);
        }
        auto timer = std::make_shared<boost::asio::steady_timer>(io_, retry_backoff);
        timer->async_wait([this, timer, again = std::move(again), deadline,
                           done = std::move(done)](const boost::system::error_code&) mutable {
            call_until(std::move(again), deadline, std::move(done));
        });
    });
}

void cluster_member::expire_calls() {
    const auto now = std::chrono::steady_clock::now();
    for (auto it = calls_.begin(); it != calls_.end();) {
        if (now < it->second.deadline) {
            ++it;
            continue;
        }
        auto p = std::move(it->second);
        it = calls_.erase(it);
        p.done(timed_out(p.call), offset_t{-1});
    }
}

void cluster_member::on_frame(std::span<const std::byte> frame, uint64_t link) {
    const auto kind = ctl::frame_kind(frame);
    if (!kind) {
        return;
    }
    switch (*kind) {
        case ctl::controller_frame::raft: {
            if (auto d = ctl::decode_raft_frame(frame); d && d->cluster_id == cluster_id_) {
                transport_->route(d->message.from, link);
            }
            log_->receive(frame);
            return;
        }
        case ctl::controller_frame::request: {
            std::string why;
            auto r = ctl::decode_rpc_request(frame, &why);
            if (!r) {
                logging::debug("controller listener: dropped a request: {}", why);
                return;
            }
            if (r->cluster_id == cluster_id_) {
                transport_->route(r->from, link);
                serve(std::move(*r));
            }
            return;
        }
        case ctl::controller_frame::response: {
            auto r = ctl::decode_rpc_response(frame);
            if (!r || r->cluster_id != cluster_id_) {
                return;
            }
            auto it = calls_.find(r->correlation);
            if (it == calls_.end()) {
                return;  // timed out already
            }
            auto p = std::move(it->second);
            calls_.erase(it);
            if (!answers(p.call, r->answer)) {
                return p.done(ctl::error_answer(p.call, errc::unknown_server_error,
                                                "the controller answered another question"),
                              offset_t{-1});
            }
            p.done(std::move(r->answer), r->metadata_offset);
            return;
        }
        case ctl::controller_frame::other:
            return;
    }
}

void cluster_member::serve(ctl::rpc_request r) {
    auto reply = [this, from = r.from, correlation = r.correlation](ctl::rpc_answer a) {
        if (stopped_) {
            return;
        }
        transport_->send(from, ctl::encode_rpc_response({cluster_id_, correlation, std::move(a),
                                                         log_->image()->end_offset()}));
    };
    if (!controller_ || !controller_->active()) {
        const node_id_t leader = log_->node().leader();
        const std::string where = leader == raft::no_node || leader == config_.node_id
                                      ? std::string("no controller is active yet; retry")
                                      : fmt::format("the active controller is node {}", leader);
        return reply(ctl::error_answer(r.call, errc::not_controller, where));
    }
    ctl::run_call(*controller_, std::move(r.call), reply);
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

std::vector<broker_view> cluster_member::brokers() const {
    std::vector<broker_view> out;
    if (auto im = applier_.applied()) {
        for (const auto& [id, b] : im->brokers()) {
            if (b.fenced) {
                continue;
            }
            for (const auto& e : b.endpoints) {
                if (e.listener == "PLAINTEXT") {
                    out.push_back({id, e.host, e.port});
                }
            }
        }
    }
    return out;
}

std::vector<std::string> cluster_member::topic_names() const {
    std::vector<std::string> out;
    if (auto im = applier_.applied()) {
        for (const auto& [name, t] : im->topics()) {
            out.push_back(name);
        }
    }
    return out;
}

std::optional<std::vector<partition_view>> cluster_member::partitions(
    std::string_view topic) const {
    auto im = applier_.applied();
    const ctl::topic_info* t = im ? im->topic(topic) : nullptr;
    if (t == nullptr) {
        return std::nullopt;
    }
    std::vector<partition_view> out;
    for (size_t i = 0; i < t->partitions.size(); ++i) {
        const auto& p = t->partitions[i];
        out.push_back({int32_t(i), p.leader, p.leader_epoch, p.replicas, p.isr});
    }
    return out;
}

std::optional<std::vector<config_view>> cluster_member::topic_configs(
    std::string_view topic) const {
    auto im = applier_.applied();
    const ctl::topic_info* t = im ? im->topic(topic) : nullptr;
    if (t == nullptr) {
        return std::nullopt;
    }
    std::vector<config_view> out;
    for (auto& [key, value] : topic_config_values(default_topic_settings(config_))) {
        auto it = t->configs.find(key);
        if (it != t->configs.end()) {
            out.push_back({key, it->second, config_view::source::topic_override});
        } else {
            out.push_back({key, std::move(value), config_view::source::broker_default});
        }
    }
    return out;
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
            if (transport_) {
                transport_->close();
            }
            for (auto& [correlation, p] : calls_) {
                p.done(ctl::error_answer(p.call, errc::request_timed_out, "the broker is stopping"),
                       offset_t{-1});
            }
            calls_.clear();
            work_.reset();
        });
        thread_.join();
    }
    controller_.reset();
    log_.reset();
    transport_.reset();
}

awaitable<std::pair<ctl::rpc_answer, offset_t>> cluster_member::ask(ctl::rpc_call& c) {
    // The answer and the wake-up of the waiting coroutine, which runs on a strand (a
    // connection's): the timer is only touched there.
    struct state {
        std::mutex mutex;
        std::optional<std::pair<ctl::rpc_answer, offset_t>> answer;
        boost::asio::steady_timer timer;
        explicit state(const executor& ex) : timer(ex) {}
    };
    auto st = std::make_shared<state>(co_await boost::asio::this_coro::executor);
    st->timer.expires_after(admin_timeout);
    const auto deadline = std::chrono::steady_clock::now() + admin_timeout;
    boost::asio::post(io_, [this, st, c, deadline]() mutable {
        call_until(std::move(c), deadline, [st](ctl::rpc_answer a, offset_t offset) {
            {
                std::lock_guard lock(st->mutex);
                st->answer.emplace(std::move(a), offset);
            }
            // A time in the past: a wait in progress ends, and one not yet begun ends at once.
            boost::asio::post(st->timer.get_executor(), [st] {
                st->timer.expires_at(std::chrono::steady_clock::time_point::min());
            });
        });
    });
    boost::system::error_code ec;
    co_await st->timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    std::optional<std::pair<ctl::rpc_answer, offset_t>> got;
    {
        std::lock_guard lock(st->mutex);
        got = std::move(st->answer);
    }
    if (!got) {
        co_return std::pair{timed_out(c), offset_t{-1}};
    }
    co_return std::move(*got);
}

awaitable<std::vector<topic_result>> cluster_member::topic_change(ctl::rpc_call& c) {
    auto [answer, offset] = co_await ask(c);
    if (offset >= offset_t{0}) {
        // Answered once applied to the controller's image: the applier must reach it too.
        co_await applier_.wait_applied_async(offset, admin_timeout);
    }
    co_return std::get<std::vector<topic_result>>(std::move(answer));
}

awaitable<std::vector<topic_result>> cluster_member::create_topics(
    std::vector<create_topic_request>&& topics, bool validate_only) {
    ctl::rpc_call c = ctl::create_call{std::move(topics), validate_only};
    co_return co_await topic_change(c);
}

awaitable<std::vector<topic_result>> cluster_member::delete_topics(
    std::vector<std::string>&& names) {
    ctl::rpc_call c = ctl::delete_call{std::move(names)};
    co_return co_await topic_change(c);
}

awaitable<std::vector<topic_result>> cluster_member::add_partitions(
    std::vector<partition_count_request>&& topics, bool validate_only) {
    ctl::rpc_call c = ctl::grow_call{std::move(topics), validate_only};
    co_return co_await topic_change(c);
}

awaitable<std::vector<topic_result>> cluster_member::alter_configs(
    std::vector<config_change_request>&& topics, bool validate_only) {
    ctl::rpc_call c = ctl::alter_call{std::move(topics), validate_only};
    co_return co_await topic_change(c);
}

awaitable<ctl::alter_partition_result> cluster_member::alter_partition(std::string topic,
                                                                       int32_t partition,
                                                                       leader_epoch_t leader_epoch,
                                                                       int32_t partition_epoch,
                                                                       std::vector<node_id_t> isr) {
    auto im = applier_.applied();
    const ctl::topic_info* t = im ? im->topic(topic) : nullptr;
    if (t == nullptr) {
        co_return ctl::alter_partition_result{
            errc::unknown_topic_or_partition,
            fmt::format("no topic {} in this broker's image", topic)};
    }
    ctl::isr_change change{config_.node_id, t->id,           partition,
                           leader_epoch,    partition_epoch, std::move(isr)};
    ctl::rpc_call c = ctl::alter_partition_request{broker_epoch_.load(), std::move(change)};
    auto got = co_await ask(c);
    co_return std::get<ctl::alter_partition_result>(std::move(got.first));
}

awaitable<producer_id_grant> cluster_member::init_producer_id() {
    // A few rounds: callers at the same time may use up the block another one asked for.
    for (int round = 0; round < 3; ++round) {
        if (auto id = producer_ids_.take()) {
            co_return producer_id_grant{errc::none, {}, *id, producer_epoch_t{0}};
        }
        ctl::rpc_call c = ctl::producer_ids_request{config_.node_id, broker_epoch_.load()};
        auto got = co_await ask(c);
        auto a = std::get<ctl::producer_ids_result>(std::move(got.first));
        if (a.error != errc::none) {
            co_return producer_id_grant{
                errc::coordinator_load_in_progress,
                fmt::format("no producer id from the controller yet ({}: {}); retry",
                            errc_name(a.error), a.message)};
        }
        producer_ids_.add(a.first, a.count);
    }
    co_return producer_id_grant{errc::coordinator_load_in_progress,
                                "producer ids are asked for faster than the controller hands "
                                "them out; retry"};
}

awaitable<std::vector<election_result>> cluster_member::elect_leaders(
    std::vector<std::string>&& topics) {
    ctl::rpc_call c = ctl::elect_call{std::move(topics)};
    auto [answer, offset] = co_await ask(c);
    if (offset >= offset_t{0}) {
        // Answered once applied to the controller's image: the applier must reach it too.
        co_await applier_.wait_applied_async(offset, admin_timeout);
    }
    co_return std::get<std::vector<election_result>>(std::move(answer));
}

awaitable<quorum_status> cluster_member::describe_quorum() {
    ctl::rpc_call c = ctl::quorum_call{};
    auto got = co_await ask(c);
    co_return std::get<quorum_status>(std::move(got.first));
}

}  // namespace sluice::broker
