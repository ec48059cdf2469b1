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
#include <map>
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
#include "sluice/controller/controller_rpc.h"
#include "sluice/controller/metadata_log.h"
#include "sluice/controller/quorum_bootstrap.h"
#include "sluice/controller/quorum_controller.h"
#include "sluice/controller/raft_codec.h"
#include "sluice/controller/raft_transport.h"
#include "sluice/core/cluster_view.h"
#include "sluice/core/producer_id_blocks.h"
#include "sluice/core/topic_admin.h"

namespace sluice::broker {

// The metadata log's directory inside log.dirs.
inline constexpr std::string_view metadata_dir_name = "__cluster_metadata-0";

class cluster_member final : public topic_admin, public cluster_view {
  public:
    cluster_member(const broker_config& config, storage::file_system& fs, image_applier& applier);
    ~cluster_member() override;
    cluster_member(const cluster_member&) = delete;
    cluster_member& operator=(const cluster_member&) = delete;

    // Opens the metadata log, binds the controller listener (on a controller of a quorum of
    // several) and starts the controller thread. The error, or a non-empty problem: the node
    // must not start, and the string says why.
    result<std::string> start(const std::string& cluster_id);

    // The controller listener's port (after start; 0 if there is none).
    uint16_t controller_port() const { return controller_port_; }

    // Begins the broker's life in the cluster: registration with `endpoints` (saying whether
    // the last stop was clean), adoption of `legacy` topics (by a controller of this process),
    // heartbeats.
    void join(std::vector<controller::endpoint> endpoints,
              std::vector<controller::imported_topic> legacy, bool clean_shutdown);

    // Blocks until the applied image shows this broker registered and unfenced, or `timeout`
    // passed, or stop() was called (false).
    bool wait_ready(std::chrono::milliseconds timeout);
    // Any thread: the member stopped, or its metadata log did (a disk that fails, a snapshot
    // that does not load): it will never be ready.
    bool halted() const { return stopped_ || halted_; }

    // topic_admin: to the active controller, here or over the controller listener; each answer
    // comes once the change is applied here too (so a request that follows on this broker sees
    // it).
    awaitable<std::vector<topic_result>> create_topics(std::vector<create_topic_request>&& topics,
                                                       bool validate_only) override;
    awaitable<std::vector<topic_result>> delete_topics(std::vector<std::string>&& names) override;
    awaitable<std::vector<topic_result>> add_partitions(
        std::vector<partition_count_request>&& topics, bool validate_only) override;
    awaitable<std::vector<topic_result>> alter_configs(std::vector<config_change_request>&& topics,
                                                       bool validate_only) override;
    // The active controller's view of the quorum (not waiting for anything to be applied).
    awaitable<quorum_status> describe_quorum() override;
    awaitable<std::vector<election_result>> elect_leaders(
        std::vector<std::string>&& topics) override;
    // From the blocks the active controller allocated to this broker; a new block is asked for
    // when they are used up.
    awaitable<producer_id_grant> init_producer_id() override;
    // A partition this broker leads changes its ISR (AlterPartition): to the active controller,
    // with this broker's epoch and the topic's id in the applied image.
    awaitable<controller::alter_partition_result> alter_partition(std::string topic,
                                                                  int32_t partition,
                                                                  leader_epoch_t leader_epoch,
                                                                  int32_t partition_epoch,
                                                                  std::vector<node_id_t> isr);

    // cluster_view: from the image applied here, and the quorum's leader.
    std::vector<broker_view> brokers() const override;
    node_id_t controller() const override { return node_id_t{leader_.load()}; }
    std::vector<std::string> topic_names() const override;
    std::optional<std::vector<partition_view>> partitions(std::string_view topic) const override;
    std::optional<std::vector<config_view>> topic_configs(std::string_view topic) const override;

