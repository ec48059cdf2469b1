// The server: start-up (data directory, topics, listener), the accept loop, the retention and
// flush timers, and the graceful stop.
#include "sluice/broker/server.h"

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include "clean_shutdown.h"
#include "cluster_member.h"
#include "image_applier.h"
#include "log_cleaner.h"
#include "metadata_store.h"
#include "sluice/broker/command_line.h"
#include "sluice/core/leader_epochs.h"
#include "sluice/core/logging.h"
#include "sluice/core/partition_identity.h"
#include "sluice/core/replica_manager.h"
#include "sluice/group/coordinator.h"
#include "sluice/net/connection.h"
#include "sluice/net/native_codec.h"
#include "sluice/protocol/errc.h"
#include "sluice/replication/fetcher_manager.h"
#include "sluice/replication/isr_manager.h"

namespace sluice::broker {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

// After "stopped", how long run() waits for the last handlers before it stops the io_context.
constexpr auto teardown_wait = std::chrono::seconds(5);
// How often a stop checks whether every connection has finished.
constexpr auto drain_poll = std::chrono::milliseconds(10);
// Pause after accept() fails for lack of file descriptors, so the loop does not spin.
constexpr auto accept_backoff = std::chrono::milliseconds(100);
// The longest a stop waits for its controlled shutdown.
constexpr auto controlled_shutdown_max = std::chrono::milliseconds(5000);
// While a start waits for the controller quorum, it says so this often.
constexpr auto ready_report_interval = std::chrono::seconds(10);

std::error_code start_failure(std::string_view what) {
    logging::error("cannot start: {}", what);
    return make_error_code(errc::unknown_server_error);
}

// Raises the soft limit on open files to the hard one (the broker's files and sockets are
// bounded by its own limits, not by a shell's default of 1024) and warns if even that cannot hold
// what the configured limits allow.
void raise_file_limit(const broker_config& c) {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
        return;
    }
    if (lim.rlim_cur < lim.rlim_max) {
        rlimit raised = lim;
        raised.rlim_cur = lim.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            lim = raised;
        }
    }
    const uint64_t need = 2 * uint64_t(c.max_partitions) + uint64_t(c.log_open_files_max) +
                          uint64_t(c.max_connections) + 64;
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < need) {
        logging::warn(
            "the open-file limit is {} but max.partitions, log.open.files.max and "
            "max.connections allow {}: raise it (ulimit -n, LimitNOFILE=) or lower them",
            uint64_t(lim.rlim_cur), need);
    }
}

// A partition leader's ISR change, to the active controller (a plain function: a coroutine
// lambda's captures would die with the lambda).
awaitable<replication::isr_answer> send_isr_change(cluster_member* member,
                                                   replication::isr_request r) {
    auto a = co_await member->alter_partition(r.topic, r.partition, r.leader_epoch,
                                              r.proposal.partition_epoch, r.proposal.isr);
    co_return replication::isr_answer{a.error, a.message};
}

replication::fetcher_config fetcher_config_of(const broker_config& c) {
    replication::fetcher_config f;
    f.self = c.node_id;
    f.client_id = fmt::format("sluice-broker-{}", c.node_id);
    f.max_wait_ms = c.replica_fetch_wait_max_ms;
    f.min_bytes = c.replica_fetch_min_bytes;
    f.partition_max_bytes = c.replica_fetch_max_bytes;
    f.response_max_bytes = c.replica_fetch_response_max_bytes;
    f.backoff = std::chrono::milliseconds(c.replica_fetch_backoff_ms);
    f.request_timeout = std::chrono::milliseconds(c.replica_socket_timeout_ms);
    return f;
}

replica_manager_config replica_config_of(const broker_config& c, const server_options& o,
                                         storage::file_cache& files, executor background) {
    replica_manager_config r;
    r.files = &files;
    r.log_dir = c.log_dir;
    r.fetch_max_bytes = size_t(c.fetch_max_bytes);
    r.fs = o.fs;
    r.time = o.time;
    r.background = background;
    r.producer_id_expiration = std::chrono::milliseconds(c.producer_id_expiration_ms);
    return r;
}

