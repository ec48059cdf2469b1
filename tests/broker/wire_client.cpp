#include "wire_client.h"

#include <doctest/doctest.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <climits>

#include "sluice/protocol/byte_order.h"

namespace sluice::testing {
namespace {

using clock_type = std::chrono::steady_clock;

// Reads exactly `n` bytes before `deadline`; false on close, error or timeout.
bool read_exact(int fd, std::byte* out, size_t n, clock_type::time_point deadline) {
    size_t got = 0;
    while (got < n) {
        auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
        if (left.count() <= 0) {
            return false;
        }
        pollfd p{fd, POLLIN, 0};
        int r = ::poll(&p, 1, int(left.count()));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return false;
        }
        ssize_t k = ::recv(fd, out + got, n - got, 0);
        if (k <= 0) {
            if (k < 0 && errno == EINTR) {
                continue;
            }
            return false;
        }
        got += size_t(k);
    }
    return true;
}

frame::writer finish(frame::writer w, fbs::ApiKey key, int32_t correlation, fbs::Body type,
                     flatbuffers::Offset<void> body) {
    w.finish(frame::make_envelope(w.fbb(), key, 0, correlation, type, body));
    return w;
}

}  // namespace

wire_client::wire_client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

wire_client::~wire_client() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

void wire_client::send_raw(std::span<const std::byte> bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
        ssize_t k = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return;  // the broker closed; the test notices when it reads
        }
        sent += size_t(k);
    }
}

void wire_client::send(const frame::writer& w) {
    // One gather write, as the broker does: the data section is not copied.
    auto bufs = w.buffers();
    std::vector<iovec> iov;
    for (auto b : bufs) {
        iov.push_back({const_cast<std::byte*>(b.data()), b.size()});
    }
    size_t i = 0;
    while (i < iov.size()) {
        msghdr m{};
        m.msg_iov = iov.data() + i;
        m.msg_iovlen = std::min<size_t>(iov.size() - i, IOV_MAX);
        ssize_t k = ::sendmsg(fd_, &m, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return;  // the broker closed; the test notices when it reads
        }
        size_t left = size_t(k);
        while (i < iov.size() && left >= iov[i].iov_len) {
            left -= iov[i].iov_len;
            ++i;
        }
        if (left > 0) {
            iov[i].iov_base = static_cast<std::byte*>(iov[i].iov_base) + left;
            iov[i].iov_len -= left;
        }
    }
}

std::optional<received_frame> wire_client::receive(std::chrono::milliseconds timeout) {
    auto deadline = clock_type::now() + timeout;
    std::byte head[frame::header_size];
    if (!read_exact(fd_, head, sizeof head, deadline)) {
        return std::nullopt;
    }
    uint32_t frame_length = load_be<uint32_t>(head);
    received_frame f;
    f.size = 4 + size_t(frame_length);
    f.storage.resize((f.size + 7) / 8);
    auto* bytes = reinterpret_cast<std::byte*>(f.storage.data());
    std::memcpy(bytes, head, sizeof head);
    if (!read_exact(fd_, bytes + sizeof head, f.size - sizeof head, deadline)) {
        return std::nullopt;
    }
    auto parsed = frame::parse({bytes, f.size});
    REQUIRE_MESSAGE(parsed.has_value(), "the broker sent an invalid frame");
    f.envelope = parsed.value().envelope;
    f.data = parsed.value().data;
    return f;
}

bool wire_client::wait_closed(std::chrono::milliseconds timeout) {
    auto deadline = clock_type::now() + timeout;
    std::byte sink[4096];
    for (;;) {
        auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
        if (left.count() <= 0) {
            return false;
        }
        pollfd p{fd_, POLLIN, 0};
        int r = ::poll(&p, 1, int(left.count()));
        if (r <= 0) {
            continue;
        }
        ssize_t k = ::recv(fd_, sink, sizeof sink, 0);
        if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN)) {
            return true;
        }
    }
}

received_frame wire_client::call(const frame::writer& w) {
    send(w);
    auto f = receive();
    REQUIRE_MESSAGE(f.has_value(), "no response from the broker");
    return std::move(*f);
}

frame::writer api_versions_request(int32_t correlation) {
    frame::writer w;
    auto body = fbs::CreateApiVersionsRequest(w.fbb());
    return finish(std::move(w), fbs::ApiKey::ApiVersions, correlation,
                  fbs::Body::ApiVersionsRequest, body.Union());
}

frame::writer create_topics_request(int32_t correlation, const std::string& name,
                                    int32_t partitions, int16_t replication_factor,
                                    const std::map<std::string, std::string>& configs,
                                    bool validate_only) {
    frame::writer w;
    auto& fbb = w.fbb();
    std::vector<flatbuffers::Offset<fbs::TopicConfig>> cs;
    for (const auto& [k, v] : configs) {
        cs.push_back(fbs::CreateTopicConfig(fbb, fbb.CreateString(k), fbb.CreateString(v)));
    }
    auto topic = fbs::CreateCreatableTopic(fbb, fbb.CreateString(name), partitions,
                                           replication_factor, fbb.CreateVector(cs));
    std::vector<flatbuffers::Offset<fbs::CreatableTopic>> topics{topic};
    auto body = fbs::CreateCreateTopicsRequest(fbb, fbb.CreateVector(topics), 30000, validate_only);
    return finish(std::move(w), fbs::ApiKey::CreateTopics, correlation,
                  fbs::Body::CreateTopicsRequest, body.Union());
}

