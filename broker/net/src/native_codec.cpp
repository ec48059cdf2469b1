#include "sluice/net/native_codec.h"

#include <fmt/format.h>

#include "sluice/protocol/byte_order.h"

namespace sluice::broker {

size_t native_codec::header_bytes() const {
    return frame::header_size;
}

std::variant<size_t, std::string> native_codec::frame_size(std::span<const std::byte> header,
                                                           size_t frame_bytes_max) const {
    auto h = frame::parse_header(header, frame_bytes_max);
    if (h) {
        return h.value().total();
    }
    if (h.error() == errc::message_too_large) {
        return fmt::format("frame of {} bytes exceeds socket.request.max.bytes ({})",
                           4 + uint64_t(load_be<uint32_t>(header.data())), frame_bytes_max);
    }
    return std::string("invalid frame header");
}

std::variant<std::monostate, std::string> native_codec::decode(request& r) const {
    auto view = frame::parse(r.buffer.bytes());
    if (!view) {
        return std::string("frame envelope failed verification");
    }
    r.envelope = view.value().envelope;
    r.data = r.buffer.bytes().subspan(size_t(view.value().data.data() - r.buffer.data()),
                                      view.value().data.size());
    return std::monostate{};
}

awaitable<handler_result> native_codec::handle(request_context& ctx, request& r) const {
    co_return co_await handle_request(ctx, r);
}

}  // namespace sluice::broker
