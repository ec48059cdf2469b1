// The invariants the simulation checks after every event, and the global history of committed
// entries they are checked against.
//
// What is checked, precisely:
//  1. Election safety: at most one node is leader in any term (over the whole run), and a
//     leader's durable hard state holds its term and its vote for itself (so no crash can let
//     it lead that term again).
//  2. Terms: a live node's term never decreases; its durable term never decreases across
//     flushes, crashes and restarts; a restarted node starts at its durable term or above (a
//     node whose disk was wiped starts again from nothing).
//  3. Commit: a live node's high watermark never decreases; its durable commit never decreases;
//     a restarted node starts at its durable commit or above.
//  4. History: when any node's high watermark passes an offset for the first time, the entry it
//     holds there becomes the global committed entry at that offset; every later node that
//     commits the offset must hold the same entry (or have it inside a snapshot). The global
//     history only grows.
//  5. Durability: when an entry first commits, a majority of the committing node's voter set
//     holds it on its durable (flushed) disk, or a durable snapshot covering it (or held it on
//     a disk it has lost since: see wiped()).
//  6. State machines: every node applies the committed entries in order, without gaps, and
//     each equals the global entry at its offset; a snapshot a node loads (from the leader or its
//     own disk) carries exactly the state that applying the global history up to it gives.
//  7. Disks: the durable entries below a node's durable commit equal the global history.
//  8. Votes: a node grants its vote in a term to one candidate only, over the whole run, and
//     every vote message is backed by what its sender has on disk when it is sent: a granted vote
//     by a durable vote for that candidate in that term, a vote request by a durable vote for
//     itself.
//  9. Voter sets: a snapshot carries the voter set the committed history has in effect at its
//     end.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "sluice/raft/invariant.h"
#include "sluice/raft/node.h"
#include "storage.h"

namespace sluice::raft::sim {

// A failed SLUICE_RAFT_CHECK inside the core, as an exception.
struct core_check_failed : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// While one is alive, a failed core check throws core_check_failed instead of aborting, so a
// run can report it and the next run can go on.
class throw_on_core_check {
  public:
    throw_on_core_check();
    ~throw_on_core_check();
    throw_on_core_check(const throw_on_core_check&) = delete;
    throw_on_core_check& operator=(const throw_on_core_check&) = delete;

  private:
    invariant_handler previous_;
};

// The state machine of the simulated application: a fingerprint of every entry applied.
struct app_state {
    offset_t applied_end{0};
    uint64_t chain = 0;
};

class checker {
  public:
    using disk_lookup = std::function<const disk_state*(node_id_t)>;

    checker();

    bool ok() const { return !failure_; }
    const std::optional<std::string>& failure() const { return failure_; }
    void fail(std::string what);

    const std::vector<entry>& committed() const { return history_; }
    uint64_t terms_with_leader() const { return leader_of_term_.size(); }
    offset_t committed_end() const { return offset_t{static_cast<int64_t>(history_.size())}; }
    // The application state after applying the global history below `end`.
    uint64_t chain_at(offset_t end) const { return chains_[static_cast<size_t>(end.value())]; }
    static uint64_t chain_seed();
    static uint64_t chain_step(uint64_t chain, const entry& e);

    // The application's snapshot bytes for `app`, `padding_bytes` longer than needed so that a
    // snapshot takes several chunks to transfer.
    static std::string encode_snapshot(const app_state& app, size_t padding_bytes);
    // Loads a snapshot (its file's bytes) into `app`; checks it against the history
    // (invariant 6).
    void restore(node_id_t id, app_state& app, const snapshot& s, const std::string& file);
    // Applies one committed entry (invariant 6).
    void apply(node_id_t id, app_state& app, offset_t at, const entry& e);

    // A node (re)started from `disk` (invariants 2, 3, 7).
    void started(node_id_t id, const node& n, const disk_state& disk);
    // A node's disk changed by a flush or a crash (invariants 2, 3).
    void disk_changed(node_id_t id, const disk_state& disk);
    // A node lost its whole disk, `before`: its terms and commit start again from zero
    // (invariants 2, 3). Its votes stay on record: whatever directory it comes back with, the
    // id never votes twice in one term (invariant 8). What it held still counts for invariant
    // 5: a leader may count an acknowledgement the node sent before it lost its disk, which is
    // safe exactly because the node never votes as its old self again (any later quorum meets
    // the other holders), and invariants 1 and 4 catch it if it does.
    void wiped(node_id_t id, const disk_state& before) {
        lives_.erase(id);
        lost_disks_[id].push_back(before);
    }
    // After every event that touched node `n` (invariants 1-5).
    void observe(const node& n, const disk_lookup& disks);
    // Invariant 7 for one disk.
    void check_disk(node_id_t id, const disk_state& disk);
    // The voter set the history starts from (invariant 9).
    void set_initial_voters(std::vector<node_id_t> v) { initial_voters_ = std::move(v); }
    // Node `from` sends `m` with `disk` durable (invariant 8).
    void sent(node_id_t from, const message& m, const disk_state& disk);

  private:
    struct life {
        term_t term{0};
        offset_t high_watermark{0};
        term_t durable_term{0};
        offset_t durable_commit{0};
    };

    void record_commit(const node& n, offset_t from, offset_t to, const disk_lookup& disks);

    std::optional<std::string> failure_;
    std::vector<entry> history_;
    std::vector<uint64_t> chains_;  // chains_[o]: state after applying history_ below o
    std::unordered_map<int64_t, node_id_t> leader_of_term_;
    std::map<node_id_t, life> lives_;
    std::map<std::pair<int64_t, int64_t>, node_id_t> votes_;  // (voter, term) -> candidate
    std::vector<node_id_t> initial_voters_;
    std::map<node_id_t, std::vector<disk_state>> lost_disks_;  // per node, every wiped disk
};

}  // namespace sluice::raft::sim
