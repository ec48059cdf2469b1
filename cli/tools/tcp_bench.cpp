// sluice-tcp-bench: the loopback TCP bandwidth of this machine, the ceiling for the broker
// benchmark (scripts/bench-broker.sh). One connection over 127.0.0.1; the main thread writes
// --write-size buffers for --seconds, a reader thread reads and discards them with the same
// buffer size. Throughput is the bytes the reader received over the time from the first write to
// the reader seeing the end of the stream. MB = 2^20 bytes, as in the perf tools.
//
//   sluice-tcp-bench [--seconds S] [--write-size BYTES]
//
// Output: a readable line, then `tcp-bench mb_s=X seconds=X write_size=X`.
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sluice/cli/args.h"

namespace {

using clock_type = std::chrono::steady_clock;
using sluice::cli::option;

constexpr std::array options{
    option{0, "seconds", "S", "how long to write (default 5)"},
    option{0, "write-size", "BYTES", "bytes per write() and read() (default 1048576)"},
};

int die(const char* what) {
    std::fprintf(stderr, "sluice-tcp-bench: %s: %s\n", what, std::strerror(errno));
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> words(argv + 1, argv + argc);
    auto parsed = sluice::cli::parse_args(words, options);
    if (!parsed) {
        std::fprintf(stderr, "sluice-tcp-bench: %s (see --help)\n", parsed.error().message.c_str());
        return 2;
    }
    if (parsed.value().help) {
        std::fputs(
            sluice::cli::usage_text("sluice-tcp-bench [--seconds S] [--write-size BYTES]",
                                    "Measures loopback TCP bandwidth over one connection.", options)
                .c_str(),
            stdout);
        return 0;
    }
    auto seconds =
        sluice::cli::parse_int(parsed.value().get("seconds").value_or("5"), "--seconds", 1, 3600);
    auto write_size = sluice::cli::parse_int(parsed.value().get("write-size").value_or("1048576"),
                                             "--write-size", 1, 64 << 20);
    if (!seconds || !write_size) {
        std::fprintf(stderr, "sluice-tcp-bench: %s\n",
                     (!seconds ? seconds.error() : write_size.error()).message.c_str());
        return 2;
    }

    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0) {
        return die("socket");
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener, 1) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        return die("bind/listen");
    }

    std::atomic<int64_t> received{0};
    std::atomic<int> reader_errno{0};
    clock_type::time_point reader_done;
    std::thread reader([&] {
        int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            reader_errno = errno;
            return;
        }
        std::vector<char> buf(size_t(write_size.value()));
        int64_t total = 0;
        for (;;) {
            ssize_t n = ::read(fd, buf.data(), buf.size());
            if (n > 0) {
                total += n;
                continue;
            }
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                reader_errno = errno;
            }
            break;
        }
        reader_done = clock_type::now();
        received = total;
        ::close(fd);
    });

    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        int rc = die("connect");
        ::shutdown(listener, SHUT_RDWR);
        reader.join();
        return rc;
    }
    std::vector<char> buf(size_t(write_size.value()), 'x');
    const auto start = clock_type::now();
    const auto stop_at = start + std::chrono::seconds(seconds.value());
    while (clock_type::now() < stop_at) {
        size_t off = 0;
        while (off < buf.size()) {
            ssize_t n = ::write(fd, buf.data() + off, buf.size() - off);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                int rc = die("write");
                ::close(fd);
                reader.join();
                return rc;
            }
            off += size_t(n);
        }
    }
    ::shutdown(fd, SHUT_WR);
    reader.join();
    ::close(fd);
    ::close(listener);
    if (reader_errno != 0) {
        errno = reader_errno;
        return die("read");
    }
    const double secs = std::chrono::duration<double>(reader_done - start).count();
    const double mb_s = double(received.load()) / (1024.0 * 1024.0) / secs;
    std::printf("loopback tcp: %.1f MB/s over %.2f s (1 connection, %lld-byte writes)\n", mb_s,
                secs, static_cast<long long>(write_size.value()));
    std::printf("tcp-bench mb_s=%.1f seconds=%.2f write_size=%lld\n", mb_s, secs,
                static_cast<long long>(write_size.value()));
    return 0;
}