    // Whether other brokers are registered (a controlled shutdown has somewhere to move
    // leadership to).
    bool has_peers() const;
    // Asks to be fenced, leadership moved away first, and waits for it, at most `timeout`.
    bool controlled_shutdown(std::chrono::milliseconds timeout);
    // Stops heartbeats, the metadata log, the transport and the controller thread.
    void stop();

  private:
    result<controller::quorum_bootstrap_load> voter_directories(
        const std::vector<node_id_t>& voters);
    using answer_fn = std::function<void(controller::rpc_answer, offset_t)>;
    struct pending_call {
        answer_fn done;
        node_id_t to;
        controller::rpc_call call;  // for the answer when it times out
        std::chrono::steady_clock::time_point deadline;
    };

    // On the controller thread.
    void tick();
    void arm(std::chrono::milliseconds after);
    void try_register();
    void try_import();
    void send_heartbeat();
    // The active controller's answer to `call`, from this process's controller or over the
    // network; `done` gets it with the metadata offset it is applied below (-1: unknown).
    void call(controller::rpc_call c, answer_fn done);
    // call(), asked again while the answer is NOT_CONTROLLER (an election, a controller that
    // went away) until `deadline`.
    void call_until(controller::rpc_call c, std::chrono::steady_clock::time_point deadline,
                    answer_fn done);
    // Calls sent to `to` get NOT_CONTROLLER now: it went away, or no longer leads.
    // `connection`: its connection failed (else: it no longer leads).
    void fail_calls_to(node_id_t to, const std::string& why, bool connection);
    void on_frame(std::span<const std::byte> frame, uint64_t link);
    void serve(controller::rpc_request r);
    void expire_calls();
    // Logs `line` unless it is the last warning again, within a few seconds.
    void warn_now_and_then(std::string line);

    // The active controller's answer to `c` (call_until, bounded by the admin timeout) and the
    // metadata offset it is applied below. By reference: a named local of the caller, never a
    // temporary of its co_await.
    awaitable<std::pair<controller::rpc_answer, offset_t>> ask(controller::rpc_call& c);
    // ask(), then waits until the image applied here has the change.
    awaitable<std::vector<topic_result>> topic_change(controller::rpc_call& c);

    const broker_config& config_;
    storage::file_system& fs_;
    image_applier& applier_;
    const controller::uuid incarnation_ = controller::uuid::random();
    std::string cluster_id_;

    boost::asio::io_context io_{1};
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
    std::thread thread_;
    std::unique_ptr<controller::raft_transport> transport_;  // null in a quorum of one
    std::unique_ptr<controller::metadata_log> log_;
    std::unique_ptr<controller::quorum_controller> controller_;
    boost::asio::steady_timer timer_{io_};
    uint16_t controller_port_ = 0;

    // Calls sent to a controller elsewhere, by correlation id (controller thread).
    std::map<int32_t, pending_call> calls_;
    int32_t next_correlation_ = 1;

    // The broker's registration (controller thread).
    std::vector<controller::endpoint> endpoints_;
    bool clean_shutdown_ = false;  // the last stop left the clean-shutdown marker
    std::vector<controller::imported_topic> legacy_;
    bool joined_ = false;
    bool call_out_ = false;  // a registration, import or heartbeat awaits its answer
    int64_t epoch_ = -1;     // -1: not registered
    std::atomic<int64_t> broker_epoch_{-1};  // epoch_, for other threads
    producer_id_blocks producer_ids_;        // any thread
    bool imported_ = false;
    std::atomic<bool> shutting_down_{false};
    std::atomic<bool> shutdown_ready_{false};
    std::atomic<bool> stopped_{false};
    std::atomic<int32_t> leader_{-1};
    std::atomic<bool> halted_{false};  // the metadata log stopped following
    std::chrono::steady_clock::time_point last_heartbeat_{};
    std::chrono::steady_clock::time_point retry_at_{};
    std::string last_warning_;
    std::chrono::steady_clock::time_point last_warning_at_{};
};

}  // namespace sluice::broker