frame::writer delete_topics_request(int32_t correlation, const std::vector<std::string>& names) {
    frame::writer w;
    auto& fbb = w.fbb();
    auto body = fbs::CreateDeleteTopicsRequest(fbb, fbb.CreateVectorOfStrings(names));
    return finish(std::move(w), fbs::ApiKey::DeleteTopics, correlation,
                  fbs::Body::DeleteTopicsRequest, body.Union());
}

frame::writer metadata_request(int32_t correlation, const std::vector<std::string>& topics,
                               bool all_topics, bool allow_auto_create) {
    frame::writer w;
    auto& fbb = w.fbb();
    auto body = fbs::CreateMetadataRequest(fbb, fbb.CreateVectorOfStrings(topics), all_topics,
                                           allow_auto_create);
    return finish(std::move(w), fbs::ApiKey::Metadata, correlation, fbs::Body::MetadataRequest,
                  body.Union());
}

frame::writer produce_request(int32_t correlation, const std::string& topic, int32_t partition,
                              const std::vector<std::byte>& batches, int16_t acks,
                              int32_t timeout_ms) {
    frame::writer w;
    auto& fbb = w.fbb();
    auto ref = w.add_data(batches);
    std::vector<flatbuffers::Offset<fbs::ProducePartition>> parts{
        fbs::CreateProducePartition(fbb, partition, &ref)};
    std::vector<flatbuffers::Offset<fbs::ProduceTopic>> topics{
        fbs::CreateProduceTopic(fbb, fbb.CreateString(topic), fbb.CreateVector(parts))};
    auto body = fbs::CreateProduceRequest(fbb, acks, timeout_ms, fbb.CreateVector(topics));
    return finish(std::move(w), fbs::ApiKey::Produce, correlation, fbs::Body::ProduceRequest,
                  body.Union());
}

frame::writer fetch_request(int32_t correlation, const std::string& topic, int32_t partition,
                            int64_t offset, int32_t max_wait_ms, int32_t min_bytes,
                            int32_t partition_max_bytes, int32_t max_bytes) {
    frame::writer w;
    auto& fbb = w.fbb();
    std::vector<flatbuffers::Offset<fbs::FetchPartition>> parts{
        fbs::CreateFetchPartition(fbb, partition, offset, partition_max_bytes)};
    std::vector<flatbuffers::Offset<fbs::FetchTopic>> topics{
        fbs::CreateFetchTopic(fbb, fbb.CreateString(topic), fbb.CreateVector(parts))};
    auto body = fbs::CreateFetchRequest(fbb, -1, max_wait_ms, min_bytes, max_bytes,
                                        fbb.CreateVector(topics));
    return finish(std::move(w), fbs::ApiKey::Fetch, correlation, fbs::Body::FetchRequest,
                  body.Union());
}

frame::writer fetch_partitions_request(int32_t correlation, const std::string& topic,
                                       const std::vector<std::pair<int32_t, int64_t>>& partitions,
                                       int32_t partition_max_bytes, int32_t max_bytes) {
    frame::writer w;
    auto& fbb = w.fbb();
    std::vector<flatbuffers::Offset<fbs::FetchPartition>> parts;
    for (const auto& [partition, offset] : partitions) {
        parts.push_back(fbs::CreateFetchPartition(fbb, partition, offset, partition_max_bytes));
    }
    std::vector<flatbuffers::Offset<fbs::FetchTopic>> topics{
        fbs::CreateFetchTopic(fbb, fbb.CreateString(topic), fbb.CreateVector(parts))};
    auto body = fbs::CreateFetchRequest(fbb, -1, 0, 1, max_bytes, fbb.CreateVector(topics));
    return finish(std::move(w), fbs::ApiKey::Fetch, correlation, fbs::Body::FetchRequest,
                  body.Union());
}

frame::writer list_offsets_request(int32_t correlation, const std::string& topic, int32_t partition,
                                   int64_t timestamp) {
    frame::writer w;
    auto& fbb = w.fbb();
    std::vector<flatbuffers::Offset<fbs::ListOffsetsPartition>> parts{
        fbs::CreateListOffsetsPartition(fbb, partition, timestamp)};
    std::vector<flatbuffers::Offset<fbs::ListOffsetsTopic>> topics{
        fbs::CreateListOffsetsTopic(fbb, fbb.CreateString(topic), fbb.CreateVector(parts))};
    auto body = fbs::CreateListOffsetsRequest(fbb, fbb.CreateVector(topics));
    return finish(std::move(w), fbs::ApiKey::ListOffsets, correlation,
                  fbs::Body::ListOffsetsRequest, body.Union());
}

}  // namespace sluice::testing
