// Sending a segment file's range to a non-blocking socket, both ways (sendfile, and read and
// sent through the pool thread's buffer): every byte in order, a full socket reported as EAGAIN
// with what went out, and a file that ends inside the range reported as a read error.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <thread>
#include <vector>

#include "../support/temp_dir.h"
#include "sluice/net/file_send.h"
#include "sluice/storage/file_system.h"

using namespace sluice;
using namespace sluice::broker;

namespace {

struct socket_pair {
    int writer = -1;
    int reader = -1;
    socket_pair() {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
        writer = fds[0];
        reader = fds[1];
        REQUIRE(::fcntl(writer, F_SETFL, ::fcntl(writer, F_GETFL) | O_NONBLOCK) == 0);
    }
    ~socket_pair() {
        ::close(writer);
        ::close(reader);
    }
    // Reads exactly n bytes (blocking).
    std::vector<std::byte> read(size_t n) const {
        std::vector<std::byte> out(n);
        size_t got = 0;
        while (got < n) {
            const ssize_t r = ::read(reader, out.data() + got, n - got);
            REQUIRE(r > 0);
            got += size_t(r);
        }
        return out;
    }
};

// A file of `size` bytes, each byte a function of its position.
struct pattern_file {
    testing::temp_dir dir{"sluice-file-send"};
    std::unique_ptr<storage::file> f;
    std::vector<std::byte> bytes;
    explicit pattern_file(size_t size) : bytes(size) {
        for (size_t i = 0; i < size; ++i) {
            bytes[i] = std::byte((i * 131 + i / 4099) & 0xff);
        }
        auto opened = storage::posix_file_system().open(dir.path() / "seg.log",
                                                        storage::open_mode::read_write);
        REQUIRE(opened.has_value());
        f = std::move(opened).value();
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
        std::vector<std::byte> got;
        std::thread reader([&] { got = s.read(length); });
        // The reader takes bytes, so the sender waits for room, for as long as this allows.
        const send_step r = send(zero_copy, s.writer, p, pos, length, {1000000, 10});
        reader.join();
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
        REQUIRE(first.sent < length);
        // A socket that is full from the start: nothing sent, and no wait on a reader that
        // took nothing, however many waits are allowed.
        const send_step stuck =
            send(zero_copy, s.writer, p, first.sent, length - first.sent, {1000000, 1000});
        CHECK(stuck.sent == 0);
        CHECK(stuck.socket_error == EAGAIN);
        // Drain and resume until done, as the connection does after its strand's wait.
        std::vector<std::byte> got;
        std::thread reader([&] { got = s.read(length); });
        uint64_t sent = first.sent;
        while (sent < length) {
            const send_step r = send(zero_copy, s.writer, p, sent, length - sent, {1000000, 10});
            REQUIRE((r.socket_error == 0 || r.socket_error == EAGAIN));
            REQUIRE_FALSE(r.read_error);
            sent += r.sent;
        }
        reader.join();
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
        if (r.sent > 0) {
            auto got = s.read(size_t(r.sent));
            CHECK(std::equal(got.begin(), got.end(), p.bytes.begin() + 9000));
        }
    }
}
