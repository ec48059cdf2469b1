// The in-memory Raft log of one node: the entries after its latest snapshot, plus what the
// snapshot says about the prefix it replaced (its end offset, the term of its last entry and its
// voter set). The core keeps the whole unsnapshotted log in memory; the metadata log is small and
// the application bounds it by taking snapshots. Durable storage mirrors it through ready.
//
// It also knows the voter set in effect: the last voters entry in the log, else the snapshot's.
#pragma once

#include <deque>
#include <optional>
#include <vector>

#include "sluice/raft/messages.h"
#include "sluice/raft/types.h"

namespace sluice::raft {

class raft_log {
  public:
    // An empty log starting at offset 0 under the bootstrap voter set.
    explicit raft_log(std::vector<node_id_t> bootstrap_voters);

    // First offset held (the end offset of the snapshot, 0 without one).
    offset_t start() const { return start_; }
    // Log end offset: the offset the next entry gets.
    offset_t end() const { return start_ + static_cast<int64_t>(entries_.size()); }
    // Term of the last entry (of the snapshot if the log is empty; 0 for an empty log).
    term_t last_term() const;
    term_t start_term() const { return start_term_; }
    // Term of the entry at `o`, known for o in [start() - 1, end()); offset -1 has term 0.
    std::optional<term_t> term_at(offset_t o) const;
    // The entry at `o`; requires start() <= o < end().
    const entry& at(offset_t o) const;

    // Appends at end(). Terms never decrease along a log.
    void append(entry e);
    // Drops the entries at offsets >= from; requires start() <= from <= end().
    void truncate(offset_t from);
    // Drops the entries below new_start (a snapshot now covers them); requires
    // start() < new_start <= end().
    void compact(offset_t new_start);
    // Drops everything and starts empty after the snapshot `s`.
    void reset(const snapshot_id& id, std::vector<node_id_t> voters);

    // The end of `epoch` in this log (see epoch_end): the largest epoch <= `epoch` that the log
    // knows, and the offset where the next greater epoch starts. nullopt if the answer lies
    // inside the snapshot (the snapshot's term is greater than `epoch`).
    std::optional<epoch_end> end_offset_for_epoch(term_t epoch) const;

    // The voter set in effect now (after the last voters entry in the log).
    const std::vector<node_id_t>& voters() const;
    // The voter set in effect after the entries below `end` (start() <= end <= end()).
    const std::vector<node_id_t>& voters_at(offset_t end) const;
    // Offset of the last voters entry still in the log, if any.
    std::optional<offset_t> last_voters_offset() const;

  private:
    offset_t start_{0};
    term_t start_term_{0};
    std::vector<node_id_t> start_voters_;
    std::deque<entry> entries_;
    // The voters entries in the log, by offset, ascending.
    std::vector<std::pair<offset_t, std::vector<node_id_t>>> configs_;
};

}  // namespace sluice::raft
