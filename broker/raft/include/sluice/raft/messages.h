// The messages Raft nodes exchange. Every message carries the sender's term (for a pre-vote
// request: the term the sender would campaign in), so that any node can fence a stale peer or
// catch up with a newer term.
//
// Replication is pull-based, as in Kafka's KRaft: followers and observers send fetch_request to
// the leader on a timer; the answer carries entries, the high watermark, and doubles as the
// leader's heartbeat. A follower whose log diverged from the leader's is told where (the end of
// the last common epoch) and truncates there; one that is behind the leader's snapshot is told to
// fetch the snapshot, in chunks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sluice/raft/types.h"

namespace sluice::raft {

struct pre_vote_request {
    term_t term;  // the term the sender would campaign in (its own term + 1)
    offset_t end_offset;
    term_t last_epoch;
    // The directory of the voter asked (config::voter_directories): a node with another
    // directory refuses. Unknown: any. And the candidate's own: a voter refuses a candidate
    // whose directory is not the one the quorum was formatted with.
    directory_id voter_directory{};
    directory_id candidate_directory{};

    friend bool operator==(const pre_vote_request&, const pre_vote_request&) = default;
};

struct pre_vote_response {
    term_t term;  // granted: the request's term; refused: the responder's own term
    bool granted = false;
    node_id_t leader = no_node;  // the responder's leader, as a hint to a rejoining node
    directory_id directory{};    // the responder's own

    friend bool operator==(const pre_vote_response&, const pre_vote_response&) = default;
};

struct vote_request {
    term_t term;
    offset_t end_offset;
    term_t last_epoch;
    directory_id voter_directory{};  // as in pre_vote_request
    directory_id candidate_directory{};

    friend bool operator==(const vote_request&, const vote_request&) = default;
};

struct vote_response {
    term_t term;
    bool granted = false;
    node_id_t leader = no_node;
    directory_id directory{};  // the responder's own

    friend bool operator==(const vote_response&, const vote_response&) = default;
};

// Sent by a new leader to the other voters so they start fetching from it without waiting.
struct begin_epoch {
    term_t term;

    friend bool operator==(const begin_epoch&, const begin_epoch&) = default;
};

struct fetch_request {
    term_t term;
    offset_t fetch_offset;      // the fetcher's log end offset
    term_t last_fetched_epoch;  // the term of the entry before fetch_offset (0 at offset 0)
    // The fetcher's commit point: a leader with nothing newer than this to tell may hold the
    // request (a long poll, config::fetch_wait_ticks).
    offset_t high_watermark{0};

    friend bool operator==(const fetch_request&, const fetch_request&) = default;
};

enum class fetch_error : uint8_t {
    none = 0,
    not_leader = 1,    // same term, but the responder does not lead; `leader` is its hint
    fenced_epoch = 2,  // the fetcher's term is older than the responder's
};

// The end of an epoch in a log: entries below end_offset have terms <= epoch, the entry at
// end_offset (if any) a greater one.
struct epoch_end {
    term_t epoch;
    offset_t end_offset;

    friend bool operator==(const epoch_end&, const epoch_end&) = default;
};

struct fetch_response {
    term_t term;
    node_id_t leader = no_node;
    fetch_error error = fetch_error::none;
    // Echo of the request, so that a late or duplicated answer can be recognised.
    offset_t fetch_offset;
    term_t last_fetched_epoch;
    offset_t high_watermark;
    // At most one of the three below is set (none: nothing new).
    std::vector<entry> entries;           // the leader's entries from fetch_offset on
    std::optional<epoch_end> diverging;   // truncate to this, then fetch again
    std::optional<snapshot_id> snapshot;  // fetch_offset is below the leader's log start

    friend bool operator==(const fetch_response&, const fetch_response&) = default;
};

struct fetch_snapshot_request {
    term_t term;
    snapshot_id id;
    int64_t position_bytes = 0;  // bytes of the snapshot already received

    friend bool operator==(const fetch_snapshot_request&, const fetch_snapshot_request&) = default;
};

struct fetch_snapshot_response {
    term_t term;
    node_id_t leader = no_node;
    snapshot_id id;
    bool found = false;  // false: the leader holds no such snapshot any more; fetch again
    int64_t position_bytes = 0;
    int64_t size_bytes = 0;
    std::vector<node_id_t> voters;
    std::string chunk;

    friend bool operator==(const fetch_snapshot_response&,
                           const fetch_snapshot_response&) = default;
};

using message_body =
    std::variant<pre_vote_request, pre_vote_response, vote_request, vote_response, begin_epoch,
                 fetch_request, fetch_response, fetch_snapshot_request, fetch_snapshot_response>;

struct message {
    node_id_t from = no_node;
    node_id_t to = no_node;
    message_body body;

    friend bool operator==(const message&, const message&) = default;
};

// What is wrong with `m` on its face, before step() trusts any of it, or nothing. A message from
// a broken or hostile peer must never abort a node, so step() drops (and counts) every message
// this rejects: negative terms, offsets, sizes or ids, or ones above 2^62 (no log reaches them,
// and arithmetic on them must not overflow); a vote request at offset 0 with an epoch;
// entries whose terms are not positive, fall, exceed the message's term or precede the fetch's
// last epoch; an unknown entry kind or fetch error; more than one of entries, diverging epoch
// and snapshot in one answer; a snapshot id or voter set that no log can hold (voter sets must
// be non-empty, sorted, without duplicates and at most `voters_max`); a snapshot chunk that ends
// past the snapshot's size, or an empty snapshot (no snapshot file is empty). `voters_max` must be
// the same on every node of a quorum.
std::optional<std::string_view> invalid_reason(const message& m, int32_t voters_max);

// The term a message carries.
term_t term_of(const message& m) noexcept;
// A short name of the message's type ("fetch_response").
std::string_view type_name(const message& m) noexcept;
// One line describing the message, for traces.
std::string describe(const message& m);

}  // namespace sluice::raft
