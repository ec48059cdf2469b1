#include "sluice/controller/raft_transport.h"

#include <cstring>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "sluice/protocol/frame.h"

namespace sluice::controller {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock = std::chrono::steady_clock;

struct raft_transport::peer {
    peer(asio::any_io_executor ex, int32_t node) : id(node), deadline(ex) {}
    int32_t id;
    tcp::endpoint at;
    asio::steady_timer deadline;          // of the connect or write under way
    std::shared_ptr<tcp::socket> socket;  // set while connecting or connected
    bool open = false;                    // connected
    bool writing = false;
    std::deque<std::vector<std::byte>> queue;
    size_t queued_bytes = 0;
    clock::time_point next_connect{};
};

struct raft_transport::inbound {
    std::shared_ptr<tcp::socket> socket;
    bool writing = false;
    std::deque<std::vector<std::byte>> queue;
    size_t queued_bytes = 0;
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
        p = std::make_unique<peer>(ex_, id.value());
    } else if (p->at != at) {
        reset(*p);
        p->next_connect = {};
    }
    p->at = at;
}

void raft_transport::route(node_id_t id, uint64_t link) {
    if (link != 0 && !peers_.contains(id.value()) && inbound_.contains(link)) {
        routes_[id.value()] = link;
    }
}

void raft_transport::make_room(std::deque<std::vector<std::byte>>& queue, size_t& queued_bytes,
                               size_t more) {
    while (!queue.empty() && (queue.size() >= opts_.frames_queued_max ||
                              queued_bytes + more > opts_.queued_bytes_max)) {
        queued_bytes -= queue.front().size();
        queue.pop_front();
        ++frames_dropped_;
    }
}

void raft_transport::send(node_id_t to, std::vector<std::byte> frame) {
    if (!*alive_) {
        ++frames_dropped_;
        return;
    }
    auto it = peers_.find(to.value());
    if (it == peers_.end()) {
        auto r = routes_.find(to.value());
        auto in = r == routes_.end() ? inbound_.end() : inbound_.find(r->second);
        if (in == inbound_.end()) {
            ++frames_dropped_;
            return;
        }
        auto link = in->second;
        make_room(link->queue, link->queued_bytes, frame.size());
        link->queued_bytes += frame.size();
        link->queue.push_back(std::move(frame));
        if (!link->writing) {
            write_inbound(link);
        }
        return;
    }
    peer& p = *it->second;
    if (!p.socket && clock::now() < p.next_connect) {
        ++frames_dropped_;  // backing off after a failure: it would be stale when it went
        return;
    }
    make_room(p.queue, p.queued_bytes, frame.size());
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
            read(s, 0);  // the peer answers on this connection if it has no route to us
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
    if (on_down_ && *alive_) {
        asio::post(ex_, [this, alive = alive_, id = p.id] {
            if (*alive && on_down_) {
                on_down_(node_id_t{id});
            }
        });
    }
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
                auto in = std::make_shared<inbound>();
                in->socket = std::make_shared<tcp::socket>(std::move(socket));
                boost::system::error_code ignored;
                in->socket->set_option(tcp::no_delay(true), ignored);
                const uint64_t link = next_link_++;
                inbound_.emplace(link, in);
                read(in->socket, link);
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

void raft_transport::read(std::shared_ptr<tcp::socket> s, uint64_t link) {
    auto header = std::make_shared<std::array<std::byte, frame::header_size>>();
    // An inbound connection that fails is forgotten; an outbound one is the peer's to reset
    // (its next write fails too).
    auto done = [this, link] {
        if (link != 0) {
            if (auto it = inbound_.find(link); it != inbound_.end()) {
                boost::system::error_code ignored;
                it->second->socket->close(ignored);
                inbound_.erase(it);
            }
            std::erase_if(routes_, [link](const auto& r) { return r.second == link; });
        }
    };
    asio::async_read(
        *s, asio::buffer(*header),
        [this, alive = alive_, s, header, link, done](const boost::system::error_code& ec, size_t) {
            if (!*alive) {
                return;
            }
            if (ec) {
                return done();  // the socket goes with the last handler holding it
            }
            auto h = frame::parse_header(*header, opts_.frame_bytes_max);
            if (!h) {
                return done();  // too large or malformed: this connection ends, others go on
            }
            auto whole = std::make_shared<std::vector<std::byte>>(h.value().total());
            std::memcpy(whole->data(), header->data(), header->size());
            asio::async_read(
                *s, asio::buffer(whole->data() + header->size(), whole->size() - header->size()),
                [this, alive, s, whole, link, done](const boost::system::error_code& ec2, size_t) {
                    if (!*alive) {
                        return;
                    }
                    if (ec2) {
                        return done();
                    }
                    on_frame_(*whole, link);
                    if (*alive) {
                        read(s, link);
                    }
                });
        });
}

void raft_transport::write_inbound(const std::shared_ptr<inbound>& in) {
    if (in->queue.empty()) {
        in->writing = false;
        return;
    }
    in->writing = true;
    auto frame = std::make_shared<std::vector<std::byte>>(std::move(in->queue.front()));
    in->queue.pop_front();
    in->queued_bytes -= frame->size();
    // No deadline of its own: a peer that stops reading fails its own requests' timeouts, and
    // its connection ends when its reads fail (or the transport closes).
    asio::async_write(
        *in->socket, asio::buffer(*frame),
        [this, alive = alive_, in, frame](const boost::system::error_code& ec, size_t) {
            if (!*alive) {
                return;
            }
            if (ec) {
                ++frames_dropped_;
                boost::system::error_code ignored;
                in->socket->close(ignored);  // the read ends and forgets it
                in->queue.clear();
                in->queued_bytes = 0;
                in->writing = false;
                return;
            }
            write_inbound(in);
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
    for (auto& [link, in] : inbound_) {
        in->socket->close(ignored);
    }
    inbound_.clear();
    routes_.clear();
}

}  // namespace sluice::controller
