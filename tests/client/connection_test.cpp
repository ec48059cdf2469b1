// The client connection against a scripted peer on a real socket: pipelined requests are
// answered in order, every request's handler runs exactly once, and a broken, silent or lying
// peer fails the requests with the documented errors instead of hanging or crashing.
#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <thread>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "sluice/client/errc.h"
#include "sluice/client/internal/cluster.h"
#include "sluice/client/internal/co_try.h"
#include "sluice/client/internal/io_thread.h"
#include "sluice/client/internal/requests.h"
#include "sluice/protocol/byte_order.h"

using namespace sluice;
using namespace sluice::client;
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;

namespace {

// A peer that accepts one connection and hands every request frame to `script`, which returns
// the bytes to write back (possibly nothing) and whether to close the connection afterwards.
class scripted_peer {
  public:
    struct reply {
        std::vector<std::byte> bytes;
        bool close = false;
    };
    using script_fn = std::function<reply(const fbs::Envelope&, int index)>;

    explicit scripted_peer(script_fn script)
        : script_(std::move(script)),
          acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
        port_ = acceptor_.local_endpoint().port();
        asio::co_spawn(io_, serve(), asio::detached);
        thread_ = std::thread([this] { io_.run(); });
    }
    ~scripted_peer() {
        asio::post(io_, [this] {
            boost::system::error_code ec;
            acceptor_.close(ec);
            if (socket_) {
                socket_->close(ec);
            }
        });
        thread_.join();
    }
    uint16_t port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    int requests() const { return requests_; }

  private:
    awaitable<void> serve() {
        boost::system::error_code ec;
        tcp::socket s = co_await acceptor_.async_accept(use_ec(ec));
        if (ec) {
            co_return;
        }
        socket_ = &s;
        for (int i = 0;; ++i) {
            std::byte head[frame::header_size];
            co_await asio::async_read(s, asio::buffer(head), use_ec(ec));
            if (ec) {
                break;
            }
            const uint32_t len = load_be<uint32_t>(head);
            std::shared_ptr<std::byte[]> buf(new std::byte[4 + len]);
            std::memcpy(buf.get(), head, sizeof(head));
            co_await asio::async_read(s, asio::buffer(buf.get() + 8, len - 4), use_ec(ec));
            if (ec) {
                break;
            }
            auto view = frame::parse(frame::bytes_view(buf.get(), 4 + len));
            REQUIRE(view);
            ++requests_;
            reply r = script_(*view.value().envelope, i);
            if (!r.bytes.empty()) {
                co_await asio::async_write(s, asio::buffer(r.bytes), use_ec(ec));
            }
            if (r.close || ec) {
                break;
            }
        }
        socket_ = nullptr;
        s.close(ec);
    }

    script_fn script_;
    asio::io_context io_;
    tcp::acceptor acceptor_;
    tcp::socket* socket_ = nullptr;
    uint16_t port_ = 0;
    std::atomic<int> requests_{0};
    std::thread thread_;
};

// A MetadataResponse answering `env`, with controller_id = `tag` so tests can tell them apart.
std::vector<std::byte> metadata_answer_to(const fbs::Envelope& env, int32_t tag,
                                          int32_t correlation_id) {
    frame::writer w;
    auto body = fbs::CreateMetadataResponseDirect(w.fbb(), nullptr, "c", tag, nullptr);
    w.finish(frame::make_envelope(w.fbb(), env.api_key(), 0, correlation_id,
                                  fbs::Body::MetadataResponse, body.Union()));
    return w.to_bytes();
}

struct client_side {
    io_thread io;
    std::shared_ptr<connection> conn;

    explicit client_side(uint16_t port, connection_options o = {}) {
        conn = std::make_shared<connection>(io.context(), endpoint{"127.0.0.1", port}, o);
    }
    ~client_side() {
        io.call([this] { conn->close(make_error_code(client_errc::closed)); });
        io.join();
    }
    std::error_code connect() {
        return io.run<std::error_code>([this] { return conn->connect(); });
    }
    // Sends `n` metadata requests back to back; returns their outcomes in completion order.
    std::vector<result<response>> send_many(int n, std::chrono::milliseconds timeout = 5s,
                                            bool expect = true) {
        std::mutex m;
        std::condition_variable cv;
        std::vector<result<response>> done;
        io.call([&] {
            for (int i = 0; i < n; ++i) {
                request r;
                r.correlation_id = conn->next_correlation_id();
                r.frame = encode_metadata(r.correlation_id, "test", metadata_request{});
                r.expects_response = expect;
                r.timeout = timeout;
                r.on_done = [&](result<response> res) {
                    std::lock_guard lk(m);
                    done.push_back(std::move(res));
                    cv.notify_all();
                };
                conn->send(std::move(r));
            }
        });
        std::unique_lock lk(m);
        cv.wait_for(lk, 20s, [&] { return int(done.size()) == n; });
        return done;
    }
};

}  // namespace