group_coordinator_config group_config_of(const broker_config& c) {
    group_coordinator_config g;
    g.offsets_partitions = c.offsets_topic_num_partitions;
    g.offsets_replication = c.offsets_topic_replication_factor;
    g.offsets_segment_bytes = c.offsets_topic_segment_bytes;
    g.offsets_retention_ms = c.offsets_retention_minutes * 60000;
    g.retention_check_ms = c.offsets_retention_check_interval_ms;
    g.commit_timeout_ms = c.offsets_commit_timeout_ms;
    g.limits.min_session_timeout_ms = c.group_min_session_timeout_ms;
    g.limits.max_session_timeout_ms = c.group_max_session_timeout_ms;
    g.limits.initial_rebalance_delay_ms = c.group_initial_rebalance_delay_ms;
    g.limits.max_size = c.group_max_size;
    return g;
}

net_config net_config_of(const broker_config& c) {
    net_config n;
    n.node_id = c.node_id;
    n.frame_bytes_max = size_t(c.socket_request_max_bytes);
    n.queued_requests_max = size_t(c.queued_max_requests_per_connection);
    n.queued_request_bytes_max = size_t(c.queued_max_request_bytes_per_connection);
    n.broker_queued_bytes_max = size_t(c.queued_max_request_bytes);
    n.idle_ms = c.connections_max_idle_ms;
    n.auto_create_topics = c.auto_create_topics_enable;
    n.fetch_sendfile = c.fetch_sendfile;
    return n;
}

// The blocking pool's threads start with SIGPIPE blocked: sendfile(2) takes no MSG_NOSIGNAL, so a
// peer that goes away mid-send would otherwise raise a signal that kills a process which has not
// ignored it (an embedding program; sluice-broker's main ignores it). Blocked, the call just
// fails with EPIPE.
std::unique_ptr<asio::thread_pool> make_blocking_pool(int32_t threads) {
    sigset_t pipe;
    sigset_t saved;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &saved);
    auto pool = std::make_unique<asio::thread_pool>(size_t(threads));
    pthread_sigmask(SIG_SETMASK, &saved, nullptr);
    return pool;
}

// The topics in log.dirs to adopt into the metadata log, with the leader epoch each partition's
// log is at: those from before the metadata log (their topic.checkpoint records) and, when the
// metadata log is new (`fresh`: lost, or never there), the partition directories that name
// their topic's id, so that losing the metadata directory of a single broker loses no topic.
result<std::vector<controller::imported_topic>> topics_to_adopt(storage::file_system& fs,
                                                                const std::filesystem::path& dir,
                                                                bool fresh) {
    SLUICE_TRY(auto scan, scan_log_dir(fs, dir));
    std::vector<controller::imported_topic> out;
    auto epochs_of = [&](const std::string& topic,
                         int32_t count) -> result<std::vector<leader_epoch_t>> {
        std::vector<leader_epoch_t> epochs;
        for (int32_t p = 0; p < count; ++p) {
            SLUICE_TRY(auto e, read_leader_epochs(fs, partition_dir(dir, topic, p)));
            epochs.push_back(e.empty() ? leader_epoch_t{0} : e.back().epoch);
        }
        return epochs;
    };
    for (const auto& rec : scan.topics) {
        controller::imported_topic t{rec.name, {}, {}, rec.configs};
        for (int i = 0; i < 8; ++i) {
            t.id.hi = (t.id.hi << 8) | rec.id[size_t(i)];
            t.id.lo = (t.id.lo << 8) | rec.id[size_t(i) + 8];
        }
        if (t.id.is_zero()) {
            t.id = controller::uuid::random();
        }
        SLUICE_TRY(t.epochs, epochs_of(rec.name, rec.partitions));
        out.push_back(std::move(t));
    }
    if (!fresh) {
        return out;
    }
    // Directories "<topic>-<p>" with an id, grouped by topic; adopted if the partitions are
    // 0..n-1 and agree on the id. Their config overrides were in the lost log: defaults.
    std::map<std::string, std::map<int32_t, std::optional<std::string>>> found;
    for (const auto& d : scan.orphans) {
        if (auto named = parse_partition_dir(d.filename().string())) {
            SLUICE_TRY(auto id, read_partition_topic_id(fs, d));
            found[named->first][named->second] = id;
        }
    }
    for (const auto& [name, parts] : found) {
        const auto& first = parts.begin()->second;
        const bool whole = parts.rbegin()->first == int32_t(parts.size()) - 1 && first &&
                           first->size() == 32 &&
                           first->find_first_not_of("0123456789abcdef") == std::string::npos &&
                           std::all_of(parts.begin(), parts.end(),
                                       [&](const auto& p) { return p.second == first; });
        if (!whole) {
            continue;  // not one whole topic: left as strays
        }
        controller::imported_topic t{name, {}, {}, {}};
        t.id.hi = std::stoull(first->substr(0, 16), nullptr, 16);
        t.id.lo = std::stoull(first->substr(16), nullptr, 16);
        SLUICE_TRY(t.epochs, epochs_of(name, int32_t(parts.size())));
        logging::warn(
            "topic {}: adopting its {} partitions from {} into the new metadata log, "
            "with the broker's default configs",
            name, parts.size(), dir.string());
        out.push_back(std::move(t));
    }
    return out;
}

