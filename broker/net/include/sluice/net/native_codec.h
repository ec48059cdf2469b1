// The native protocol as a frame_codec (docs/protocol.md): the 8-byte frame header, FlatBuffers
// envelope verification, and the table-driven dispatch to the API handlers.
#pragma once

#include "sluice/net/codec.h"

namespace sluice::broker {

class native_codec final : public frame_codec {
  public:
    size_t header_bytes() const override;
    std::variant<size_t, std::string> frame_size(std::span<const std::byte> header,
                                                 size_t frame_bytes_max) const override;
    std::variant<std::monostate, std::string> decode(request& r) const override;
    awaitable<handler_result> handle(request_context& ctx, request& r) const override;
};

}  // namespace sluice::broker
