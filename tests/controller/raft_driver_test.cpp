// Three Raft drivers on real disks and real timers, their frames carried in process or over
// loopback TCP (raft_transport, ports chosen at run time): they elect a leader, commit what it
// is given on every node in the same order, elect another when it goes away, and the old leader,
// reopened from its directory, catches up with the rest.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "../support/fault_fs.h"
#include "../support/run_until.h"
#include "../support/temp_dir.h"
#include "sluice/controller/raft_codec.h"
#include "sluice/controller/raft_driver.h"
#include "sluice/controller/raft_transport.h"

using namespace sluice;
using namespace sluice::controller;
using namespace std::chrono_literals;

namespace {

// Records what the driver hands it.
struct recorder : state_machine {
    std::vector<std::string> data;  // data entries in apply order
    offset_t next{0};
    bool out_of_order = false;
    raft::leadership leadership;

    void restore(const raft::snapshot& s) override {
        data.clear();
        next = s.id.end_offset;
    }
    void apply(offset_t offset, const raft::entry& e) override {
        out_of_order = out_of_order || offset != next;
        next = offset + 1;
        if (e.kind == raft::entry_kind::data) {
            data.push_back(e.data);
        }
    }
    void on_leadership(const raft::leadership& l) override { leadership = l; }
};

struct member {
    std::unique_ptr<raft_storage> storage;
    recorder sm;
    std::unique_ptr<raft_transport> transport;  // over TCP only
    std::unique_ptr<raft_driver> driver;
};

struct cluster {
    boost::asio::io_context io;
    std::vector<std::unique_ptr<testing::temp_dir>> dirs;
    std::map<int32_t, member> members;
    std::set<int32_t> down;
    uint64_t seed = 1;
    const bool tcp;
    std::map<int32_t, boost::asio::ip::tcp::endpoint> endpoints;

    explicit cluster(bool over_tcp) : tcp(over_tcp) {
        for (int i = 0; i < 3; ++i) {
            dirs.push_back(std::make_unique<testing::temp_dir>("sluice-quorum"));
        }
    }

    void start(int32_t id) {
        member& m = members[id];
        m.sm = recorder{};
        auto opened = raft_storage::open(storage::posix_file_system(), dirs[size_t(id - 1)]->path(),
                                         node_id_t(id));
        REQUIRE(opened);
        REQUIRE_MESSAGE(opened.value().problem.empty(), opened.value().problem);
        m.storage = std::move(opened.value().storage);
        raft_driver::options o;
        o.raft.id = node_id_t(id);
        o.raft.bootstrap_voters = {node_id_t(1), node_id_t(2), node_id_t(3)};
        o.raft.random_seed = seed++;
        o.raft.election_timeout_ticks = 20;
        o.tick = 10ms;
        o.cluster_id = "test-cluster";
        raft_driver::send_fn send;
        if (tcp) {
            m.transport = std::make_unique<raft_transport>(
                io.get_executor(), raft_transport::options{},
                [this, id](std::span<const std::byte> frame, uint64_t) {
                    auto it = members.find(id);
                    if (it != members.end() && it->second.driver) {
                        it->second.driver->receive(frame);
                    }
                });
            endpoints[id] = m.transport->listen(
                {boost::asio::ip::make_address("127.0.0.1"), 0});  // a free port
            for (auto& [other, at] : endpoints) {
                if (other != id) {
                    m.transport->set_peer(node_id_t(other), at);
                    if (members[other].transport) {
                        members[other].transport->set_peer(node_id_t(id), endpoints[id]);
                    }
                }
            }
            send = [t = m.transport.get()](node_id_t to, std::vector<std::byte> frame) {
                t->send(to, std::move(frame));
            };
        } else {
            send = [this, from = id](node_id_t to, std::vector<std::byte> frame) {
                boost::asio::post(io, [this, from, to, frame = std::move(frame)] {
                    auto it = members.find(to.value());
                    if (down.contains(from) || down.contains(to.value()) || it == members.end() ||
                        !it->second.driver) {
                        return;  // a dead peer: the frame is lost
                    }
                    it->second.driver->receive(frame);
                });
            };
        }
        m.driver = std::make_unique<raft_driver>(io.get_executor(), o, *m.storage,
                                                 std::move(opened.value().state), send, m.sm);
        down.erase(id);
        m.driver->start();
    }

    void kill(int32_t id) {
        down.insert(id);
        member& m = members[id];
        m.driver->stop();
        m.driver.reset();
        m.transport.reset();  // its connections break; peers reconnect once it is back
        m.storage.reset();
    }

