// Sending a segment file's range to a non-blocking socket, both ways (sendfile, and read and
// sent through the pool thread's buffer): every byte in order, a full socket reported as EAGAIN
// with what went out (and no read wasted on it), a file that ends inside the range reported as a
// read error; which way fetch.sendfile picks for a peer; and the network thread's copy of what
// the page cache holds, which stops at the first byte it lacks.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include "../support/temp_dir.h"
#include "sluice/net/file_send.h"
#include "sluice/storage/file_system.h"

using namespace sluice;
using namespace sluice::broker;
using namespace std::chrono_literals;

namespace {

// A connected pair; the writer end is non-blocking with a small send buffer, so that a few
// hundred KiB fill it whatever the system's defaults.
struct socket_pair {
    int writer = -1;
    int reader = -1;
    socket_pair() {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
        writer = fds[0];
        reader = fds[1];
        const int small = 64 * 1024;
        REQUIRE(::setsockopt(writer, SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
        REQUIRE(::fcntl(writer, F_SETFL, ::fcntl(writer, F_GETFL) | O_NONBLOCK) == 0);
    }
    ~socket_pair() {
        ::close(writer);
        ::close(reader);
    }
    socket_pair(const socket_pair&) = delete;
    socket_pair& operator=(const socket_pair&) = delete;
};

// Reads `n` bytes from the pair on a thread of its own. Destroying it ends the writer's side
// first, so that a sender that failed early cannot leave the thread blocked.
class reader_thread {
  public:
    reader_thread(const socket_pair& s, size_t n) : s_(s), got_(n) {
        thread_ = std::thread([this] {
            size_t at = 0;
            while (at < got_.size()) {
                const ssize_t r = ::read(s_.reader, got_.data() + at, got_.size() - at);
                if (r <= 0) {
                    break;
                }
                at += size_t(r);
            }
            got_.resize(at);
        });
    }
    ~reader_thread() { finish(); }
    // Waits for the reader; returns what it read.
    const std::vector<std::byte>& finish() {
        if (thread_.joinable()) {
            ::shutdown(s_.writer, SHUT_WR);
            thread_.join();
        }
        return got_;
    }

  private:
    const socket_pair& s_;
    std::vector<std::byte> got_;
    std::thread thread_;
};

// A file through the storage seam, counting its reads.
class counting_file : public storage::file {
  public:
    explicit counting_file(std::unique_ptr<storage::file> f) : f_(std::move(f)) {}
    result<size_t> append(std::span<const std::byte> d) override { return f_->append(d); }
    result<size_t> read_at(uint64_t pos, std::span<std::byte> out) override {
        ++reads;
        return f_->read_at(pos, out);
    }
    result<size_t> read_cached(uint64_t pos, std::span<std::byte> out) override {
        if (pos >= cached_below) {
            return make_error_code(std::errc::operation_would_block);
        }
        return f_->read_cached(pos, out.first(std::min<uint64_t>(out.size(), cached_below - pos)));
    }
    result<void> sync() override { return f_->sync(); }
    result<void> truncate(uint64_t size) override { return f_->truncate(size); }
    result<uint64_t> size() override { return f_->size(); }
    int native_handle() const override { return f_->native_handle(); }
    std::atomic<int> reads{0};
    uint64_t cached_below = UINT64_MAX;  // read_cached claims no byte from here on is cached

  private:
    std::unique_ptr<storage::file> f_;
};

// A file of `size` bytes, each byte a function of its position.
struct pattern_file {
    testing::temp_dir dir{"sluice-file-send"};
    std::unique_ptr<counting_file> f;
    std::vector<std::byte> bytes;
    explicit pattern_file(size_t size) : bytes(size) {
        for (size_t i = 0; i < size; ++i) {
            bytes[i] = std::byte((i * 131 + i / 4099) & 0xff);
        }
        auto opened = storage::posix_file_system().open(dir.path() / "seg.log",
                                                        storage::open_mode::read_write);
        REQUIRE(opened.has_value());
        f = std::make_unique<counting_file>(std::move(opened).value());
        size_t written = 0;
        REQUIRE(storage::append_all(*f, bytes, written).has_value());
    }
};

send_step send(bool zero_copy, int out, pattern_file& p, uint64_t pos, uint64_t length,
               socket_waits waits) {
    return zero_copy ? sendfile_range(out, p.f->native_handle(), pos, length, waits)
                     : copy_range(out, *p.f, pos, length, waits);
}

}  // namespace

TEST_CASE("a file range reaches the socket byte for byte, both ways, with a reader keeping up") {
    // Larger than the copy buffer, at an odd position: several buffers, a partial last one.
    pattern_file p(copy_buffer_bytes * 3 + 5000);
    const uint64_t pos = 777;
    const uint64_t length = copy_buffer_bytes * 3 + 1234;
    for (const bool zero_copy : {true, false}) {
        CAPTURE(zero_copy);
        socket_pair s;
        reader_thread reader(s, length);
        // The reader takes bytes, so the sender waits for room, for as long as this allows.
        const send_step r = send(zero_copy, s.writer, p, pos, length, {1000000, 10});
        const auto& got = reader.finish();
        CHECK(r.sent == length);
        CHECK(r.socket_error == 0);
        CHECK_FALSE(r.read_error);
        REQUIRE(got.size() == length);
        CHECK(std::equal(got.begin(), got.end(), p.bytes.begin() + pos));
    }
}

TEST_CASE("a full socket stops a send with EAGAIN; the next call goes on from what was sent") {
    pattern_file p(copy_buffer_bytes * 4);
    const uint64_t length = p.bytes.size();
    for (const bool zero_copy : {true, false}) {
        CAPTURE(zero_copy);
        socket_pair s;
        // Nobody reads: the socket fills and the call returns (no waits allowed).
        const send_step first = send(zero_copy, s.writer, p, 0, length, {0, 1});
        CHECK(first.socket_error == EAGAIN);
        CHECK_FALSE(first.read_error);
        REQUIRE(first.sent > 0);
        REQUIRE(first.sent < length);
        // A socket full from the start: nothing sent, nothing read, and no wait for a reader
        // that took nothing (a 5 s wait is allowed and must not happen).
        const int reads_before = p.f->reads;
        const auto start = std::chrono::steady_clock::now();
        const send_step stuck =
            send(zero_copy, s.writer, p, first.sent, length - first.sent, {1, 5000});
        CHECK(std::chrono::steady_clock::now() - start < 2500ms);
        CHECK(stuck.sent == 0);
        CHECK(stuck.socket_error == EAGAIN);
        CHECK(p.f->reads == reads_before);
        // Drain and resume until done, as the connection does after its strand's wait.
        reader_thread reader(s, length);
        uint64_t sent = first.sent;
        while (sent < length) {
            const send_step r = send(zero_copy, s.writer, p, sent, length - sent, {1000000, 10});
            REQUIRE((r.socket_error == 0 || r.socket_error == EAGAIN));
            REQUIRE_FALSE(r.read_error);
            sent += r.sent;
        }
        const auto& got = reader.finish();
        CHECK(sent == length);
        CHECK(got == p.bytes);
    }
}

TEST_CASE("a file that ends inside the range is a read error, after the bytes it has") {
    pattern_file p(10000);
    for (const bool zero_copy : {true, false}) {
        CAPTURE(zero_copy);
        socket_pair s;
        const send_step r = send(zero_copy, s.writer, p, 9000, 5000, {0, 1});
        CHECK(r.read_error);
        CHECK(r.socket_error == 0);
        // sendfile sends what the file has; a read of the whole piece fails before sending.
        CHECK(r.sent == (zero_copy ? 1000 : 0));
        reader_thread reader(s, size_t(r.sent));
        const auto& got = reader.finish();
        REQUIRE(got.size() == r.sent);
        CHECK(std::equal(got.begin(), got.end(), p.bytes.begin() + 9000));
    }
}

TEST_CASE("fetch.sendfile: auto sends with sendfile except to a loopback address") {
    using boost::asio::ip::make_address;
    for (const char* local : {"127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"}) {
        CAPTURE(local);
        CHECK(is_loopback(make_address(local)));
        CHECK_FALSE(use_sendfile(std::nullopt, make_address(local)));
        CHECK(use_sendfile(true, make_address(local)));
    }
    for (const char* remote : {"10.1.2.3", "::ffff:10.1.2.3", "2001:db8::1", "0.0.0.0"}) {
        CAPTURE(remote);
        CHECK_FALSE(is_loopback(make_address(remote)));
        CHECK(use_sendfile(std::nullopt, make_address(remote)));
        CHECK_FALSE(use_sendfile(false, make_address(remote)));
    }
}

// Whether this file system answers reads from the page cache alone (preadv2 RWF_NOWAIT; not
// overlayfs, for one): where it cannot, every fetched range goes through the pool.
bool reads_cached(pattern_file& p) {
    std::vector<std::byte> one(1);
    if (p.f->read_cached(0, one).has_value()) {
        return true;
    }
    MESSAGE("this file system cannot read from the page cache alone: nothing to check");
    return false;
}

TEST_CASE("copy_cached sends what the page cache holds, on this thread, and stops where it ends") {
    pattern_file p(cached_chunk_bytes * 5 + 100);
    if (!reads_cached(p)) {
        return;
    }
    const uint64_t length = p.bytes.size();
    socket_pair s;
    // Nobody reads: a full socket stops it at once, without waiting.
    const send_step first = copy_cached(s.writer, *p.f, 0, length);
    CHECK(first.socket_error == EAGAIN);
    CHECK_FALSE(first.not_cached);
    REQUIRE(first.sent > 0);
    REQUIRE(first.sent < length);
    // The rest once a reader drains the socket, up to where the cache is said to end; from
    // there the pool's copy_range sends it.
    p.f->cached_below = length - 3000;
    reader_thread reader(s, length);
    uint64_t sent = first.sent;
    send_step r;
    while (!r.not_cached) {
        pollfd room{s.writer, POLLOUT, 0};
        (void)::poll(&room, 1, 1000);
        r = copy_cached(s.writer, *p.f, sent, length - sent);
        REQUIRE((r.socket_error == 0 || r.socket_error == EAGAIN));
        REQUIRE_FALSE(r.read_error);
        sent += r.sent;
        REQUIRE((r.not_cached || sent < length - 3000));
    }
    CHECK(sent == length - 3000);
    while (sent < length) {
        const send_step rest = copy_range(s.writer, *p.f, sent, length - sent, {1000000, 10});
        REQUIRE_FALSE(rest.read_error);
        sent += rest.sent;
    }
    const auto& got = reader.finish();
    CHECK(got == p.bytes);
}

TEST_CASE("a posix file reads from the page cache only what is there") {
    pattern_file p(1 << 20);
    if (!reads_cached(p)) {
        return;
    }
    std::vector<std::byte> out(4096);
    auto cached = p.f->read_cached(8192, out);
    REQUIRE(cached.has_value());  // just written: in the cache
    CHECK(cached.value() == out.size());
    CHECK(std::equal(out.begin(), out.end(), p.bytes.begin() + 8192));
    // Pushed out of the cache (once on disk), it must come from the disk: not on this thread.
    REQUIRE(p.f->sync().has_value());
    REQUIRE(::posix_fadvise(p.f->native_handle(), 0, 0, POSIX_FADV_DONTNEED) == 0);
    auto evicted = p.f->read_cached(8192, out);
    if (evicted.has_value()) {
        MESSAGE("this file system keeps the pages (a memory file system?): nothing to check");
        return;
    }
    CHECK(evicted.error() == std::errc::operation_would_block);
}
