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
    explicit peer(asio::any_io_executor ex) : deadline(ex) {}
    tcp::endpoint at;
    asio::steady_timer deadline;          // of the connect or write under way
    std::shared_ptr<tcp::socket> socket;  // set while connecting or connected
    bool open = false;                    // connected
    bool writing = false;
    std::deque<std::vector<std::byte>> queue;
    size_t queued_bytes = 0;
    clock::time_point next_connect{};
};

raft_transport::raft_transport(asio::any_io_executor ex, options opts, frame_fn on_frame)
    : ex_(ex), opts_(opts), on_frame_(std::move(on_frame)), accept_retry_(ex) {}

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
        p = std::make_unique<peer>(ex_);
    } else if (p->at != at) {
        reset(*p);
        p->next_connect = {};
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
    if (!p.socket && clock::now() < p.next_connect) {
        ++frames_dropped_;  // backing off after a failure: it would be stale when it went
        return;
    }
    while (!p.queue.empty() && (p.queue.size() >= opts_.frames_queued_max ||
                                p.queued_bytes + frame.size() > opts_.queued_bytes_max)) {
        p.queued_bytes -= p.queue.front().size();
        p.queue.pop_front();
        ++frames_dropped_;
    }
    p.queued_bytes += frame.size();
    p.queue.push_back(std::move(frame));
    if (!p.socket) {
        start_connect(p);
    } else if (p.open && !p.writing) {
        start_write(p);
    }
}

void raft_transport::arm_deadline(peer& p) {
    p.deadline.expires_after(opts_.io_timeout);
    p.deadline.async_wait(
        [this, &p, alive = alive_, s = p.socket](const boost::system::error_code& ec) {
            if (!*alive || ec || p.socket != s) {
                return;
            }
            frames_dropped_ += p.writing ? 1 : 0;  // the frame being written
            reset(p);
        });
}

void raft_transport::start_connect(peer& p) {
    p.socket = std::make_shared<tcp::socket>(ex_);
    arm_deadline(p);
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
            p.deadline.cancel();
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
    p.queued_bytes -= frame->size();
    arm_deadline(p);
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
                          p.deadline.cancel();
                          start_write(p);
                      });
}

void raft_transport::reset(peer& p) {
    if (p.socket) {
        boost::system::error_code ignored;
        p.socket->close(ignored);
        p.socket.reset();
    }
    p.deadline.cancel();
    frames_dropped_ += p.queue.size();
    p.queue.clear();
    p.queued_bytes = 0;
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
            if (!acceptor_->is_open()) {
                return;
            }
            if (!ec) {
                accept();
                return;
            }
            // Out of descriptors, say: try again later rather than spin.
            accept_retry_.expires_after(opts_.reconnect_backoff);
            accept_retry_.async_wait([this, alive](const boost::system::error_code& ec2) {
                if (*alive && !ec2 && acceptor_->is_open()) {
                    accept();
                }
            });
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
    accept_retry_.cancel();
    if (acceptor_) {
        acceptor_->close(ignored);
    }
    for (auto& [id, p] : peers_) {
        p->deadline.cancel();
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
