// The simulated disk of one node. Writes of a ready are first "written" (in the page cache) and
// become durable only at flush() (fsync). A crash keeps the durable state plus a random prefix of
// the unflushed writes, in write order, and loses the rest (or, reordered, a prefix of the log's
// writes and maybe the hard state).
//
// It also checks that the core keeps the storage contract of ready.h (entries are appended at
// the end of the log, snapshots move forward).
#pragma once

#include <deque>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "rng.h"
#include "sluice/raft/ready.h"

namespace sluice::raft::sim {

struct disk_state {
    hard_state hard;
    std::optional<snapshot> snap;
    std::string snap_file;  // the snapshot's file: the application's bytes
    offset_t start{0};
    std::deque<entry> entries;

    offset_t end() const { return start + static_cast<int64_t>(entries.size()); }
    // The entry at `o` if this disk holds it.
    const entry* find(offset_t o) const;
};

class storage {
  public:
    // The application writes a snapshot of its state to a file of its own, not yet synced: a
    // ready's `snap` that is not a restore makes it the snapshot (a crash loses it before that).
    void write_local_snapshot(std::string file) { local_file_ = std::move(file); }
    // Stages the writes of `rd`. Returns an error if the ready breaks the storage contract.
    std::optional<std::string> write(const ready& rd);
    // The check of a received snapshot file (ready.h, `snap_received`): the file assembled from
    // the chunks is the snapshot's, all of it.
    bool check_received(const snapshot& s) const {
        return download_ && download_->id == s.id &&
               static_cast<int64_t>(download_->bytes.size()) == s.size_bytes;
    }
    // `length` bytes (fewer at its end) at `position` of the durable snapshot file, if `id` is
    // the durable snapshot: what a leader sends.
    std::optional<std::string> read_snapshot(const snapshot_id& id, int64_t position,
                                             int64_t length) const;
    // Makes every staged write durable.
    void flush();
    // Loses the staged writes except a random prefix (none if lose_all). Returns how many
    // entries were lost. With `reordered`, the hard state (a file of its own) and the log reach
    // the disk in either order: a random prefix of the log's writes survives, and the last hard
    // state written survives or not, independently (a shell that does not order its files).
    int64_t crash(rng& r, bool lose_all, bool reordered = false);

    const disk_state& durable() const { return durable_; }
    // The state a restarting node is built from.
    persisted_state load() const;

  private:
    struct truncate_op {
        offset_t from;
    };
    struct append_op {
        offset_t at;
        entry e;
    };
    struct snapshot_op {
        snapshot snap;
        std::string file;
    };
    using op = std::variant<truncate_op, snapshot_op, append_op, hard_state>;

    static std::optional<std::string> apply(disk_state& d, const op& o);

    disk_state durable_;
    disk_state written_;  // durable_ plus every staged write
    std::vector<op> staged_;
    // Files written and not yet made the snapshot (a crash loses both): the application's own,
    // and the one assembled from downloaded chunks.
    std::string local_file_;
    std::optional<snapshot_chunk> download_;
};

}  // namespace sluice::raft::sim
