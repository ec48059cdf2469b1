// A metadata-log quorum in one process for the controller's tests: N voters on real disks (a
// temporary directory each) and real timers, their frames posted to each other on one
// io_context, optionally each with a quorum_controller.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <vector>

#include <doctest/doctest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "../support/run_until.h"
#include "../support/temp_dir.h"
#include "sluice/controller/metadata_log.h"
#include "sluice/controller/quorum_controller.h"

namespace sluice::testing {

using namespace sluice::controller;
using namespace std::chrono_literals;

struct node_under_test {
    std::unique_ptr<metadata_log> log;
    std::unique_ptr<quorum_controller> controller;  // if the quorum runs controllers
    metadata_log::image_ptr seen;                   // the last image a subscriber got
    int images = 0;
};

struct quorum {
    boost::asio::io_context io;
    std::vector<std::unique_ptr<testing::temp_dir>> dirs;
    std::map<int32_t, node_under_test> nodes;
    std::vector<node_id_t> voters;
    int64_t snapshot_bytes = 20 << 20;
    int64_t snapshot_chunk_bytes = 1 << 20;
    bool controllers = false;
    quorum_controller::options controller_options;
    uint64_t seed = 1;

    explicit quorum(int32_t n) {
        for (int32_t id = 1; id <= n; ++id) {
            dirs.push_back(std::make_unique<testing::temp_dir>("sluice-metadata-log"));
            voters.emplace_back(id);
        }
    }

    void start(int32_t id) {
        metadata_log::options o;
        o.driver.raft.id = node_id_t(id);
        o.driver.raft.bootstrap_voters = voters;
        o.driver.raft.random_seed = seed++;
        o.driver.tick = 10ms;
        o.driver.cluster_id = "c1";
        o.snapshot_bytes = snapshot_bytes;
        o.driver.raft.snapshot_chunk_bytes_max = snapshot_chunk_bytes;
        auto send = [this](node_id_t to, std::vector<std::byte> frame) {
            boost::asio::post(io, [this, to, frame = std::move(frame)] {
                auto it = nodes.find(to.value());
                if (it != nodes.end() && it->second.log) {
                    it->second.log->receive(frame);
                }
            });
        };
        auto opened = metadata_log::open(io.get_executor(), storage::posix_file_system(),
                                         dirs[size_t(id - 1)]->path(), o, send);
        REQUIRE(opened);
        REQUIRE_MESSAGE(opened.value().problem.empty(), opened.value().problem);
        node_under_test& n = nodes[id];
        n.log = std::move(opened.value().log);
        n.images = 0;
        n.log->on_image([&n](const metadata_log::image_ptr& im) {
            n.seen = im;
            ++n.images;
        });
        if (controllers) {
            n.controller = std::make_unique<quorum_controller>(*n.log, controller_options);
            n.controller->start();
        }
        n.log->start();
    }

    void stop(int32_t id) {
        if (nodes[id].controller) {
            nodes[id].controller->stop();
            nodes[id].controller.reset();
        }
        nodes[id].log->stop();
        nodes[id].log.reset();
    }

    template <typename Pred>
    bool run_until(Pred done, std::chrono::milliseconds limit = 20s) {
        return testing::run_until(io, done, limit);
    }

    metadata_log* leader() {
        for (auto& [id, n] : nodes) {
            if (n.log && n.log->node().current_role() == raft::role::leader) {
                return n.log.get();
            }
        }
        return nullptr;
    }

    // Proposes on the leader and runs until it is decided.
    proposal_result propose(const std::vector<metadata_record>& batch) {
        metadata_log* l = nullptr;
        REQUIRE(run_until([&] { return (l = leader()) != nullptr; }));
        std::optional<proposal_result> out;
        l->propose(batch, [&](proposal_result r) { out = std::move(r); });
        CHECK_FALSE(out.has_value());  // never from inside propose
        REQUIRE(run_until([&] { return out.has_value(); }));
        return *out;
    }
};

}  // namespace sluice::testing
