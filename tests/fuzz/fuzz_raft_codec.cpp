// Fuzz target: one frame as it arrives on the controller listener.
//
// decode_raft_frame either refuses the frame with a reason or returns a message; a returned
// message goes through the core's own check (raft::invalid_reason) and description, and encodes
// again to a frame that decodes to the same message and cluster id.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "sluice/controller/raft_codec.h"

namespace {

volatile size_t sink;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace sluice;
    // A receiver reads a frame into an 8-aligned buffer (frame.h); a vector's storage is.
    std::vector<std::byte> buf(reinterpret_cast<const std::byte*>(data),
                               reinterpret_cast<const std::byte*>(data) + size);
    std::string_view why;
    auto decoded = controller::decode_raft_frame(buf, &why);
    if (!decoded) {
        if (why.empty()) {
            std::abort();  // a refusal always says why
        }
        return 0;
    }
    const auto reason = raft::invalid_reason(decoded->message, 16);
    sink = reason ? reason->size() : 0;
    sink = raft::describe(decoded->message).size();
    const auto again = controller::decode_raft_frame(
        controller::encode_raft_frame(decoded->cluster_id, decoded->message));
    if (!again || !(*again == *decoded)) {
        std::abort();  // the encoder and decoder disagree
    }
    return 0;
}
