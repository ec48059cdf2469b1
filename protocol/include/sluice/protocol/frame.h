// Framing of the native protocol (docs/protocol.md):
//
//   offset 0  u32 big-endian frame_length     bytes after this field
//   offset 4  u32 big-endian envelope_length
//   offset 8  envelope_length bytes           an fbs::Envelope FlatBuffer
//   then      the data section                raw record batches that DataRefs point into
//
// A reader takes the 8-byte header first (parse_header), then reads the rest of the frame into
// the same buffer right after it, so the envelope sits at offset 8 of an 8-aligned buffer:
// FlatBuffers then reads every scalar at its natural alignment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <flatbuffers/flatbuffers.h>

#include "sluice/fbs/sluice_generated.h"
#include "sluice/protocol/aligned.h"
#include "sluice/protocol/errc.h"
#include "sluice/protocol/result.h"

namespace sluice::frame {

using bytes_view = std::span<const std::byte>;

inline constexpr size_t header_size = 8;
// Kafka's socket.request.max.bytes default.
inline constexpr size_t frame_bytes_max_default = 100u << 20;

struct header {
    uint32_t frame_length;     // bytes after the first field
    uint32_t envelope_length;  // bytes of the envelope
    size_t total() const { return 4 + size_t(frame_length); }
};

// Decodes the first header_size bytes of a frame. Errors:
//   message_too_large  the whole frame would exceed frame_bytes_max
//   corrupt_message    envelope_length is 0 or does not fit inside the frame
result<header> parse_header(bytes_view first, size_t frame_bytes_max) noexcept;

struct frame_view {
    const fbs::Envelope* envelope;
    bytes_view data;  // the data section
};

// Checks a whole frame (header included) and verifies its envelope with flatbuffers::Verifier.
// errc::corrupt_message if the sizes disagree, the envelope is not a valid Envelope, or a vector
// of 8-byte scalars is not 8-aligned (the verifier checks only a vector's 4-byte length, so a
// hostile sender could otherwise make readers load misaligned longs).
result<frame_view> parse(bytes_view frame) noexcept;

// The bytes a DataRef names; errc::corrupt_message if it points outside the data section.
// A null ref is an empty range.
result<bytes_view> resolve(const fbs::DataRef* ref, bytes_view data) noexcept;

// Builds one frame. Fill fbb() with the envelope's parts, add data chunks (which may be given by
// reference, to avoid a copy, when the caller keeps them alive until the frame is sent), then
// finish() with the envelope. buffers() is the frame as a gather list for one vectored write.
class writer {
  public:
    writer() : fbb_(1024) {}

    flatbuffers::FlatBufferBuilder& fbb() { return fbb_; }

    // Appends bytes owned by the writer to the data section.
    fbs::DataRef add_data(std::vector<std::byte> bytes);
    // Appends bytes that stay owned by the caller and must outlive the write.
    fbs::DataRef add_data_ref(bytes_view bytes);
    // Reserves `length` bytes of the data section that the sender supplies itself when it writes
    // the frame (from a file, with sendfile): parts() shows them as an external part.
    fbs::DataRef add_data_external(size_t length);

    void finish(flatbuffers::Offset<fbs::Envelope> envelope);

    // The header, the envelope and the data chunks, in order. Valid after finish(), for a frame
    // without external data.
    std::vector<bytes_view> buffers() const;
    // The same as parts: an external part has no bytes, only the length it reserved, which the
    // sender writes itself.
    struct part {
        bytes_view bytes;
        size_t external = 0;  // > 0: an external part of this many bytes
        size_t size() const { return external > 0 ? external : bytes.size(); }
    };
    std::vector<part> parts() const;
    size_t size_bytes() const;
    // The bytes of the external parts (included in size_bytes()).
    size_t external_bytes() const { return external_bytes_; }
    // The whole frame in one vector (for tests and small frames).
    std::vector<std::byte> to_bytes() const;

  private:
    flatbuffers::FlatBufferBuilder fbb_;
    std::byte header_[header_size]{};
    std::vector<std::vector<std::byte>> owned_;
    std::vector<part> chunks_;
    size_t data_bytes_ = 0;
    size_t external_bytes_ = 0;
};

// Convenience: an envelope with the common fields set.
inline flatbuffers::Offset<fbs::Envelope> make_envelope(flatbuffers::FlatBufferBuilder& fbb,
                                                        fbs::ApiKey key, int16_t version,
                                                        int32_t correlation_id, fbs::Body type,
                                                        flatbuffers::Offset<void> body) {
    return fbs::CreateEnvelope(fbb, key, version, correlation_id, type, body);
}

}  // namespace sluice::frame
