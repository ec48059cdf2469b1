#include "lossy_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <stdexcept>

#include "sluice/protocol/byte_order.h"
#include "sluice/protocol/frame.h"

namespace sluice::testing {

// One client connection and its upstream connection; shut down by whichever side ends first.
struct lossy_proxy::link {
    int client = -1;
    int upstream = -1;
    std::atomic<bool> closed{false};

    void shut() {
        if (!closed.exchange(true)) {
            ::shutdown(client, SHUT_RDWR);
            ::shutdown(upstream, SHUT_RDWR);
        }
    }
    ~link() {
        if (client >= 0) {
            ::close(client);
        }
        if (upstream >= 0) {
            ::close(upstream);
        }
    }
};

namespace {

bool write_all(int fd, const std::byte* p, size_t n) {
    while (n > 0) {
        ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            return false;
        }
        p += w;
        n -= size_t(w);
    }
    return true;
}

bool read_exact(int fd, std::byte* p, size_t n) {
    while (n > 0) {
        ssize_t r = ::recv(fd, p, n, 0);
        if (r <= 0) {
            return false;
        }
        p += r;
        n -= size_t(r);
    }
    return true;
}

int connect_loopback(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        if (fd >= 0) {
            ::close(fd);
        }
        return -1;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

}  // namespace

lossy_proxy::lossy_proxy(int drop_every) : drop_every_(drop_every) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listener_, 64) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        throw std::runtime_error("lossy_proxy: cannot listen");
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
}

lossy_proxy::~lossy_proxy() {
    stop_ = true;
    acceptor_.join();
    std::vector<std::thread> threads;
    {
        std::lock_guard lock(mutex_);
        for (auto& l : links_) {
            l->shut();
        }
        threads.swap(threads_);
    }
    for (auto& t : threads) {
        t.join();
    }
    ::close(listener_);
}

void lossy_proxy::accept_loop() {
    while (!stop_) {
        pollfd p{listener_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) {
            continue;
        }
        int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client >= 0) {
            serve(client);
        }
    }
}

void lossy_proxy::serve(int client) {
    auto l = std::make_shared<link>();
    l->client = client;
    l->upstream = connect_loopback(upstream_.load());
    if (l->upstream < 0) {
        return;  // no broker yet: the client's connection closes (the link's destructor)
    }
    int one = 1;
    ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard lock(mutex_);
    links_.push_back(l);
    // Requests: byte for byte.
    threads_.emplace_back([l] {
        std::byte buf[65536];
        for (;;) {
            ssize_t n = ::recv(l->client, buf, sizeof buf, 0);
            if (n <= 0 || !write_all(l->upstream, buf, size_t(n))) {
                break;
            }
        }
        l->shut();
    });
    // Responses: frame by frame, to see which answer a produce.
    threads_.emplace_back([this, l] {
        std::vector<std::byte> frame;
        for (;;) {
            frame.resize(frame::header_size);
            if (!read_exact(l->upstream, frame.data(), frame.size())) {
                break;
            }
            const size_t total = 4 + size_t(load_be<uint32_t>(frame.data()));
            if (total < frame::header_size) {
                break;
            }
            frame.resize(total);
            if (!read_exact(l->upstream, frame.data() + frame::header_size,
                            total - frame::header_size)) {
                break;
            }
            auto parsed = frame::parse(frame);
            if (parsed && parsed.value().envelope->api_key() == fbs::ApiKey::Produce &&
                ++responses_ % drop_every_ == 0) {
                ++dropped_;
                break;  // lost: both connections close without it
            }
            if (!write_all(l->client, frame.data(), frame.size())) {
                break;
            }
        }
        l->shut();
    });
}

}  // namespace sluice::testing
