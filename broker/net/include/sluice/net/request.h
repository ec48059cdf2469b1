// What flows between a connection and the API handlers: a received frame, the response to send,
// and the broker-wide state a handler may use.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sluice/core/async.h"
#include "sluice/core/cluster_view.h"
#include "sluice/core/group_service.h"
#include "sluice/core/partition_service.h"
#include "sluice/core/topic_admin.h"
#include "sluice/net/memory_budget.h"
#include "sluice/protocol/frame.h"
#include "sluice/storage/log.h"

namespace sluice::broker {

// One received frame in an 8-aligned buffer (the envelope sits at offset 8, so FlatBuffers reads
// every scalar aligned). Buffers are recycled by their connection.
struct frame_buffer {
    std::unique_ptr<uint64_t[]> words;
    size_t capacity = 0;  // bytes
    size_t size = 0;      // bytes of the frame

    std::byte* data() { return reinterpret_cast<std::byte*>(words.get()); }
    std::span<std::byte> bytes() { return {data(), size}; }

    static frame_buffer with_capacity(size_t bytes) {
        frame_buffer b;
        b.words = std::make_unique_for_overwrite<uint64_t[]>((bytes + 7) / 8);
        b.capacity = (bytes + 7) / 8 * 8;
        return b;
    }
};

struct request {
    frame_buffer buffer;
    // When the whole frame had arrived: request deadlines (timeout_ms, max_wait_ms) count from
    // here, not from when the request's turn came.
    steady_clock::time_point received;
    const fbs::Envelope* envelope = nullptr;  // verified; points into buffer
    std::span<std::byte> data;                // the data section, writable: produce stamps
                                              // offsets and epochs into the batches in place
};

struct response {
    frame::writer writer;
    // The bytes of the writer's external parts (add_data_external), one range per part, in
    // order: fetched batches, which the connection sends from the segment files (sendfile).
    std::vector<storage::file_range> files;
};

struct handler_result {
    std::unique_ptr<response> reply;  // null: nothing to send (produce with acks=0)
    std::string close_reason;         // non-empty: close the connection after this request
};

// The listener's settings (from the broker's config).
struct net_config {
    node_id_t node_id{0};
    size_t frame_bytes_max = frame::frame_bytes_max_default;  // socket.request.max.bytes
    size_t queued_requests_max = 100;                         // queued.max.requests.per.connection
    size_t queued_request_bytes_max = 100u << 20;  // queued.max.request.bytes.per.connection
    size_t broker_queued_bytes_max = 256u << 20;   // queued.max.request.bytes (memory_budget)
    int64_t idle_ms = 600000;                      // connections.max.idle.ms; -1: never
    bool auto_create_topics = true;                // auto.create.topics.enable
    std::optional<bool> fetch_sendfile;            // fetch.sendfile; unset: auto
};

// State shared by every connection; lives as long as the server.
struct broker_context {
    broker_context(net_config c, partition_service& r, topic_admin& a, executor blocking_pool)
        : config(c),
          replicas(r),
          admin(a),
          blocking(std::move(blocking_pool)),
          budget(c.broker_queued_bytes_max) {}

    net_config config;
    partition_service& replicas;
    topic_admin& admin;
    // The cluster as the metadata image says (Metadata answers from it); null: this broker's
    // own partitions only.
    const cluster_view* cluster = nullptr;
    // The group coordinator; null: group requests answer COORDINATOR_NOT_AVAILABLE.
    group_service* groups = nullptr;
    // Threads that may block on the disk: connections send fetched records from segment files
    // there (sendfile), never on the network threads.
    executor blocking;
    memory_budget budget;
    std::string advertised_host;
    int32_t advertised_port = 0;
    std::string cluster_id;
    std::atomic<int32_t> connections{0};
    // Fetched record bytes sent from segment files: with sendfile, or read and written.
    std::atomic<uint64_t> sendfile_bytes{0};
    std::atomic<uint64_t> copied_bytes{0};
};

// What a handler gets besides the request: the broker, the connection's executor (its strand;
// handlers run there), the peer's address for logs, the connection's fetch rotation (read order
// fairness, fetch.h), which the fetch handler advances, and its cancel token.
struct request_context {
    broker_context& broker;
    executor conn;
    const std::string& peer;
    size_t& fetch_rotation;
    // Cancelled when the connection closes: long polls and acknowledgement waits end at once.
    const std::shared_ptr<cancel_token>& cancel;
};

// The longest a fetch long-polls, whatever its max_wait_ms asks: a request holds its memory
// (queued.max.request.bytes) until answered.
inline constexpr std::chrono::milliseconds fetch_wait_max{30000};

// Dispatches on the API key and version (docs/protocol.md): unknown API or version ->
// ErrorResponse UNSUPPORTED_VERSION; a body that does not match the key -> INVALID_REQUEST.
awaitable<handler_result> handle_request(request_context& ctx, request& req);

// Builds the response envelope for `req` around `body` and finishes the writer.
void finish_response(response& r, const fbs::Envelope& req, fbs::Body type,
                     flatbuffers::Offset<void> body);

std::unique_ptr<response> error_response(const fbs::Envelope& req, errc code,
                                         std::string_view message);

// Each API (api_*.cpp).
awaitable<handler_result> handle_api_versions(request_context& ctx, request& req);
awaitable<handler_result> handle_metadata(request_context& ctx, request& req);
awaitable<handler_result> handle_create_topics(request_context& ctx, request& req);
awaitable<handler_result> handle_delete_topics(request_context& ctx, request& req);
awaitable<handler_result> handle_create_partitions(request_context& ctx, request& req);
awaitable<handler_result> handle_alter_configs(request_context& ctx, request& req);
awaitable<handler_result> handle_describe_configs(request_context& ctx, request& req);
awaitable<handler_result> handle_describe_quorum(request_context& ctx, request& req);
awaitable<handler_result> handle_elect_leaders(request_context& ctx, request& req);
awaitable<handler_result> handle_init_producer_id(request_context& ctx, request& req);
awaitable<handler_result> handle_produce(request_context& ctx, request& req);
awaitable<handler_result> handle_fetch(request_context& ctx, request& req);
awaitable<handler_result> handle_list_offsets(request_context& ctx, request& req);
// Consumer groups (api_group.cpp).
awaitable<handler_result> handle_find_coordinator(request_context& ctx, request& req);
awaitable<handler_result> handle_join_group(request_context& ctx, request& req);
awaitable<handler_result> handle_sync_group(request_context& ctx, request& req);
awaitable<handler_result> handle_heartbeat(request_context& ctx, request& req);
awaitable<handler_result> handle_leave_group(request_context& ctx, request& req);
awaitable<handler_result> handle_offset_commit(request_context& ctx, request& req);
awaitable<handler_result> handle_offset_fetch(request_context& ctx, request& req);
awaitable<handler_result> handle_list_groups(request_context& ctx, request& req);
awaitable<handler_result> handle_describe_groups(request_context& ctx, request& req);
awaitable<handler_result> handle_delete_groups(request_context& ctx, request& req);

}  // namespace sluice::broker