std::string host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') {
        return "localhost";
    }
    return buf;
}

}  // namespace

struct server::impl {
    impl(broker_config c, server_options o)
        : config(std::move(c)),
          options(std::move(o)),
          io(std::make_unique<asio::io_context>(config.num_io_threads)),
          blocking(make_blocking_pool(config.background_threads)),
          flusher(std::make_unique<storage::flusher>()),
          strand(asio::make_strand(*io)),
          acceptor(strand),
          retention_timer(strand),
          flush_timer(strand),
          drain_timer(strand),
          signals(strand) {}

    ~impl() {
        if (forced) {
            // Handlers were left in the io_context; destroying it would run their destructors
            // against the members below. The process is exiting: leave it.
            (void)io.release();
            (void)blocking.release();
        }
        if (!threads.empty()) {
            // Started but never run: stop what start() began.
            member->stop();
            fetchers->stop();
            work.reset();
            io->stop();
            for (auto& t : threads) {
                t.join();
            }
        }
        if (lock_fd >= 0) {
            ::close(lock_fd);
        }
    }

    result<void> start();
    result<void> start_controller_only(const std::filesystem::path& log_dir);
    // Starts the io threads and the cluster member (the controller thread); undone on failure.
    result<void> start_cluster(const std::filesystem::path& log_dir);
    // SIGTERM and SIGINT stop the server, if options.handle_signals.
    void watch_signals();
    // Undoes a start that failed after the threads began.
    std::error_code abort_start(std::error_code e);
    awaitable<void> accept_loop();
    awaitable<void> timer_loop(asio::steady_timer& timer, int64_t interval_ms, bool retention);
    awaitable<void> shutdown();
    void stop();
    void run();

    broker_config config;
    server_options options;
    // Declared first so that it is destroyed last: strands, timers and sockets below belong to it.
    std::unique_ptr<asio::io_context> io;
    // The blocking pool (background.threads); destroyed (joined) before the io_context, whose
    // strands its tasks resume on.
    std::unique_ptr<asio::thread_pool> blocking;
    std::unique_ptr<storage::flusher> flusher;
    std::unique_ptr<storage::file_cache> files;  // made by start()
    // Made by start(), once log.dirs is known as an absolute path.
    std::unique_ptr<replica_manager> replicas;
    // Stopped (joined) while the io threads still run: its work hops to partitions' strands.
    std::unique_ptr<replication::fetcher_manager> fetchers;
    std::unique_ptr<image_applier> applier;
    // log.cleaner.enable: compacts cleanup.policy=compact topics; stopped before the partitions
    // close.
    std::unique_ptr<log_cleaner> cleaner;
    std::unique_ptr<cluster_member> member;
    // Consumer groups; stopped (parked requests answered) before connections drain.
    std::unique_ptr<group_coordinator> groups;
    std::shared_ptr<replication::isr_manager> isr;  // started once the broker is ready
    std::unique_ptr<broker_context> ctx;
    std::vector<std::thread> threads;  // the io_context's, started by start()
    native_codec codec;
    connection_list connections;
    executor strand;  // the accept loop, the timers and the stop run here
    asio::ip::tcp::acceptor acceptor;
    asio::steady_timer retention_timer;
    asio::steady_timer flush_timer;
    asio::steady_timer drain_timer;
    asio::signal_set signals;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    int lock_fd = -1;
    uint16_t port = 0;
    bool stopping = false;  // on `strand`