TEST_CASE("pipelined requests are answered in order and matched by correlation id") {
    scripted_peer peer([](const fbs::Envelope& env, int i) {
        return scripted_peer::reply{metadata_answer_to(env, 100 + i, env.correlation_id())};
    });
    client_side c(peer.port());
    REQUIRE_FALSE(c.connect());
    auto done = c.send_many(20);
    REQUIRE(done.size() == 20);
    for (int i = 0; i < 20; ++i) {
        REQUIRE(done[size_t(i)]);
        auto m = decode_metadata(done[size_t(i)].value());
        REQUIRE(m);
        CHECK(m.value().controller_id == 100 + i);
    }
    CHECK(c.io.call([&] { return c.conn->in_flight(); }) == 0);
}

TEST_CASE("a connection that breaks fails every outstanding request, retriably") {
    scripted_peer peer([](const fbs::Envelope& env, int i) {
        if (i < 2) {
            return scripted_peer::reply{metadata_answer_to(env, i, env.correlation_id())};
        }
        // No answer to 2..5, then hang up once all six were read: closing a socket with
        // unread bytes sends a reset, which may discard answers 0 and 1 before they are read.
        return scripted_peer::reply{{}, i == 5};
    });
    client_side c(peer.port());
    REQUIRE_FALSE(c.connect());
    auto done = c.send_many(6);
    REQUIRE(done.size() == 6);
    CHECK(done[0]);
    CHECK(done[1]);
    for (size_t i = 2; i < 6; ++i) {
        REQUIRE_FALSE(done[i]);
        CHECK(done[i].error() == client_errc::broker_unreachable);
        CHECK(is_retriable(done[i].error()));
        CHECK(done[i].error().message().find("connection lost") != std::string::npos);
    }
    CHECK(c.io.call([&] { return c.conn->is_closed(); }));
    // Later requests fail at once with the same error.
    auto late = c.send_many(1);
    REQUIRE(late.size() == 1);
    CHECK(late[0].error() == client_errc::broker_unreachable);
}

TEST_CASE("a wrong correlation id is a protocol error") {
    scripted_peer peer([](const fbs::Envelope& env, int) {
        return scripted_peer::reply{metadata_answer_to(env, 0, env.correlation_id() + 1)};
    });
    client_side c(peer.port());
    REQUIRE_FALSE(c.connect());
    auto done = c.send_many(2);
    REQUIRE(done.size() == 2);
    CHECK(done[0].error() == client_errc::protocol_error);
    CHECK(done[0].error().message().find("correlation id") != std::string::npos);
    CHECK(done[1].error() == client_errc::protocol_error);
}

TEST_CASE("a frame over the size limit closes the connection") {
    scripted_peer peer([](const fbs::Envelope&, int) {
        std::vector<std::byte> head(8);
        store_be<uint32_t>(head.data(), 200u << 20);  // 200 MiB
        store_be<uint32_t>(head.data() + 4, 16);
        return scripted_peer::reply{head};
    });
    client_side c(peer.port(), connection_options{5s, 1u << 20});
    REQUIRE_FALSE(c.connect());
    auto done = c.send_many(1);
    REQUIRE(done.size() == 1);
    CHECK(done[0].error() == client_errc::protocol_error);
    CHECK(done[0].error().message().find("MESSAGE_TOO_LARGE") != std::string::npos);
}

TEST_CASE("garbage instead of an envelope closes the connection") {
    scripted_peer peer([](const fbs::Envelope&, int) {
        std::vector<std::byte> f(8 + 32, std::byte{0xee});
        store_be<uint32_t>(f.data(), 36);
        store_be<uint32_t>(f.data() + 4, 32);
        return scripted_peer::reply{f};
    });
    client_side c(peer.port());
    REQUIRE_FALSE(c.connect());
    auto done = c.send_many(1);
    REQUIRE(done.size() == 1);
    CHECK(done[0].error() == client_errc::protocol_error);
}