    // Runs the drivers until `done` holds, for at most `limit`.
    template <typename Pred>
    bool run_until(Pred done, std::chrono::milliseconds limit = 20s) {
        return testing::run_until(io, done, limit);
    }

    // The live member every live member follows, if they agree on one.
    std::optional<int32_t> agreed_leader() {
        std::optional<int32_t> leader;
        for (auto& [id, m] : members) {
            if (down.contains(id)) {
                continue;
            }
            const node_id_t l = m.driver->node().leader();
            if (l == raft::no_node || down.contains(l.value()) ||
                (leader && *leader != l.value())) {
                return std::nullopt;
            }
            leader = l.value();
        }
        if (leader && members[*leader].driver->node().current_role() != raft::role::leader) {
            return std::nullopt;
        }
        return leader;
    }

    // Proposes to whichever member the live ones follow, until one accepts. An accepted entry
    // is not yet written: a change of leader can cut it, so commit_all waits for it to be
    // applied and proposes again what is lost (a retry may then commit it twice: Raft alone
    // does not deduplicate).
    void propose(const std::string& data) {
        REQUIRE(run_until([&] {
            auto l = agreed_leader();
            return l && members[*l].driver->propose(data).has_value();
        }));
    }

    const std::vector<std::string>& any_live_data() {
        for (auto& [id, m] : members) {
            if (!down.contains(id)) {
                return m.sm.data;
            }
        }
        FAIL("no live member");
        return members.begin()->second.sm.data;
    }

    // Every live member applied the same entries, in the same order, and they include `want`.
    bool all_applied(const std::vector<std::string>& want) {
        const std::vector<std::string>& first = any_live_data();
        for (auto& [id, m] : members) {
            if (!down.contains(id) && m.sm.data != first) {
                return false;
            }
        }
        const std::set<std::string> have(first.begin(), first.end());
        for (const std::string& w : want) {
            if (!have.contains(w)) {
                return false;
            }
        }
        return true;
    }

    // Proposes each of `batch`, then waits until all are applied everywhere, proposing again
    // whatever a change of leader lost.
    void commit_all(std::vector<std::string>& want, const std::vector<std::string>& batch) {
        for (const std::string& d : batch) {
            propose(d);
        }
        want.insert(want.end(), batch.begin(), batch.end());
        for (int attempt = 0; attempt < 5; ++attempt) {
            if (run_until([&] { return all_applied(want); }, 4s)) {
                return;
            }
            const auto& data = any_live_data();
            const std::set<std::string> have(data.begin(), data.end());
            for (const std::string& d : batch) {
                if (!have.contains(d)) {
                    propose(d);
                }
            }
        }
        REQUIRE(all_applied(want));
    }
};

}  // namespace

TEST_CASE("a three-node quorum elects, commits in one order, fails over and catches up") {
    for (bool tcp : {false, true}) {
        CAPTURE(tcp);
        cluster c(tcp);
        for (int32_t id = 1; id <= 3; ++id) {
            c.start(id);
        }
        std::optional<int32_t> first;
        REQUIRE(c.run_until([&] { return (first = c.agreed_leader()).has_value(); }));

        auto batch = [](int from, int to) {
            std::vector<std::string> out;
            for (int i = from; i < to; ++i) {
                out.push_back("entry-" + std::to_string(i));
            }
            return out;
        };
        std::vector<std::string> want;
        c.commit_all(want, batch(0, 30));

        // The leader goes away; the other two elect one of themselves and go on.
        c.kill(*first);
        std::optional<int32_t> second;
        REQUIRE(c.run_until([&] { return (second = c.agreed_leader()).has_value(); }));
        CHECK(*second != *first);
        c.commit_all(want, batch(30, 50));

        // The old leader comes back from its directory and applies the same entries, in order.
        c.start(*first);
        REQUIRE(c.run_until([&] { return c.all_applied(want); }));
        std::optional<int32_t> last;
        REQUIRE(c.run_until([&] { return (last = c.agreed_leader()).has_value(); }));
        for (auto& [id, m] : c.members) {
            CAPTURE(id);
            CHECK(m.sm.data.size() >= want.size());  // a retried entry may be there twice
            CHECK_FALSE(m.sm.out_of_order);
            CHECK(m.driver->frames_dropped() == 0);
            CHECK(m.driver->node().messages_invalid() == 0);
            CHECK_FALSE(m.driver->failure());
            CHECK(m.sm.leadership.leader == node_id_t(*last));
        }
    }
}