    // run() and the end of shutdown() meet here.
    std::mutex mutex;
    std::condition_variable changed;
    bool stopped = false;
    bool io_done = false;
    bool forced = false;
};

result<void> server::impl::start() {
    logging::set_level(config.level);
    auto& fs = *options.fs;
    std::error_code fs_ec;
    auto log_dir = std::filesystem::absolute(config.log_dir, fs_ec);
    if (fs_ec) {
        return start_failure(
            fmt::format("log.dirs={}: {}", config.log_dir.string(), fs_ec.message()));
    }
    config.log_dir = log_dir;
    raise_file_limit(config);
    files = std::make_unique<storage::file_cache>(size_t(config.log_open_files_max));
    replicas = std::make_unique<replica_manager>(
        *io, replica_config_of(config, options, *files, blocking->get_executor()), *flusher);
    fetchers = std::make_unique<replication::fetcher_manager>(fetcher_config_of(config));
    applier = std::make_unique<image_applier>(*io, config, *replicas, blocking->get_executor(),
                                              fetchers.get());
    member = std::make_unique<cluster_member>(config, fs, *applier);
    ctx = std::make_unique<broker_context>(net_config_of(config), *replicas, *member,
                                           blocking->get_executor());
    ctx->cluster = member.get();
    if (config.broker_role) {
        groups = std::make_unique<group_coordinator>(*io, group_config_of(config), *replicas,
                                                     *member, *member, blocking->get_executor());
        ctx->groups = groups.get();
    }
    if (auto r = fs.create_directories(log_dir); !r) {
        return start_failure(fmt::format("log.dirs={}: cannot create it: {}", log_dir.string(),
                                         r.error().message()));
    }
    auto lock_path = log_dir / lock_file;
    lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0) {
        return start_failure(fmt::format("log.dirs={}: cannot open {}: {}", log_dir.string(),
                                         lock_path.string(), errno_code().message()));
    }
    if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        return start_failure(fmt::format("log.dirs={} is in use by another broker (it holds {})",
                                         log_dir.string(), lock_path.string()));
    }
    auto meta = load_broker_meta(fs, log_dir, config.node_id, config.cluster_id);
    if (!meta) {
        return start_failure(
            fmt::format("log.dirs={}: {}", log_dir.string(), meta.error().message()));
    }
    if (!meta.value().problem.empty()) {
        return start_failure(meta.value().problem);
    }
    ctx->cluster_id = meta.value().cluster_id;
    auto had_metadata = fs.exists(log_dir / metadata_dir_name);
    if (!had_metadata) {
        return start_failure(
            fmt::format("log.dirs={}: {}", log_dir.string(), had_metadata.error().message()));
    }
    auto legacy = topics_to_adopt(fs, log_dir, !had_metadata.value());
    if (!legacy) {
        return start_failure(fmt::format("log.dirs={}: reading topics: {}", log_dir.string(),
                                         legacy.error().message()));
    }

    if (!config.broker_role) {
        return start_controller_only(log_dir);
    }
    auto clean = take_clean_shutdown_marker(fs, log_dir);
    if (!clean) {
        return start_failure(fmt::format("log.dirs={}: reading the clean-shutdown marker: {}",
                                         log_dir.string(), clean.error().message()));
    }
    if (!clean.value()) {
        logging::info(
            "log.dirs={}: no clean-shutdown marker (a first start, or the last stop "
            "was a crash): this broker leaves the ISRs where others stay, and rejoins "
            "them once caught up",
            log_dir.string());
    }

    // The listener.
    error_code ec;
    asio::ip::tcp::endpoint ep;
    const auto& l = config.listen;
    if (l.host.empty()) {
        ep = asio::ip::tcp::endpoint(asio::ip::tcp::v4(), l.port);
    } else if (auto addr = asio::ip::make_address(l.host, ec); !ec) {
        ep = asio::ip::tcp::endpoint(addr, l.port);
    } else {
        asio::ip::tcp::resolver resolver(*io);
        auto found = resolver.resolve(l.host, std::to_string(l.port), ec);
        if (ec || found.empty()) {
            return start_failure(fmt::format("listeners={}: cannot resolve {}: {}", l.to_string(),
                                             l.host,
                                             ec ? ec.message() : std::string("no address")));
        }
        ep = found.begin()->endpoint();
    }
    acceptor.open(ep.protocol(), ec);
    if (!ec) {
        acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    }
    if (!ec) {
        acceptor.bind(ep, ec);
    }
    if (!ec) {
        acceptor.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        return start_failure(fmt::format("listeners={}: {}", l.to_string(), ec.message()));
    }
    port = acceptor.local_endpoint().port();
    listener bound = l;
    bound.port = port;
    if (config.advertised) {
        ctx->advertised_host = config.advertised->host;
        ctx->advertised_port = config.advertised->port == 0 ? port : config.advertised->port;
    } else {
        bool wildcard = l.host.empty() || l.host == "0.0.0.0" || l.host == "::";
        ctx->advertised_host = wildcard ? host_name() : l.host;
        ctx->advertised_port = port;
    }

    // The cluster: the metadata log replays, this broker registers and is unfenced, and the
    // image's partitions open (on the io threads and the blocking pool) before any client is
    // accepted.
    if (auto r = start_cluster(log_dir); !r) {
        return r.error();
    }
    member->join({{"PLAINTEXT", ctx->advertised_host, ctx->advertised_port}},
                 std::move(legacy).value(), clean.value());
    // As long as it takes (recovering many partitions, a quorum whose majority is not up yet):
    // saying so now and then.
    while (!member->wait_ready(ready_report_interval)) {
        if (member->halted()) {
            return abort_start(
                start_failure("the metadata log stopped before this broker was "
                              "ready (the line above says why)"));
        }
        logging::info(
            "waiting for the controller quorum to register and unfence node.id={} "
            "and for its partitions to open",
            config.node_id);
    }
    {
        std::promise<void> swept;
        // A new metadata log knows only the topics adopted above: what else is on disk is kept.
        asio::co_spawn(applier->strand(), applier->remove_strays(!had_metadata.value()),
                       [&swept](std::exception_ptr) { swept.set_value(); });
        swept.get_future().wait();
    }

    {
        const auto lag = std::chrono::milliseconds(config.replica_lag_time_max_ms);
        const auto every =
            std::clamp(lag / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(500));
        isr = std::make_shared<replication::isr_manager>(
            asio::make_strand(*io), *replicas,
            [m = member.get()](replication::isr_request r) {
                return send_isr_change(m, std::move(r));
            },
            lag, every);
        isr->start();
    }
    if (config.log_cleaner_enable) {
        cleaner = std::make_unique<log_cleaner>(
            *replicas, log_cleaner::options{config.log_cleaner_backoff_ms,
                                            size_t(config.log_cleaner_dedupe_buffer_size),
                                            config.log_cleaner_io_max_bytes_per_second});
        cleaner->start();
    }
    if (groups) {
        groups->start();
    }
    asio::co_spawn(strand, accept_loop(), asio::detached);
    asio::co_spawn(strand,
                   timer_loop(retention_timer, config.log_retention_check_interval_ms, true),
                   asio::detached);
    if (config.log_flush_interval_ms) {
        asio::co_spawn(strand, timer_loop(flush_timer, *config.log_flush_interval_ms, false),
                       asio::detached);
    }
    watch_signals();
    logging::write(log_level::info,
                   fmt::format("sluice-broker {} started: node.id={} listeners={} log.dirs={} "
                               "config={}",
                               broker_version(), config.node_id, bound.to_string(),
                               log_dir.string(), options.config_source));
    return success();
}

