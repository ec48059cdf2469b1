// This node's part in the cluster (docs/controller.md): the controller thread, which runs the
// metadata log (and, on a controller, the active controller), and the broker's life in the
// cluster: it registers with its endpoints, adopts topics found on its disk from before the
// metadata log, heartbeats, and asks for a controlled shutdown when it stops. Every metadata
// image the log commits goes to the image applier. Topic administration (topic_admin) goes to
// the active controller.
//
// Threads: the controller thread owns the metadata log, the active controller and the broker's
// registration state; the broker's coroutines reach it by posting and get their answer back on
// their own strand. The metadata log blocks that thread while it fsyncs, never a network thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "image_applier.h"
#include "sluice/broker/config.h"
#include "sluice/controller/metadata_log.h"
#include "sluice/controller/quorum_controller.h"
#include "sluice/core/topic_admin.h"

namespace sluice::broker {

// The metadata log's directory inside log.dirs.
inline constexpr std::string_view metadata_dir_name = "__cluster_metadata-0";

class cluster_member final : public topic_admin {
  public:
    cluster_member(const broker_config& config, storage::file_system& fs, image_applier& applier);
    ~cluster_member() override;
    cluster_member(const cluster_member&) = delete;
    cluster_member& operator=(const cluster_member&) = delete;

    // Opens the metadata log and starts the controller thread. The error, or a non-empty
    // problem: the node must not start, and the string says why.
    result<std::string> start(const std::string& cluster_id);

    // Begins the broker's life in the cluster: registration with `endpoints`, adoption of
    // `legacy` topics, heartbeats.
    void join(std::vector<controller::endpoint> endpoints,
              std::vector<controller::imported_topic> legacy);

    // Blocks until the applied image shows this broker registered and unfenced, or `timeout`
    // passed, or stop() was called (false).
    bool wait_ready(std::chrono::milliseconds timeout);

    // topic_admin: to the active controller; each answer comes once the change is applied
    // here too (so a request that follows on this broker sees it).
    awaitable<std::vector<topic_result>> create_topics(std::vector<create_topic_request>&& topics,
                                                       bool validate_only) override;
    awaitable<std::vector<topic_result>> delete_topics(std::vector<std::string>&& names) override;

    // Whether other brokers are registered (a controlled shutdown has somewhere to move
    // leadership to).
    bool has_peers() const;
    // Asks to be fenced, leadership moved away first, and waits for it, at most `timeout`.
    bool controlled_shutdown(std::chrono::milliseconds timeout);
    // Stops heartbeats, the metadata log and the controller thread.
    void stop();

  private:
    // On the controller thread.
    void tick();
    void arm(std::chrono::milliseconds after);
    void try_register();
    void try_import();
    void send_heartbeat();
    using topic_done = std::function<void(std::vector<topic_result>)>;
    using topic_action = std::function<void(controller::quorum_controller&, topic_done)>;
    // Runs `act` with the active controller (NOT_CONTROLLER for each name if there is none),
    // then waits until the image applied here has the change. By reference: named locals of
    // the caller, never temporaries of its co_await.
    awaitable<std::vector<topic_result>> topic_change(std::vector<std::string>& names,
                                                      topic_action& act);
    // Logs `line` unless it is the last warning again, within a few seconds.
    void warn_now_and_then(std::string line);

    // Runs `start` on the controller thread with the local active controller (null if this
    // node has none active) and hands its answer back to the calling coroutine's strand;
    // `late` if no answer came within `timeout`.
    // (Both by reference: a named local of the caller, never a temporary of its co_await.)
    template <typename R>
    awaitable<R> on_controller(
        std::function<void(controller::quorum_controller*, std::function<void(R)>)>& start,
        R& late);

    const broker_config& config_;
    storage::file_system& fs_;
    image_applier& applier_;
    const controller::uuid incarnation_ = controller::uuid::random();

    boost::asio::io_context io_{1};
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
    std::thread thread_;
    std::unique_ptr<controller::metadata_log> log_;
    std::unique_ptr<controller::quorum_controller> controller_;
    boost::asio::steady_timer timer_{io_};

    // The broker's registration (controller thread).
    std::vector<controller::endpoint> endpoints_;
    std::vector<controller::imported_topic> legacy_;
    bool joined_ = false;
    bool call_out_ = false;  // a registration, import or heartbeat awaits its answer
    int64_t epoch_ = -1;     // -1: not registered
    bool imported_ = false;
    std::atomic<bool> shutting_down_{false};
    std::atomic<bool> shutdown_ready_{false};
    std::atomic<bool> stopped_{false};
    std::chrono::steady_clock::time_point last_heartbeat_{};
    std::string last_warning_;
    std::chrono::steady_clock::time_point last_warning_at_{};
};

}  // namespace sluice::broker
