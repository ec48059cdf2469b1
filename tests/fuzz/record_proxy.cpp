// fuzz-record-proxy: a TCP proxy on the loopback interface that sits between real clients and a
// real broker and records the frames it relays (frame_sink.h), to seed the fuzz corpus.
//
//   fuzz-record-proxy --out DIR --port-file FILE --upstream-port-file FILE
//
// It binds an ephemeral port and writes it to --port-file (complete once the file exists). For
// every client it accepts, it reads the broker's port from --upstream-port-file, so the broker
// may start after the proxy: the broker must advertise the proxy's port
// (advertised.listeners), or clients would go around it after their first metadata request.
// It starts nothing itself; scripts/fuzz-corpus.sh runs it. SIGTERM or SIGINT ends it, with
// the line "fuzz-record-proxy frames=N kept=K batches=B" on stdout. Stop it once the clients are
// done: a frame that arrives while it stops may be missing or cut short.
//
// Each relayed direction has a thread that copies bytes as they come (the proxy never delays or
// reorders them) and cuts the stream into frames at the u32 length prefix for the sink.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "frame_sink.h"
#include "sluice/protocol/byte_order.h"

namespace {

using sluice::fuzz::direction;
using sluice::fuzz::frame_sink;

struct options {
    std::string out;
    std::string port_file;
    std::string upstream_port_file;
};

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "fuzz-record-proxy: %s: %s\n", what.c_str(), std::strerror(errno));
    std::exit(1);
}

std::optional<options> parse_args(int argc, char** argv) {
    options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string flag = argv[i];
        if (flag == "--out") {
            o.out = argv[i + 1];
        } else if (flag == "--port-file") {
            o.port_file = argv[i + 1];
        } else if (flag == "--upstream-port-file") {
            o.upstream_port_file = argv[i + 1];
        } else {
            return std::nullopt;
        }
    }
    if (argc % 2 == 0 || o.out.empty() || o.port_file.empty() || o.upstream_port_file.empty()) {
        return std::nullopt;
    }
    return o;
}

sockaddr_in loopback(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

// The broker's port, or 0 if the file is missing or does not hold one.
uint16_t read_port(const std::string& path) {
    std::ifstream in(path);
    unsigned port = 0;
    if (!(in >> port) || port > 65535) {
        return 0;
    }
    return uint16_t(port);
}

// Cuts a byte stream into frames: u32 big-endian length, then that many bytes.
class frame_splitter {
  public:
    frame_splitter(frame_sink& sink, direction d) : sink_(sink), d_(d) {}

    void feed(const std::byte* data, size_t n) {
        buf_.insert(buf_.end(), data, data + n);
        size_t at = 0;
        while (buf_.size() - at >= 4) {
            size_t total = 4 + size_t(sluice::load_be<uint32_t>(buf_.data() + at));
            if (buf_.size() - at < total) {
                break;
            }
            sink_.add(d_, {buf_.data() + at, total});
            at += total;
        }
        buf_.erase(buf_.begin(), buf_.begin() + ptrdiff_t(at));
    }

  private:
    frame_sink& sink_;
    direction d_;
    std::vector<std::byte> buf_;
};

// Copies `from` to `to` until EOF or an error, then half-closes `to` so the far side sees EOF.
void relay(int from, int to, frame_splitter splitter) {
    std::vector<std::byte> buf(64 << 10);
    while (true) {
        ssize_t n = ::read(from, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        splitter.feed(buf.data(), size_t(n));
        for (ssize_t sent = 0; sent < n;) {
            ssize_t w = ::send(to, buf.data() + sent, size_t(n - sent), MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w <= 0) {
                ::shutdown(from, SHUT_RD);
                ::shutdown(to, SHUT_WR);
                return;
            }
            sent += w;
        }
    }
    ::shutdown(to, SHUT_WR);
}

// Relays one client connection both ways; closes both sockets when both directions ended.
void serve(int client, const std::string& upstream_port_file, frame_sink& sink) {
    uint16_t port = read_port(upstream_port_file);
    int broker = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = loopback(port);
    if (port == 0 || broker < 0 ||
        ::connect(broker, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        std::fprintf(stderr, "fuzz-record-proxy: cannot reach the broker on port %u\n", port);
        ::close(client);
        if (broker >= 0) {
            ::close(broker);
        }
        return;
    }
    std::thread up(relay, client, broker, frame_splitter(sink, direction::request));
    relay(broker, client, frame_splitter(sink, direction::response));
    up.join();
    ::close(client);
    ::close(broker);
}

}  // namespace

int main(int argc, char** argv) {
    auto opts = parse_args(argc, argv);
    if (!opts) {
        std::fprintf(stderr,
                     "usage: fuzz-record-proxy --out DIR --port-file FILE "
                     "--upstream-port-file FILE\n");
        return 2;
    }
    // The signals that end the proxy are taken by sigwait() below, on the main thread only.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);

    int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = loopback(0);
    socklen_t len = sizeof(addr);
    if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listener, 64) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        die("listen");
    }
    {
        std::string tmp = opts->port_file + ".tmp";
        std::ofstream(tmp) << ntohs(addr.sin_port) << "\n";
        std::rename(tmp.c_str(), opts->port_file.c_str());
    }

    static frame_sink sink(opts->out, frame_sink::limits{});
    std::thread acceptor([listener, upstream = opts->upstream_port_file] {
        while (true) {
            int client = ::accept(listener, nullptr, nullptr);
            if (client < 0) {
                if (errno == EINTR || errno == ECONNABORTED) {
                    continue;
                }
                return;
            }
            std::thread(serve, client, upstream, std::ref(sink)).detach();
        }
    });
    acceptor.detach();

    int sig = 0;
    sigwait(&stop, &sig);
    // summary() takes the sink's lock, so a file being written is finished first.
    std::printf("fuzz-record-proxy %s\n", sink.summary().c_str());
    std::fflush(stdout);
    std::_Exit(0);
}
