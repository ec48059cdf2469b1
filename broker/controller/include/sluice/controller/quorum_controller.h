// The active controller (docs/controller.md, "The active controller"): while this node leads the
// metadata log, it answers brokers' registrations and heartbeats, fences brokers whose session
// expired, and turns topic requests into batches; every decision is a pure function of
// decisions.h applied to its working image (the committed image plus the batches it proposed and
// that are not yet decided), so requests need not wait for each other's commits.
//
// On a node that does not lead, every request is answered NOT_CONTROLLER, naming the leader if
// known. Everything runs on the metadata log's executor; callbacks are called there, exactly once
// per request.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "sluice/controller/decisions.h"
#include "sluice/controller/metadata_log.h"

namespace sluice::controller {

struct broker_registration {
    node_id_t id{-1};
    uuid incarnation;
    std::vector<endpoint> endpoints;
    std::string rack;
    // Its last stop was clean (plan_register): false after a crash, or when nobody can say.
    bool clean_shutdown = false;
};

struct registration_result {
    errc error = errc::none;
    std::string message;
    int64_t broker_epoch = -1;
};

struct broker_heartbeat {
    node_id_t id{-1};
    int64_t broker_epoch = -1;
    // The metadata log offset the broker has applied up to (its image's end offset).
    offset_t applied{0};
    // Controlled shutdown: move my leadership away, then fence me.
    bool want_shutdown = false;
};

struct heartbeat_result {
    errc error = errc::none;
    std::string message;
    bool fenced = true;           // as of the committed image
    bool shutdown_ready = false;  // controlled shutdown done: fenced, leading nothing movable
};

// A leader's AlterPartition, as it reaches the controller.
struct alter_partition_request {
    int64_t broker_epoch = -1;
    isr_change change;  // change.leader is the broker asking
};

struct alter_partition_result {
    errc error = errc::none;
    std::string message;
    // The partition after the change (as the controller knows it; -1 if unknown).
    leader_epoch_t leader_epoch{-1};
    int32_t partition_epoch = -1;
    std::vector<node_id_t> isr;
};

// A broker's request for a block of producer ids (Kafka's AllocateProducerIds).
struct producer_ids_request {
    node_id_t id{-1};
    int64_t broker_epoch = -1;
};

struct producer_ids_result {
    errc error = errc::none;
    std::string message;
    // [first, first + count): written to the metadata log before the answer.
    int64_t first = -1;
    int32_t count = 0;
};

class quorum_controller {
  public:
    struct options {
        topic_defaults topics;
        std::chrono::milliseconds session_timeout{9000};  // broker.session.timeout.ms
        // How often expired sessions and partitions for unclean elections are looked for.
        std::chrono::milliseconds check_interval{250};
        // Automatic leader rebalance (plan_rebalance): how often, or never; and the imbalance
        // that triggers it.
        std::optional<std::chrono::milliseconds> rebalance_interval;
        double imbalance = 0.1;
        // New topic ids and broker incarnations; uuid::random by default (tests pass their own).
        std::function<uuid()> new_id = &uuid::random;
    };
    using clock = std::chrono::steady_clock;

    quorum_controller(metadata_log& log, options opts);
    ~quorum_controller();
    quorum_controller(const quorum_controller&) = delete;
    quorum_controller& operator=(const quorum_controller&) = delete;

    // From the executor.
    void start();
    void stop();

    bool active() const { return active_; }

    void register_broker(broker_registration r, std::function<void(registration_result)> done);
    void heartbeat(broker_heartbeat h, std::function<void(heartbeat_result)> done);
    // A partition leader's ISR change (plan_isr_change), answered once it is written.
    void alter_partition(alter_partition_request r,
                         std::function<void(alter_partition_result)> done);
    // Allocates the next block of producer ids (broker::producer_id_block_size) to a
    // registered broker: a ProducerIds record, answered once written.
    void allocate_producer_ids(producer_ids_request r,
                               std::function<void(producer_ids_result)> done);
    void create_topics(std::vector<broker::create_topic_request> topics, bool validate_only,
                       std::function<void(std::vector<broker::topic_result>)> done);
    void delete_topics(std::vector<std::string> names,
                       std::function<void(std::vector<broker::topic_result>)> done);
    // One answer per topic, in order; a topic named twice is refused (INVALID_REQUEST).
    void add_partitions(std::vector<broker::partition_count_request> topics, bool validate_only,
                        std::function<void(std::vector<broker::topic_result>)> done);
    void alter_configs(std::vector<broker::config_change_request> topics, bool validate_only,
                       std::function<void(std::vector<broker::topic_result>)> done);
    // The quorum as this (leading) node sees it; NOT_CONTROLLER if it does not lead.
    broker::quorum_status describe_quorum() const;
    // Preferred leader elections (plan_preferred_elections), answered once written.
    void elect_preferred_leaders(std::vector<std::string> topics,
                                 std::function<void(std::vector<election_result>)> done);

    // Adopts topics found on broker `id`'s disk from before the metadata log (plan_import).
    void import_topics(node_id_t id, std::vector<imported_topic> topics,
                       std::function<void(broker::topic_result)> done);

    // The working image (committed plus undecided proposals of this controller).
    const metadata_image& working() const { return working_; }

  private:
    struct in_flight {
        uint64_t id;
        std::vector<metadata_record> records;
    };

    // Proposes `records` (one batch); `done` gets the outcome. The working image includes them
    // until they are decided.
    void propose(std::vector<metadata_record> records, std::function<void(proposal_result)> done);
    void rebuild_working();
    void on_leadership(const raft::leadership& l);
    void check_sessions();
    // Unclean elections the image allows, and the automatic rebalance when it is due.
    void check_elections();
    void arm();
    // Proposes each plan that has records; `done` gets every plan's answer once all are decided.
    void propose_all(std::vector<planned_batch> plans,
                     std::function<void(std::vector<broker::topic_result>)> done);
    // The NOT_CONTROLLER message naming the leader, if known; that answer for each name.
    std::string not_controller() const;
    std::vector<broker::topic_result> not_controller(std::vector<std::string> names) const;

    metadata_log& log_;
    options opts_;
    boost::asio::steady_timer timer_;
    bool running_ = false;
    bool active_ = false;
    raft::leadership leadership_;
    metadata_image working_;
    std::vector<in_flight> in_flight_;
    uint64_t next_flight_ = 0;
    // When each broker last registered or heartbeat with this controller.
    std::map<node_id_t, clock::time_point> last_heartbeat_;
    // When this controller became active: no broker is fenced before a full session passed
    // under it.
    clock::time_point active_since_{};
    clock::time_point last_rebalance_{};
    // Brokers with a fence, unfence or leadership move of theirs in flight (one at a time).
    std::set<node_id_t> busy_;
    // Leading: the offset the committed image must reach before this controller acts (its
    // term's first entry).
    std::optional<offset_t> ready_at_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// A proposal outcome as a topic request's answer: none for written, else the error and why.
broker::topic_result topic_answer(std::string name, const proposal_result& r);

}  // namespace sluice::controller