awaitable<void> server::impl::accept_loop() {
    for (;;) {
        error_code ec;
        executor conn_strand = asio::make_strand(*io);
        auto socket = co_await acceptor.async_accept(conn_strand,
                                                     asio::redirect_error(asio::use_awaitable, ec));
        if (stopping || ec == asio::error::operation_aborted) {
            break;
        }
        if (ec) {
            logging::warn("accepting a connection: {}", ec.message());
            co_await wait_timer(drain_timer, steady_clock::now() + accept_backoff);
            continue;
        }
        auto remote = socket.remote_endpoint(ec);
        std::string peer = ec ? std::string("unknown peer")
                              : fmt::format("{}:{}", remote.address().to_string(), remote.port());
        if (ctx->connections.load(std::memory_order_acquire) >= config.max_connections) {
            logging::warn("refusing connection from {}: max.connections ({}) reached", peer,
                          config.max_connections);
            socket.close(ec);
            continue;
        }
        ctx->connections.fetch_add(1, std::memory_order_relaxed);
        logging::debug("connection from {}", peer);
        std::make_shared<connection>(*ctx, codec, connections, std::move(socket), std::move(peer))
            ->start();
    }
}

awaitable<void> server::impl::timer_loop(asio::steady_timer& timer, int64_t interval_ms,
                                         bool retention) {
    const auto interval = std::chrono::milliseconds(interval_ms);
    while (!stopping) {
        co_await wait_timer(timer, steady_clock::now() + interval);
        if (stopping) {
            break;
        }
        auto image = replicas->snapshot();
        for (const auto& [name, parts] : image->topics) {
            for (const auto& p : parts) {
                if (!p) {
                    continue;
                }
                if (retention) {
                    asio::post(p->strand(), [p] { p->apply_retention(); });
                } else {
                    asio::post(p->strand(), [p] { p->flush(); });
                }
            }
        }
    }
}

