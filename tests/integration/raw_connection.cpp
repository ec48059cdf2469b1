#include "raw_connection.h"

#include <cerrno>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace sluice::testing {
namespace {

using clock_type = std::chrono::steady_clock;

int remaining_ms(clock_type::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    return left.count() < 0 ? 0 : int(left.count());
}

}  // namespace

result<raw_connection> raw_connection::connect(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return errno_code();
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        auto ec = errno_code();
        ::close(fd);
        return ec;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return raw_connection(fd);
}

raw_connection::~raw_connection() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

result<void> raw_connection::send_bytes(std::span<const std::byte> bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
        ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return errno_code();
        }
        off += size_t(n);
    }
    return success();
}

void raw_connection::shutdown_write() {
    ::shutdown(fd_, SHUT_WR);
}

result<void> raw_connection::read_exact(std::byte* out, size_t n, clock_type::time_point deadline) {
    size_t got = 0;
    while (got < n) {
        pollfd p{fd_, POLLIN, 0};
        int rc = ::poll(&p, 1, remaining_ms(deadline));
        if (rc < 0 && errno == EINTR) {
            continue;
        }
        if (rc == 0) {
            return std::make_error_code(std::errc::timed_out);
        }
        ssize_t r = ::recv(fd_, out + got, n - got, 0);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r == 0 || (r < 0 && errno == ECONNRESET)) {
            return std::make_error_code(std::errc::connection_reset);
        }
        if (r < 0) {
            return errno_code();
        }
        got += size_t(r);
    }
    return success();
}

result<std::vector<std::byte>> raw_connection::read_frame(std::chrono::milliseconds timeout) {
    const auto deadline = clock_type::now() + timeout;
    std::vector<std::byte> buf(frame::header_size);
    SLUICE_TRY(read_exact(buf.data(), buf.size(), deadline));
    SLUICE_TRY(frame::header h, frame::parse_header(buf, frame::frame_bytes_max_default));
    buf.resize(h.total());
    SLUICE_TRY(
        read_exact(buf.data() + frame::header_size, buf.size() - frame::header_size, deadline));
    return buf;
}

bool raw_connection::closed_by_peer(std::chrono::milliseconds timeout) {
    const auto deadline = clock_type::now() + timeout;
    char buf[4096];
    for (;;) {
        pollfd p{fd_, POLLIN, 0};
        int rc = ::poll(&p, 1, remaining_ms(deadline));
        if (rc < 0 && errno == EINTR) {
            continue;
        }
        if (rc == 0) {
            return false;
        }
        ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
        if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
            return true;
        }
    }
}

frame::writer api_versions_request(int32_t correlation_id, fbs::ApiKey key, int16_t version) {
    frame::writer w;
    auto& fbb = w.fbb();
    auto body = fbs::CreateApiVersionsRequestDirect(fbb, "sluice-integration-test", "0");
    w.finish(frame::make_envelope(fbb, key, version, correlation_id, fbs::Body::ApiVersionsRequest,
                                  body.Union()));
    return w;
}

frame::writer mismatched_request(int32_t correlation_id, fbs::ApiKey key) {
    frame::writer w;
    auto& fbb = w.fbb();
    auto body = fbs::CreateMetadataRequestDirect(fbb, nullptr, true, false);
    w.finish(frame::make_envelope(fbb, key, 0, correlation_id, fbs::Body::MetadataRequest,
                                  body.Union()));
    return w;
}

frame::writer fetch_request(int32_t correlation_id, const std::string& topic, int32_t partition,
                            int64_t offset, int32_t max_wait_ms, int32_t min_bytes) {
    frame::writer w;
    auto& fbb = w.fbb();
    std::vector<flatbuffers::Offset<fbs::FetchPartition>> parts{
        fbs::CreateFetchPartition(fbb, partition, offset, 1 << 20, -1)};
    std::vector<flatbuffers::Offset<fbs::FetchTopic>> topics{
        fbs::CreateFetchTopicDirect(fbb, topic.c_str(), &parts)};
    auto body = fbs::CreateFetchRequestDirect(fbb, -1, max_wait_ms, min_bytes, 1 << 20, &topics);
    w.finish(frame::make_envelope(fbb, fbs::ApiKey::Fetch, 0, correlation_id,
                                  fbs::Body::FetchRequest, body.Union()));
    return w;
}

result<const fbs::Envelope*> envelope_of(const std::vector<std::byte>& frame_bytes) {
    SLUICE_TRY(frame::frame_view v, frame::parse(frame_bytes));
    return v.envelope;
}

}  // namespace sluice::testing
