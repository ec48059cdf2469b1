// A deliberately plain client for the broker's tests: a blocking POSIX socket that sends frames
// built with frame::writer (or raw bytes) and reads whole frames back, with timeouts. It speaks
// the wire format only; the client library is tested elsewhere.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sluice/fbs/sluice_generated.h"
#include "sluice/protocol/frame.h"

namespace sluice::testing {

// One received frame, kept 8-aligned as the protocol expects.
struct received_frame {
    std::vector<uint64_t> storage;
    size_t size = 0;
    const fbs::Envelope* envelope = nullptr;
    frame::bytes_view data;
};

class wire_client {
  public:
    explicit wire_client(uint16_t port);
    ~wire_client();
    wire_client(const wire_client&) = delete;
    wire_client& operator=(const wire_client&) = delete;

    void send(const frame::writer& w);
    void send_raw(std::span<const std::byte> bytes);
    // The next frame, or nullopt if the connection closed or nothing came within `timeout`.
    std::optional<received_frame> receive(
        std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // True if the broker closed the connection within `timeout`.
    bool wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(10));

    received_frame call(const frame::writer& w);  // send, then receive (fails the test if none)

    int32_t next_correlation() { return ++correlation_; }

  private:
    int fd_ = -1;
    int32_t correlation_ = 0;
};

// Request builders. Each returns a finished writer.
frame::writer api_versions_request(int32_t correlation);
frame::writer create_topics_request(int32_t correlation, const std::string& name,
                                    int32_t partitions, int16_t replication_factor = -1,
                                    const std::map<std::string, std::string>& configs = {},
                                    bool validate_only = false);
frame::writer delete_topics_request(int32_t correlation, const std::vector<std::string>& names);
frame::writer metadata_request(int32_t correlation, const std::vector<std::string>& topics,
                               bool all_topics, bool allow_auto_create);
frame::writer produce_request(int32_t correlation, const std::string& topic, int32_t partition,
                              const std::vector<std::byte>& batches, int16_t acks = 1,
                              int32_t timeout_ms = 30000);
frame::writer fetch_request(int32_t correlation, const std::string& topic, int32_t partition,
                            int64_t offset, int32_t max_wait_ms = 0, int32_t min_bytes = 1,
                            int32_t partition_max_bytes = 1 << 20, int32_t max_bytes = 50 << 20);
// One fetch of several partitions of `topic`, each (partition, offset), with max_wait 0.
frame::writer fetch_partitions_request(int32_t correlation, const std::string& topic,
                                       const std::vector<std::pair<int32_t, int64_t>>& partitions,
                                       int32_t partition_max_bytes, int32_t max_bytes);
frame::writer list_offsets_request(int32_t correlation, const std::string& topic, int32_t partition,
                                   int64_t timestamp);

}  // namespace sluice::testing