void server::impl::stop() {
    asio::post(strand, [this] {
        if (stopping) {
            return;
        }
        stopping = true;
        asio::co_spawn(strand, shutdown(), asio::detached);
    });
}

awaitable<void> server::impl::shutdown() {
    logging::info("stopping: no new connections; finishing the requests in flight");
    error_code ec;
    acceptor.close(ec);
    retention_timer.cancel();
    flush_timer.cancel();
    signals.cancel(ec);
    if (config.broker_role && member->has_peers()) {
        // Controlled shutdown: leadership moves to other brokers before this one goes.
        // Bounded: without a controller quorum (the last nodes of a cluster that stops) it
        // cannot finish, and the session timeout fences the broker anyway.
        const auto wait = std::min(std::chrono::milliseconds(config.broker_session_timeout_ms),
                                   controlled_shutdown_max);
        auto moved = [this, wait] { return member->controlled_shutdown(wait); };
        if (!co_await run_on(blocking->get_executor(), moved)) {
            logging::warn("controlled shutdown did not finish in {} ms; stopping anyway",
                          wait.count());
        }
    }
    if (groups) {
        groups->stop();  // parked joins and syncs get NOT_COORDINATOR, so connections drain
    }
    for (auto& c : connections.all()) {
        c->drain();
    }
    auto deadline = steady_clock::now() + std::chrono::milliseconds(options.drain_timeout_ms);
    while (connections.size() > 0 && steady_clock::now() < deadline) {
        co_await wait_timer(drain_timer, steady_clock::now() + drain_poll);
    }
    if (size_t n = connections.size(); n > 0) {
        logging::warn("closing {} connections whose requests did not finish in {} ms", n,
                      options.drain_timeout_ms);
        for (auto& c : connections.all()) {
            c->close_now();
        }
    }
    if (isr) {
        isr->stop();  // a change in flight ends with the member's stop below
    }
    applier->stop();
    co_await applier->wait_idle();  // an image being applied may still publish partitions
    auto stop_fetchers = [this] {
        fetchers->stop();
        if (cleaner) {
            cleaner->stop();
        }
    };
    co_await run_on(blocking->get_executor(), stop_fetchers);
    const bool closed_clean = co_await replicas->close_all();
    if (closed_clean && config.broker_role) {
        if (auto r = leave_clean_shutdown_marker(*options.fs, config.log_dir); !r) {
            logging::warn(
                "log.dirs={}: writing the clean-shutdown marker: {} (the next start "
                "counts this stop as a crash)",
                config.log_dir.string(), r.error().message());
        }
    }
    auto stop_member = [this] { member->stop(); };
    co_await run_on(blocking->get_executor(), stop_member);
    // Closing the partitions woke any request still waiting on them; let those connections end.
    deadline = steady_clock::now() + teardown_wait;
    while (connections.size() > 0 && steady_clock::now() < deadline) {
        co_await wait_timer(drain_timer, steady_clock::now() + drain_poll);
    }
    logging::write(log_level::info, "sluice-broker stopped");
    work.reset();
    std::lock_guard lock(mutex);
    stopped = true;
    changed.notify_all();
}

