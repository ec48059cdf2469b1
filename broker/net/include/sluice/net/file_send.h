// Sending part of a segment file to a socket, on a blocking pool thread (or, for pages the page
// cache holds, copy_cached on the connection's own thread). Two ways, chosen per connection by
// fetch.sendfile (connection.h):
//   sendfile  the kernel moves the file's pages to the socket; no copy in the broker. What a
//             consumer or follower across a network gets.
//   copy      the file is read into a per-thread buffer and sent from it. To a peer with a
//             loopback address this is about twice as fast as sendfile (docs/benchmarks.md):
//             there is no network card to spare a copy for, and the receiver copies either way.
//             It is also the only way for a file without a descriptor (the fault-injecting file
//             system), or where sendfile is not supported.
// Both send until the range is done, the socket is full, or something fails. The socket is
// non-blocking; a full socket is waited for here, briefly (`waits` polls of `wait_ms`), only
// while the reader is taking bytes, so a slow reader never holds a pool thread for long: the
// caller then waits for it on the connection's strand and calls again.
#pragma once

#include <cstdint>
#include <optional>
#include <system_error>

#include <boost/asio/ip/address.hpp>

#include "sluice/storage/file_system.h"

namespace sluice::broker {

// 127.0.0.0/8, ::1, or ::ffff:127.x.y.z.
bool is_loopback(const boost::asio::ip::address& a);

// fetch.sendfile (unset: auto) for a peer at `peer`: true to send with sendfile.
bool use_sendfile(std::optional<bool> setting, const boost::asio::ip::address& peer);

struct send_step {
    uint64_t sent = 0;           // bytes that went to the socket
    int socket_error = 0;        // errno of the send that stopped it (EAGAIN: the socket is full)
    std::error_code read_error;  // the file could not be read (copy), or ended early (both)
    bool not_cached = false;     // copy_cached: stopped at bytes the page cache does not hold
};

struct socket_waits {
    int count = 4;
    int wait_ms = 2;
};

// sendfile(2) of [pos, pos + length) of the file descriptor `in` to the socket `out`.
send_step sendfile_range(int out, int in, uint64_t pos, uint64_t length, socket_waits waits);

// The same through reads of `f` into this thread's buffer (copy_buffer_bytes) and send(2). A
// full socket is seen before reading, so that no read is wasted on it.
send_step copy_range(int out, storage::file& f, uint64_t pos, uint64_t length, socket_waits waits);

// The copy buffer each pool thread keeps once it has copied.
inline constexpr size_t copy_buffer_bytes = 1024 * 1024;

// As copy_range, but reading only what the page cache holds (file::read_cached) and never
// waiting for the socket, so that it may run on a network thread: it saves the hop to the pool
// and back for the common case of a reader close behind the writer. Stops at a full socket
// (EAGAIN), or with not_cached at the first byte the cache lacks (the pool sends the rest).
// Reads at most cached_chunk_bytes at a time into this thread's buffer, so that little is read
// in vain when the socket takes less.
send_step copy_cached(int out, storage::file& f, uint64_t pos, uint64_t length);

inline constexpr size_t cached_chunk_bytes = 256 * 1024;

// The most a connection sends with copy_cached in one turn of its strand before it lets the
// thread's other connections run: a loopback socket may take tens of MiB at once.
inline constexpr uint64_t cached_turn_bytes = 1024 * 1024;

}  // namespace sluice::broker
