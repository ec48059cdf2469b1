// A cluster of real sluice-broker processes in a temporary directory, started, killed, paused and
// stopped with scripts/cluster.sh (the launcher users run), and small helpers for tests that drive
// one with the client libraries. Needs SLUICE_CLUSTER_SH (the script's path) defined.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "client_helpers.h"
#include "process.h"
#include "temp_dir.h"

namespace sluice::testing {

using namespace std::chrono_literals;

// Short sessions and elections, so that the tests wait seconds, not tens of seconds.
constexpr const char* fast_timeouts =
    "broker.session.timeout.ms=1500\n"
    "broker.heartbeat.interval.ms=200\n"
    "controller.quorum.election.timeout.ms=500";

// A cluster in a temporary directory, through scripts/cluster.sh. With `dedicated`, nodes 1 to 3
// are controllers only (no client port) and the brokers are nodes 4 and up.
class local_cluster {
  public:
    explicit local_cluster(int nodes, std::string properties = fast_timeouts,
                           bool dedicated = false)
        : dir_("sluice-cluster"),
          properties_(std::move(properties)),
          nodes_(nodes),
          dedicated_(dedicated),
          first_broker_(dedicated ? 4 : 1) {
        auto r = run({"start", std::to_string(nodes)});
        REQUIRE_MESSAGE(r.status.exited_with(0), r.err);
        bootstrap_ = r.out.substr(0, r.out.find('\n'));
        std::stringstream list(bootstrap_);
        for (std::string one; std::getline(list, one, ',');) {
            addresses_.push_back(one);
        }
        REQUIRE(addresses_.size() == size_t(nodes - first_broker_ + 1));
    }
    ~local_cluster() { run({"stop"}); }

    std::filesystem::path dir() const { return dir_.path(); }
    int nodes() const { return nodes_; }
    std::filesystem::path node_dir(int id) const {
        return dir_.path() / fmt::format("node-{}", id);
    }

    run_result run(std::vector<std::string> args) {
        args.insert(args.begin(), SLUICE_CLUSTER_SH);
        args.push_back(dir_.path().string());
        return run_process(args, {}, 120s,
                           {{"SLUICE_BROKER", broker_path()},
                            {"SLUICE_CLUSTER_PROPERTIES", properties_},
                            {"SLUICE_DEDICATED_CONTROLLERS", dedicated_ ? "1" : "0"},
                            {"SLUICE_CLUSTER_PORT", std::nullopt}});
    }
    void node(const std::string& what, int id) {
        auto r = run({what, std::to_string(id)});
        REQUIRE_MESSAGE(r.status.exited_with(0), what, " ", id, ": ", r.err);
    }

    client_config client(std::optional<int> only = std::nullopt) const {
        client_config c;
        if (only) {
            REQUIRE((*only >= first_broker_ && *only <= nodes_));  // a broker
            c.bootstrap_servers = {addresses_[size_t(*only - first_broker_)]};
        } else {
            c.bootstrap_servers = addresses_;
        }
        c.client_id = "sluice-cluster-it";
        // A paused broker answers nothing: give up on it soon and ask again.
        c.request_timeout_ms = 3000;
        return c;
    }
    std::unique_ptr<admin> admin_of(std::optional<int> only = std::nullopt) const {
        auto a = admin::create(client(only));
        REQUIRE(a);
        return std::move(a).value();
    }
    // The active controller: the node whose log says so last.
    int active_controller() {
        for (int id = first_broker_; id <= nodes_; ++id) {
            auto a = admin::create(client(id));
            if (!a) {
                continue;
            }
            auto brokers = a.value()->describe_cluster();
            if (brokers) {
                for (const auto& b : brokers.value()) {
                    if (b.is_controller) {
                        return b.node_id;
                    }
                }
            }
        }
        return -1;
    }

  private:
    temp_dir dir_;
    std::string properties_;
    int nodes_;
    bool dedicated_;
    int first_broker_;
    std::string bootstrap_;
    std::vector<std::string> addresses_;
};

// A topic creation's answer: created, or found created (by an earlier try whose answer was lost
// in a failover; Kafka answers the same).
template <typename Result>
bool created(const Result& r) {
    return r || r.error() == make_error_code(errc::topic_already_exists);
}

template <typename Pred>
bool eventually(Pred ok, std::chrono::milliseconds limit = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!ok()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

// Leader of each partition of `topic` as broker `id` describes it (empty if it cannot).
inline std::vector<int32_t> leaders_seen_by(const local_cluster& c, int id,
                                            const std::string& topic) {
    auto a = admin::create(c.client(id));
    if (!a) {
        return {};
    }
    auto t = a.value()->describe_topic(topic);
    std::vector<int32_t> out;
    if (t) {
        for (const auto& p : t.value().partitions) {
            out.push_back(p.leader);
        }
    }
    return out;
}

// Everything broker `id` says about `topic`'s partitions: leader, epoch, replicas and ISR
// (empty if it cannot say).
inline std::string topic_seen_by(const local_cluster& c, int id, const std::string& topic) {
    auto a = admin::create(c.client(id));
    if (!a) {
        return {};
    }
    auto t = a.value()->describe_topic(topic);
    if (!t) {
        return {};
    }
    std::string out;
    for (const auto& p : t.value().partitions) {
        out += fmt::format("{}:{}@{}[{}][{}] ", p.partition, p.leader, p.leader_epoch,
                           fmt::join(p.replicas, ","), fmt::join(p.isr, ","));
    }
    return out;
}

}  // namespace sluice::testing
