// Errors that a client produces locally, as opposed to the broker's error codes (sluice::errc in
// protocol/errc.h, which travel on the wire). Both arrive as std::error_code in result<T>.
//
// client_errc is an error *condition* enum: compare a code against it with ==
//
//     if (r.error() == sluice::client_errc::timed_out) ...
//
// because some codes carry a detail in their message ("broker unreachable: 127.0.0.1:9192:
// connection refused"). Such a code has its own category object (named "sluice.client" like the
// plain one) and compares equal to its client_errc condition, but not to the plain
// make_error_code(...) of the same value. So compare with the enum, never with a made code.
#pragma once

#include <string_view>
#include <system_error>

#include "sluice/protocol/errc.h"  // the broker's codes (sluice::errc), which clients see too

namespace sluice {

enum class client_errc : int {
    broker_unreachable = 1,  // no connection to any broker (or to the one a request needs)
    timed_out = 2,           // request.timeout.ms, max.block.ms or delivery.timeout.ms ran out
    closed = 3,              // the producer / consumer / admin was closed
    buffer_exhausted = 4,    // buffer.memory stayed full for max.block.ms
    invalid_config = 5,      // a config key or value is wrong (the message names it)
    unknown_topic = 6,       // the topic is not in the metadata (after waiting max.block.ms)
    protocol_error = 7,      // the peer broke the protocol (bad frame, unexpected response)
    record_too_large = 8,    // the record exceeds max.request.size or buffer.memory
    invalid_record = 9,      // a record the call cannot take as it is (the message says why)
};

// The category of plain client errors (name "sluice.client").
const std::error_category& client_category() noexcept;

std::error_code make_error_code(client_errc e) noexcept;
std::error_condition make_error_condition(client_errc e) noexcept;

// A client error whose message() is "<plain message>: <detail>". Equal (==) to its client_errc
// condition. Distinct details are interned; past a fixed number of them the plain code is
// returned, so memory stays bounded whatever the error rate.
std::error_code make_client_error(client_errc e, std::string_view detail);

// True for errors after which the same request may succeed if sent again (after a metadata
// refresh and a backoff): NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, REQUEST_TIMED_OUT,
// NETWORK_EXCEPTION, UNKNOWN_TOPIC_OR_PARTITION, NOT_ENOUGH_REPLICAS(_AFTER_APPEND),
// KAFKA_STORAGE_ERROR, broker_unreachable, timed_out, a lost connection.
bool is_retriable(std::error_code ec) noexcept;

}  // namespace sluice

template <>
struct std::is_error_condition_enum<sluice::client_errc> : std::true_type {};
