// A Raft node's disk for tests that drive the core by hand (tests/raft, tests/fuzz): applies a
// whole ready in the order ready.h gives, with no crash in between.
#pragma once

#include <algorithm>
#include <cstdint>

#include "sluice/raft/ready.h"
#include "sluice/raft/types.h"

namespace sluice::testing {

struct raft_disk {
    raft::persisted_state state;
    std::string received;  // the snapshot file assembled from downloaded chunks

    offset_t start() const { return state.snap ? state.snap->id.end_offset : offset_t{0}; }
    offset_t end() const { return start() + static_cast<int64_t>(state.entries.size()); }

    // The check of a received snapshot file (ready.h, `snap_received`): all of it arrived.
    bool check_received(const raft::snapshot& s) const {
        return static_cast<int64_t>(received.size()) == s.size_bytes;
    }

    // False, writing nothing more, if the ready breaks the storage contract: a snapshot chunk
    // that does not continue the file received, a restored snapshot whose file is not complete,
    // or entries that do not start at the durable end.
    bool persist(const raft::ready& rd) {
        if (rd.truncate_to) {
            const int64_t keep = std::max<int64_t>(0, *rd.truncate_to - start());
            if (keep < static_cast<int64_t>(state.entries.size())) {
                state.entries.resize(static_cast<size_t>(keep));
            }
        }
        if (rd.snap_chunk) {
            if (rd.snap_chunk->position == 0) {
                received.clear();
            }
            if (rd.snap_chunk->position != static_cast<int64_t>(received.size())) {
                return false;
            }
            received += rd.snap_chunk->bytes;
        }
        if (rd.snap && rd.restore_snapshot && !check_received(*rd.snap)) {
            return false;
        }
        if (rd.snap) {
            const int64_t drop = rd.snap->id.end_offset - start();
            if (drop >= static_cast<int64_t>(state.entries.size())) {
                state.entries.clear();
            } else {
                state.entries.erase(state.entries.begin(), state.entries.begin() + drop);
            }
            state.snap = rd.snap;
        }
        if (rd.entries_offset != end()) {
            return false;
        }
        state.entries.insert(state.entries.end(), rd.entries.begin(), rd.entries.end());
        if (rd.hard) {
            state.hard = *rd.hard;
        }
        return true;
    }
};

}  // namespace sluice::testing
