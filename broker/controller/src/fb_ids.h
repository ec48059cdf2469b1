// Node id lists in FlatBuffers, shared by the controller's codecs.
#pragma once

#include <vector>

#include <flatbuffers/flatbuffers.h>

#include "sluice/protocol/types.h"

namespace sluice::controller {

inline flatbuffers::Offset<flatbuffers::Vector<int32_t>> encode_ids(
    flatbuffers::FlatBufferBuilder& b, const std::vector<node_id_t>& ids) {
    std::vector<int32_t> raw;
    raw.reserve(ids.size());
    for (node_id_t id : ids) {
        raw.push_back(id.value());
    }
    return b.CreateVector(raw);
}

}  // namespace sluice::controller
