// The controller quorum's Raft messages on the wire: one native frame per message (docs/
// protocol.md), its envelope's body an fbs::RaftMessage (protocol/schema/sluice.fbs), api key
// RaftMessage, no data section, sent one way on the controller listener.
//
// Decoding checks the frame's structure only: a valid frame and envelope, the RaftMessage api
// and body, a cluster id, every part the message's type needs, known entry kinds and fetch
// errors. The message it returns is still a peer's word: the caller checks the cluster id, and
// the core checks the values (raft::invalid_reason) before it steps the message.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/raft/messages.h"

namespace sluice::controller {

struct raft_frame {
    std::string cluster_id;
    raft::message message;

    friend bool operator==(const raft_frame&, const raft_frame&) = default;
};

// The whole frame: header and envelope.
std::vector<std::byte> encode_raft_frame(std::string_view cluster_id, const raft::message& m);

// The message of a whole frame (header included), or nothing with `*why` (if given) saying
// what was wrong, for the log line of a dropped frame.
std::optional<raft_frame> decode_raft_frame(std::span<const std::byte> frame,
                                            std::string_view* why = nullptr);

}  // namespace sluice::controller