TEST_CASE("frames of another cluster or that do not decode are dropped and counted") {
    cluster c(false);
    c.start(1);
    raft_driver& d = *c.members[1].driver;
    const raft::message m{node_id_t(2), node_id_t(1), raft::begin_epoch{term_t(7)}};
    d.receive(encode_raft_frame("another-cluster", m));
    CHECK(d.frames_dropped() == 1);
    CHECK(d.node().term() == term_t(0));  // the message was not stepped
    const std::vector<std::byte> junk(20, std::byte{0x41});
    d.receive(junk);
    CHECK(d.frames_dropped() == 2);
    d.receive(encode_raft_frame("test-cluster", m));
    CHECK(d.frames_dropped() == 2);
    CHECK(d.node().term() == term_t(7));  // this one was
}

TEST_CASE("the transport ends a connection whose frame header is bad and serves the others") {
    boost::asio::io_context io;
    std::vector<std::vector<std::byte>> got;
    raft_transport::options o;
    o.frame_bytes_max = 1 << 20;
    raft_transport t(io.get_executor(), o, [&](std::span<const std::byte> frame, uint64_t) {
        got.emplace_back(frame.begin(), frame.end());
    });
    const auto at = t.listen({boost::asio::ip::make_address("127.0.0.1"), 0});

    // A hostile peer announces a 1 GiB frame: the transport reads no more from it.
    boost::asio::ip::tcp::socket bad(io);
    bad.connect(at);
    const std::byte header[8] = {std::byte{0x40}, {}, {}, {}, {}, {}, {}, std::byte{8}};
    boost::asio::write(bad, boost::asio::buffer(header));
    // A good peer, through a transport of its own, still gets its frame through.
    raft_transport sender(io.get_executor(), {}, [](std::span<const std::byte>, uint64_t) {});
    sender.set_peer(node_id_t(1), at);
    const raft::message m{node_id_t(2), node_id_t(1), raft::begin_epoch{term_t(3)}};
    const auto frame = encode_raft_frame("c", m);
    sender.send(node_id_t(1), frame);

    std::array<std::byte, 1> one{};
    boost::system::error_code closed;
    bad.async_read_some(boost::asio::buffer(one),
                        [&](const boost::system::error_code& ec, size_t) { closed = ec; });
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while ((got.empty() || !closed) && std::chrono::steady_clock::now() < deadline) {
        io.run_for(5ms);
    }
    CHECK(closed == boost::asio::error::eof);  // the hostile connection was closed
    REQUIRE(got.size() == 1);
    CHECK(got[0] == frame);
}

TEST_CASE("a driver whose disk fails sends nothing that depends on it and stops") {
    for (bool failing : {false, true}) {
        CAPTURE(failing);
        testing::temp_dir dir("sluice-driver-fault");
        testing::fault_fs fs;
        boost::asio::io_context io;
        auto opened = raft_storage::open(fs, dir.path(), node_id_t(1));
        REQUIRE(opened);
        REQUIRE(opened.value().storage);
        recorder sm;
        int sent = 0;
        raft_driver::options o;
        o.raft.id = node_id_t(1);
        o.raft.bootstrap_voters = {node_id_t(1), node_id_t(2), node_id_t(3)};
        o.tick = 10ms;
        o.cluster_id = "c";
        raft_driver d(
            io.get_executor(), o, *opened.value().storage, std::move(opened.value().state),
            [&](node_id_t, std::vector<std::byte>) { ++sent; }, sm);
        d.start();
        fs.set_fail_sync(failing, failing);
        // A leader of term 7 announces itself: the new term must be durable before this node
        // fetches from it.
        d.receive(encode_raft_frame(
            "c", raft::message{node_id_t(2), node_id_t(1), raft::begin_epoch{term_t(7)}}));
        const auto until = std::chrono::steady_clock::now() + 300ms;
        while (std::chrono::steady_clock::now() < until) {
            io.run_for(5ms);
        }
        if (!failing) {
            CHECK(sent > 0);  // it fetches from its leader
            CHECK_FALSE(d.failure());
            continue;
        }
        CHECK(sent == 0);
        CHECK(d.failure() == std::errc::io_error);
        CHECK(sm.leadership.leader == raft::no_node);
        CHECK_FALSE(d.propose("x"));
        fs.clear_faults();
        d.receive(encode_raft_frame(
            "c", raft::message{node_id_t(2), node_id_t(1), raft::begin_epoch{term_t(8)}}));
        io.run_for(50ms);
        CHECK(sent == 0);  // a stopped driver steps nothing more
    }
}
