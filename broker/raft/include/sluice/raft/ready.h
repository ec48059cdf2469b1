// The Ready/Advance contract between the core and the code that drives it.
//
// After any tick(), step(), propose() or compact(), the caller asks has_ready(); if true it takes
// one ready with get_ready() and then, strictly in this order:
//   1. persists it durably (fsync), in this order: `truncate_to`, `snap_chunk`, `snap`,
//      `entries`, `hard` (a crash part way keeps a prefix of these writes, which is safe in this
//      order);
//   2. sends `messages`, first filling in snapshot chunks: a fetch_snapshot_response with
//      `found` set leaves the core with an empty `chunk`; the caller puts in the bytes of that
//      snapshot's file from `position_bytes` on, up to config::snapshot_chunk_bytes_max or the
//      end (`size_bytes`), or, if that file is gone (a newer snapshot replaced it), sends it
//      with `found` false and no chunk;
//   3. loads `snap` into the state machine if `restore_snapshot`, then applies `committed`;
//   4. calls advance(ready);
//   5. if `snap_received`, checks the file received for it and calls node::snapshot_checked().
// Only one ready is out at a time: has_ready() stays false until advance(). The core goes on
// taking ticks, messages and proposals meanwhile; their effects go into the next ready.
//
// Why this order is safe: a message is only sent once every state it depends on is durable, so a
// crash can lose state only if no other node ever heard of it. Entries are only counted as the
// leader's own copy for commitment after advance().
#pragma once

#include <optional>
#include <vector>

#include "sluice/raft/messages.h"
#include "sluice/raft/types.h"

namespace sluice::raft {

struct ready {
    // The new hard state, if it changed.
    std::optional<hard_state> hard;
    // Drop the durable entries at offsets >= *truncate_to.
    std::optional<offset_t> truncate_to;
    // Bytes of the snapshot being downloaded from the leader, to write to its file (not yet the
    // node's snapshot). They need no fsync of their own: a node that restarts forgets its
    // download and starts it over, and storage removes the file at open.
    std::optional<snapshot_chunk> snap_chunk;
    // The download of this snapshot is complete (its last bytes are in `snap_chunk`): once they
    // are written, the caller checks the received file (that it is the snapshot named, whole
    // and undamaged: for the controller, its CRC, id, voters and size) and tells the node with
    // snapshot_checked(). Only a file that checks is installed (`snap` with `restore_snapshot`,
    // in a later ready); one that does not is dropped and fetched again.
    std::optional<snapshot> snap_received;
    // A snapshot whose file is complete, to make the node's snapshot (fsync, then replace the
    // old one atomically). Its file is the one received and checked (`snap_received`) if
    // `restore_snapshot`, else the one the application wrote before calling node::compact().
    // Storage keeps it; its entries below snap->id.end_offset are the snapshot's from now on
    // (storage may keep their bytes, but never hands them back), and if the log ends before
    // that, the log becomes empty and starts there.
    std::optional<snapshot> snap;
    // The snapshot came from the leader: the state machine must be replaced by it.
    bool restore_snapshot = false;
    // Append these at entries_offset, which is then the durable log end.
    offset_t entries_offset{0};
    std::vector<entry> entries;
    // Send after the above is durable.
    std::vector<message> messages;
    // Apply in order, the first at committed_offset.
    offset_t committed_offset{0};
    std::vector<entry> committed;
    // Set when the term, the known leader or this node's role changed since the last ready (at
    // the start, node::current_leadership() says where it stands): the application learns of
    // elections here rather than by polling.
    std::optional<leadership> leader;
    // The log end offset once this ready is persisted (bookkeeping for advance()).
    offset_t log_end_offset{0};
};

}  // namespace sluice::raft