TEST_CASE("an unanswered request times out and closes the connection") {
    scripted_peer peer([](const fbs::Envelope&, int) { return scripted_peer::reply{}; });
    client_side c(peer.port());
    REQUIRE_FALSE(c.connect());
    const auto t0 = clock::now();
    auto done = c.send_many(3, 150ms);
    const auto took = clock::now() - t0;
    REQUIRE(done.size() == 3);
    for (auto& d : done) {
        CHECK(d.error() == client_errc::timed_out);
    }
    CHECK(done[0].error().message().find("no response within 150 ms") != std::string::npos);
    CHECK(took >= 150ms);
    CHECK(took < 5s);
}

TEST_CASE("a request without an answer completes once written") {
    scripted_peer peer([](const fbs::Envelope&, int) { return scripted_peer::reply{}; });
    client_side c(peer.port());
    REQUIRE_FALSE(c.connect());
    auto done = c.send_many(3, 5s, /*expect=*/false);
    REQUIRE(done.size() == 3);
    for (auto& d : done) {
        REQUIRE(d);
        CHECK(d.value().envelope() == nullptr);
    }
}

TEST_CASE("connection refused names the address") {
    uint16_t port = 0;
    {
        asio::io_context io;
        tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        port = a.local_endpoint().port();
    }  // closed: nothing listens there now
    client_side c(port);
    const std::error_code ec = c.connect();
    CHECK(ec == client_errc::broker_unreachable);
    CHECK(ec.message() ==
          "broker unreachable: 127.0.0.1:" + std::to_string(port) + ": connection refused");
    // Requests queued on a failed connection fail too.
    auto done = c.send_many(1);
    CHECK(done[0].error() == client_errc::broker_unreachable);
}

TEST_CASE("the cluster tries every bootstrap server in turn") {
    scripted_peer peer([](const fbs::Envelope& env, int) {
        return scripted_peer::reply{metadata_answer_to(env, 5, env.correlation_id())};
    });
    uint16_t dead = 0;
    {
        asio::io_context io;
        tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        dead = a.local_endpoint().port();
    }
    io_thread io;
    client_config cfg;
    cfg.bootstrap_servers = {"127.0.0.1:" + std::to_string(dead), peer.address()};
    {
        cluster cl(io.context(), cfg, connection_options{});
        auto m = io.run<result<metadata_answer>>([&] { return cl.refresh(metadata_request{}); });
        REQUIRE(m);
        CHECK(m.value().controller_id == 5);
        io.call([&] { cl.close(make_error_code(client_errc::closed)); });
    }
    {
        client_config only_dead = cfg;
        only_dead.bootstrap_servers = {"127.0.0.1:" + std::to_string(dead)};
        cluster cl(io.context(), only_dead, connection_options{});
        auto m = io.run<result<metadata_answer>>([&] { return cl.refresh(metadata_request{}); });
        REQUIRE_FALSE(m);
        CHECK(m.error() == client_errc::broker_unreachable);
        CHECK(m.error().message().find(std::to_string(dead)) != std::string::npos);
        io.call([&] { cl.close(make_error_code(client_errc::closed)); });
    }
    io.join();
}

TEST_CASE("a request's timeout counts from its write, not while it waits in the client") {
    // Requests queued before the connection is open wait for it; the time they wait is the
    // client's own and does not count against request.timeout.ms.
    scripted_peer peer([](const fbs::Envelope& env, int i) {
        return scripted_peer::reply{metadata_answer_to(env, 100 + i, env.correlation_id())};
    });
    client_side c(peer.port());
    std::mutex m;
    std::condition_variable cv;
    std::vector<result<response>> done;
    c.io.call([&] {
        for (int i = 0; i < 3; ++i) {
            request r;
            r.correlation_id = c.conn->next_correlation_id();
            r.frame = encode_metadata(r.correlation_id, "test", metadata_request{});
            r.timeout = 200ms;
            r.on_done = [&](result<response> res) {
                std::lock_guard lk(m);
                done.push_back(std::move(res));
                cv.notify_all();
            };
            c.conn->send(std::move(r));
        }
    });
    std::this_thread::sleep_for(400ms);  // longer than the timeout, before anything is written
    REQUIRE_FALSE(c.connect());
    std::unique_lock lk(m);
    cv.wait_for(lk, 10s, [&] { return done.size() == 3; });
    REQUIRE(done.size() == 3);
    for (auto& d : done) {
        CHECK(d.has_value());
    }
}
