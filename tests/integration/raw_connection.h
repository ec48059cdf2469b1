// A bare TCP connection to a broker for tests that need to send exactly chosen bytes: garbage,
// truncated or oversized frames, unknown API keys, hand-built requests. Blocking socket calls,
// each bounded by a timeout via poll(); one thread at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "sluice/fbs/sluice_generated.h"
#include "sluice/protocol/frame.h"
#include "sluice/protocol/result.h"

namespace sluice::testing {

class raw_connection {
  public:
    static result<raw_connection> connect(uint16_t port);
    raw_connection(raw_connection&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    raw_connection& operator=(raw_connection&&) = delete;
    raw_connection(const raw_connection&) = delete;
    ~raw_connection();

    result<void> send_bytes(std::span<const std::byte> bytes);
    result<void> send_frame(const frame::writer& w) { return send_bytes(w.to_bytes()); }
    void shutdown_write();

    // Reads one whole frame (header included). Errors: std::errc::timed_out,
    // std::errc::connection_reset when the peer closed, errc::corrupt_message for a bad header.
    result<std::vector<std::byte>> read_frame(std::chrono::milliseconds timeout);

    // True if the peer closes the connection (EOF or reset) within `timeout`; bytes that arrive
    // first are discarded.
    bool closed_by_peer(std::chrono::milliseconds timeout);

  private:
    explicit raw_connection(int fd) : fd_(fd) {}
    result<void> read_exact(std::byte* out, size_t n,
                            std::chrono::steady_clock::time_point deadline);

    int fd_ = -1;
};

// Request frames, built with frame::writer.
frame::writer api_versions_request(int32_t correlation_id,
                                   fbs::ApiKey key = fbs::ApiKey::ApiVersions, int16_t version = 0);
// A Metadata request envelope carried under `key` (to send a body that does not match its key).
frame::writer mismatched_request(int32_t correlation_id, fbs::ApiKey key);
frame::writer fetch_request(int32_t correlation_id, const std::string& topic, int32_t partition,
                            int64_t offset, int32_t max_wait_ms, int32_t min_bytes);

// The envelope of a frame read by read_frame (verified), or errc::corrupt_message.
result<const fbs::Envelope*> envelope_of(const std::vector<std::byte>& frame);

}  // namespace sluice::testing
