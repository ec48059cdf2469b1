// Fuzz target: one frame as it arrives on a socket, request or response.
//
// Decodes the header (frame::parse_header), the whole frame (frame::parse, which runs the
// FlatBuffers verifier), then reads every field of every body type and resolves every DataRef
// (envelope_walk.h); batches in a produce request or a fetch response are parsed record by
// record. Checks that the two frame readers agree: parse() accepts only frames whose header
// parse_header() accepts and whose size the header announces.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "envelope_walk.h"
#include "sluice/protocol/frame.h"

namespace {

using namespace sluice;

volatile uint64_t sink;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A receiver reads a frame into an 8-aligned buffer (frame.h); a vector's storage is at least
    // that aligned, the fuzzer's own buffer need not be.
    std::vector<std::byte> buf(reinterpret_cast<const std::byte*>(data),
                               reinterpret_cast<const std::byte*>(data) + size);
    frame::bytes_view in(buf);

    auto header = frame::parse_header(in, frame::frame_bytes_max_default);
    auto parsed = frame::parse(in);
    if (!parsed) {
        return 0;
    }
    if (!header || header.value().total() != size) {
        std::abort();  // parse() accepted what the header reader refuses
    }
    const auto& f = parsed.value();
    if (f.data.size() != size - frame::header_size - header.value().envelope_length) {
        std::abort();
    }
    sink = fuzz::walk_envelope(*f.envelope, f.data);
    return 0;
}
