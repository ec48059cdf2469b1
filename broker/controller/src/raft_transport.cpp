#include "sluice/controller/raft_transport.h"

#include <cstring>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "sluice/protocol/frame.h"

namespace sluice::controller {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock = std::chrono::steady_clock;

struct raft_transport::peer {
    tcp::endpoint at;
    std::shared_ptr<tcp::socket> socket;  // set while connecting or connected
    bool open = false;                    // connected
    bool writing = false;
    std::deque<std::vector<std::byte>> queue;
    clock::time_point next_connect{};
};

raft_transport::raft_transport(asio::any_io_executor ex, options opts, frame_fn on_frame)
    : ex_(ex), opts_(opts), on_frame_(std::move(on_frame)) {}

raft_transport::~raft_transport() {
    close();
}

tcp::endpoint raft_transport::listen(const tcp::endpoint& at) {
    acceptor_ = std::make_unique<tcp::acceptor>(ex_, at);
    accept();
    return acceptor_->local_endpoint();
}

void raft_transport::set_peer(node_id_t id, tcp::endpoint at) {
    auto& p = peers_[id.value()];
    if (!p) {
        p = std::make_unique<peer>();
    }
    p->at = at;
}

void raft_transport::send(node_id_t to, std::vector<std::byte> frame) {
    auto it = peers_.find(to.value());
    if (!*alive_ || it == peers_.end()) {
        ++frames_dropped_;
        return;
    }
    peer& p = *it->second;
    if (p.queue.size() >= opts_.frames_queued_max) {
        p.queue.pop_front();
        ++frames_dropped_;
    }
    p.queue.push_back(std::move(frame));
    if (!p.socket) {
        if (clock::now() >= p.next_connect) {
            start_connect(p);
        }
    } else if (p.open && !p.writing) {
        start_write(p);
    }
}

void raft_transport::start_connect(peer& p) {
    p.socket = std::make_shared<tcp::socket>(ex_);
    p.socket->async_connect(
        p.at, [this, &p, alive = alive_, s = p.socket](const boost::system::error_code& ec) {
            if (!*alive || p.socket != s) {
                return;
            }
            if (ec) {
                reset(p);
                return;
            }
            boost::system::error_code ignored;
            s->set_option(tcp::no_delay(true), ignored);
            p.open = true;
            start_write(p);
        });
}

void raft_transport::start_write(peer& p) {
    if (p.queue.empty()) {
        p.writing = false;
        return;
    }
    p.writing = true;
    auto frame = std::make_shared<std::vector<std::byte>>(std::move(p.queue.front()));
    p.queue.pop_front();
    asio::async_write(*p.socket, asio::buffer(*frame),
                      [this, &p, alive = alive_, s = p.socket, frame](
                          const boost::system::error_code& ec, size_t) {
                          if (!*alive || p.socket != s) {
                              return;
                          }
                          if (ec) {
                              ++frames_dropped_;  // this one
                              reset(p);
                              return;
                          }
                          start_write(p);
                      });
}

void raft_transport::reset(peer& p) {
    if (p.socket) {
        boost::system::error_code ignored;
        p.socket->close(ignored);
        p.socket.reset();
    }
    frames_dropped_ += p.queue.size();
    p.queue.clear();
    p.open = false;
    p.writing = false;
    p.next_connect = clock::now() + opts_.reconnect_backoff;
}

void raft_transport::accept() {
    acceptor_->async_accept(
        [this, alive = alive_](const boost::system::error_code& ec, tcp::socket socket) {
            if (!*alive) {
                return;
            }
            if (!ec) {
                auto s = std::make_shared<tcp::socket>(std::move(socket));
                std::erase_if(inbound_, [](const auto& w) { return w.expired(); });
                inbound_.push_back(s);
                read(s);
            }
            if (acceptor_->is_open()) {
                accept();
            }
        });
}

void raft_transport::read(std::shared_ptr<tcp::socket> s) {
    auto header = std::make_shared<std::array<std::byte, frame::header_size>>();
    asio::async_read(
        *s, asio::buffer(*header),
        [this, alive = alive_, s, header](const boost::system::error_code& ec, size_t) {
            if (!*alive || ec) {
                return;  // the socket goes with the last handler holding it
            }
            auto h = frame::parse_header(*header, opts_.frame_bytes_max);
            if (!h) {
                return;  // too large or malformed: this connection ends, the others go on
            }
            auto whole = std::make_shared<std::vector<std::byte>>(h.value().total());
            std::memcpy(whole->data(), header->data(), header->size());
            asio::async_read(
                *s, asio::buffer(whole->data() + header->size(), whole->size() - header->size()),
                [this, alive, s, whole](const boost::system::error_code& ec2, size_t) {
                    if (!*alive || ec2) {
                        return;
                    }
                    on_frame_(*whole);
                    if (*alive) {
                        read(s);
                    }
                });
        });
}

void raft_transport::close() {
    if (!*alive_) {
        return;
    }
    *alive_ = false;
    boost::system::error_code ignored;
    if (acceptor_) {
        acceptor_->close(ignored);
    }
    for (auto& [id, p] : peers_) {
        if (p->socket) {
            p->socket->close(ignored);
        }
    }
    for (auto& w : inbound_) {
        if (auto s = w.lock()) {
            s->close(ignored);
        }
    }
}

}  // namespace sluice::controller