result<void> server::impl::start_cluster(const std::filesystem::path& log_dir) {
    work.emplace(io->get_executor());
    for (int i = 0; i < config.num_io_threads; ++i) {
        threads.emplace_back([this] { io->run(); });
    }
    auto started = member->start(ctx->cluster_id);
    if (!started) {
        return abort_start(start_failure(fmt::format("log.dirs={}: opening the metadata log: {}",
                                                     log_dir.string(), started.error().message())));
    }
    if (!started.value().empty()) {
        return abort_start(start_failure(started.value()));
    }
    return success();
}

result<void> server::impl::start_controller_only(const std::filesystem::path& log_dir) {
    // A controller only: the metadata log and the active controller, no client listener, no
    // partitions, no registration as a broker.
    if (auto r = start_cluster(log_dir); !r) {
        return r.error();
    }
    watch_signals();
    logging::write(
        log_level::info,
        fmt::format("sluice-broker {} started: node.id={} process.roles=controller "
                    "listeners={} log.dirs={} config={}",
                    broker_version(), config.node_id, config.controller_listen->to_string(),
                    log_dir.string(), options.config_source));
    return success();
}

void server::impl::watch_signals() {
    if (!options.handle_signals) {
        return;
    }
    signals.add(SIGINT);
    signals.add(SIGTERM);
    signals.async_wait([this](const error_code& e, int sig) {
        if (!e) {
            logging::info("received {}", sig == SIGINT ? "SIGINT" : "SIGTERM");
            stop();
        }
    });
}

std::error_code server::impl::abort_start(std::error_code e) {
    member->stop();
    applier->stop();
    fetchers->stop();
    work.reset();
    io->stop();
    for (auto& t : threads) {
        t.join();
    }
    threads.clear();
    blocking->join();  // a partition being opened there refers to what is destroyed next
    return e;
}

void server::impl::run() {
    // Once stopped, every coroutine should end and the io threads return by themselves; if one
    // does not within teardown_wait, stop the io_context anyway.
    std::thread watchdog([this] {
        std::unique_lock lock(mutex);
        changed.wait(lock, [this] { return stopped || io_done; });
        if (!changed.wait_for(lock, teardown_wait, [this] { return io_done; })) {
            logging::warn("handlers still pending {} s after the stop; stopping anyway",
                          teardown_wait.count());
            forced = true;
            io->stop();
        }
    });
    for (auto& t : threads) {
        t.join();
    }
    threads.clear();
    {
        std::lock_guard lock(mutex);
        io_done = true;
        changed.notify_all();
    }
    watchdog.join();
}

server::server(broker_config config, server_options options)
    : impl_(std::make_unique<impl>(std::move(config), std::move(options))) {}

server::~server() = default;

result<void> server::start() {
    return impl_->start();
}

uint16_t server::port() const {
    return impl_->port;
}

server_stats server::stats() const {
    const auto& ctx = *impl_->ctx;
    return {ctx.budget.used(), ctx.budget.peak(), ctx.connections.load(),
            ctx.sendfile_bytes.load(std::memory_order_relaxed),
            ctx.copied_bytes.load(std::memory_order_relaxed)};
}

void server::run() {
    impl_->run();
}

void server::stop() {
    impl_->stop();
}

}  // namespace sluice::broker
