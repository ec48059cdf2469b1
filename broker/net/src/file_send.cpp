#include "sluice/net/file_send.h"

#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "sluice/protocol/errc.h"

namespace sluice::broker {
namespace {

// After EAGAIN: waits for room if the reader took bytes during this call and waits are left.
// True to try again.
bool wait_for_room(int out, const send_step& s, socket_waits& waits) {
    if (s.sent == 0 || waits.count <= 0) {
        return false;
    }
    --waits.count;
    pollfd p{out, POLLOUT, 0};
    (void)::poll(&p, 1, waits.wait_ms);
    return true;
}

}  // namespace

bool is_loopback(const boost::asio::ip::address& a) {
    if (a.is_v6() && a.to_v6().is_v4_mapped()) {
        return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6())
            .is_loopback();
    }
    return a.is_loopback();
}

bool use_sendfile(std::optional<bool> setting, const boost::asio::ip::address& peer) {
    return setting.value_or(!is_loopback(peer));
}

send_step sendfile_range(int out, int in, uint64_t pos, uint64_t length, socket_waits waits) {
    send_step s;
    off_t at = off_t(pos);
    while (s.sent < length) {
        const size_t want = size_t(std::min<uint64_t>(length - s.sent, 1u << 30));
        const ssize_t n = ::sendfile(out, in, &at, want);
        if (n > 0) {
            s.sent += uint64_t(n);
        } else if (n == 0) {
            s.read_error = make_error_code(errc::corrupt_message);  // the file is shorter
            break;
        } else if (errno == EAGAIN && wait_for_room(out, s, waits)) {
            continue;
        } else if (errno != EINTR) {
            s.socket_error = errno;
            break;
        }
    }
    return s;
}

send_step copy_range(int out, storage::file& f, uint64_t pos, uint64_t length, socket_waits waits) {
    // One per pool thread, kept for the thread's life: background.threads × copy_buffer_bytes.
    thread_local const std::unique_ptr<std::byte[]> buffer(new std::byte[copy_buffer_bytes]);
    send_step s;
    while (s.sent < length) {
        // Nothing is read for a full socket: the bytes would be dropped and read again.
        pollfd room{out, POLLOUT, 0};
        if (::poll(&room, 1, 0) == 0) {
            if (wait_for_room(out, s, waits)) {
                continue;
            }
            s.socket_error = EAGAIN;
            break;
        }
        const size_t chunk = size_t(std::min<uint64_t>(length - s.sent, copy_buffer_bytes));
        auto read = storage::read_exact(f, pos + s.sent, std::span(buffer.get(), chunk));
        if (!read) {
            s.read_error = read.error();
            break;
        }
        size_t done = 0;
        while (done < chunk) {
            const ssize_t n = ::send(out, buffer.get() + done, chunk - done, MSG_NOSIGNAL);
            if (n > 0) {
                done += size_t(n);
                s.sent += uint64_t(n);
            } else if (n < 0 && errno == EAGAIN && wait_for_room(out, s, waits)) {
                continue;
            } else if (n < 0 && errno == EINTR) {
                continue;
            } else {
                s.socket_error = n < 0 ? errno : EPIPE;
                return s;
            }
        }
    }
    return s;
}

send_step copy_cached(int out, storage::file& f, uint64_t pos, uint64_t length) {
    // One per network thread: num.io.threads × cached_chunk_bytes.
    thread_local const std::unique_ptr<std::byte[]> buffer(new std::byte[cached_chunk_bytes]);
    send_step s;
    while (s.sent < length) {
        const size_t want = size_t(std::min<uint64_t>(length - s.sent, cached_chunk_bytes));
        auto read = f.read_cached(pos + s.sent, std::span(buffer.get(), want));
        if (!read && read.error() == std::errc::operation_would_block) {
            s.not_cached = true;
            break;
        }
        if (!read) {
            s.read_error = read.error();
            break;
        }
        if (read.value() == 0) {
            s.read_error = make_error_code(errc::corrupt_message);  // the file is shorter
            break;
        }
        const size_t got = read.value();
        size_t done = 0;
        while (done < got) {
            const ssize_t n =
                ::send(out, buffer.get() + done, got - done, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                done += size_t(n);
                s.sent += uint64_t(n);
            } else if (n < 0 && errno == EINTR) {
                continue;
            } else {
                s.socket_error = n < 0 ? errno : EPIPE;  // EAGAIN: full; the rest is read again
                return s;
            }
        }
    }
    return s;
}

}  // namespace sluice::broker
