// What a connection needs to know of its listener's wire format. The connection does the rest the
// same for every format: reading frames within the limits, pipelining, writing responses in
// request order, back-pressure, timeouts. The native codec (native_codec.h) is one; a Kafka codec
// can be another without touching the connection or the core.
//
// A codec has no state of its own per connection; one object serves every connection of its
// listener, from any thread.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <variant>

#include "sluice/net/request.h"

namespace sluice::broker {

class frame_codec {
  public:
    virtual ~frame_codec() = default;

    // Bytes at the start of every frame that tell its size.
    virtual size_t header_bytes() const = 0;

    // The frame's total size in bytes, header included, from its first header_bytes(); or why
    // the connection must close (a frame over `frame_bytes_max`, a malformed header).
    virtual std::variant<size_t, std::string> frame_size(std::span<const std::byte> header,
                                                         size_t frame_bytes_max) const = 0;

    // Checks a whole received frame and fills the request's decoded view; or says why the
    // connection must close (nothing after a frame that cannot be trusted can be).
    virtual std::variant<std::monostate, std::string> decode(request& r) const = 0;

    // Runs one request to its end on the connection's strand.
    virtual awaitable<handler_result> handle(request_context& ctx, request& r) const = 0;
};

}  // namespace sluice::broker
