// The fetching side of replication, shared by followers and observers: sending fetches, taking
// entries, truncating at a diverging epoch, downloading and installing snapshots.
#include <algorithm>
#include <utility>

#include "sluice/raft/invariant.h"
#include "sluice/raft/node.h"

namespace sluice::raft {

node_id_t node::fetch_target() {
    if (leader_ != no_node) {
        return leader_;
    }
    // Leader unknown: ask the voters in turn; a non-leader answers with its leader hint.
    std::vector<node_id_t> others;
    for (node_id_t v : log_.voters()) {
        if (v != cfg_.id) {
            others.push_back(v);
        }
    }
    if (others.empty()) {
        return no_node;
    }
    return others[discovery_next_++ % others.size()];
}

void node::send_fetch() {
    fetch_elapsed_ = 0;
    const node_id_t to = fetch_target();
    if (to == no_node) {
        return;
    }
    if (download_ && download_->complete) {
        return;  // nothing to fetch until the file received is checked (within this ready)
    }
    if (download_ && leader_ != no_node) {
        send(to, fetch_snapshot_request{term_, download_->id, download_->received});
    } else {
        send(to, fetch_request{term_, log_.end(), log_.last_term(), commit_});
    }
}

void node::on_fetch_response(node_id_t from, const fetch_response& r) {
    if (r.error != fetch_error::none) {
        // Same term, but `from` does not lead it: take its hint.
        if (leader_ == from) {
            leader_ = no_node;
            leader_contact_elapsed_ = cfg_.election_timeout_ticks;
        }
        follow_hint(r.leader);
        return;
    }
    if (second_leader()) {
        return;
    }
    if (role_ != role::follower || leader_ != from) {
        become_follower(term_, from);
    }
    heard_from_leader();  // this answer is the leader's heartbeat
    // Late or duplicated answers are recognised by the echoed position: act only on answers to
    // the log we have now (entries are checked entry by entry in accept_entries).
    const bool current = r.fetch_offset == log_.end() && r.last_fetched_epoch == log_.last_term();
    if (r.snapshot) {
        // The leader can not place our log against its own without the entries its snapshot
        // replaced (we are behind it, or our last epoch ended inside it). The snapshot holds
        // only committed state, so it is newer than our commit point.
        // A complete download waits for its check (within the ready being persisted): it is
        // not replaced meanwhile.
        if (current && r.snapshot->end_offset > commit_ &&
            (!download_ || (download_->id != *r.snapshot && !download_->complete))) {
            download_ = download{*r.snapshot};
            send_fetch();
        }
        return;
    }
    if (r.diverging) {
        if (current) {
            if (truncate_diverging(*r.diverging)) {
                send_fetch();
            }
        }
        return;
    }
    if (!accept_entries(r) && cfg_.fetch_wait_ticks > 0 && current && r.entries.empty()) {
        // Long poll: keep one fetch waiting at the leader. At most one a tick, so a leader
        // that answers at once (one that does not hold fetches) is not asked in a tight loop.
        if (fetch_elapsed_ > 0) {
            send_fetch();
        } else {
            fetch_elapsed_ = cfg_.fetch_interval_ticks + cfg_.fetch_wait_ticks - 1;
        }
    }
}

bool node::accept_entries(const fetch_response& r) {
    offset_t o = r.fetch_offset;
    if (o < log_.start() || o > log_.end() || log_.term_at(o - 1) != r.last_fetched_epoch) {
        return false;  // an answer to a log we no longer have
    }
    // Below `o` our log now equals the leader's: it agreed at o - 1 (Log Matching).
    bool appended = false;
    for (const entry& e : r.entries) {
        if (o < log_.end()) {
            if (log_.term_at(o) == e.term) {
                ++o;
                continue;
            }
            if (o < commit_) {
                ++messages_invalid_;  // a leader whose log differs below our commit point
                return false;
            }
            truncate_log(o);
        }
        log_.append(e);
        appended = true;
        ++o;
    }
    const offset_t c = std::min(r.high_watermark, o);
    if (c > commit_) {
        set_commit(c);
    }
    if (appended) {
        send_fetch();  // acknowledge at once (commitment waits for it) and fetch more
    }
    return appended;
}

bool node::truncate_diverging(const epoch_end& d) {
    // The leader's log agrees with ours at most up to d.end_offset, and only within epochs up to
    // d.epoch; our own log says where our entries of epochs <= d.epoch end.
    const auto mine = log_.end_offset_for_epoch(d.epoch);
    // Committed entries agree with the leader's, so a right answer is never inside our snapshot
    // and never cuts below our commit point.
    if (!mine || std::min(d.end_offset, mine->end_offset) < commit_) {
        ++messages_invalid_;
        return false;
    }
    truncate_log(std::min(d.end_offset, mine->end_offset));
    return true;
}

void node::truncate_log(offset_t from) {
    SLUICE_RAFT_CHECK(from >= commit_);  // committed entries are never removed
    if (from >= log_.end()) {
        return;
    }
    log_.truncate(from);
    unstable_from_ = std::min(unstable_from_, from);
    stable_end_ = std::min(stable_end_, from);
    commit_floor_ = std::min(commit_floor_, from);
    rewrite_floor_ = std::min(rewrite_floor_, from);
    drop_fetches_past(from);
}

void node::drop_fetches_past(offset_t end) {
    // A fetch tells the leader where this log ends, and the leader counts that as replicated:
    // one queued before the log was cut would name entries that are no longer there.
    std::erase_if(messages_, [end](const message& m) {
        const auto* f = std::get_if<fetch_request>(&m.body);
        return f != nullptr && f->fetch_offset > end;
    });
}

void node::on_fetch_snapshot_response(node_id_t from, const fetch_snapshot_response& r) {
    if (!r.found) {
        if (r.leader == from) {
            // The leader replaced the snapshot being downloaded; the next fetch learns the new
            // one. A late answer about an earlier snapshot, or one that arrives once every byte
            // is here, leaves the current download alone.
            if (download_ && download_->id == r.id && !download_->complete) {
                download_.reset();
                send_fetch();
            }
            return;
        }
        if (leader_ == from) {  // `from` does not lead our term: take its hint
            leader_ = no_node;
            leader_contact_elapsed_ = cfg_.election_timeout_ticks;
        }
        follow_hint(r.leader);
        return;
    }
    if (second_leader()) {
        return;
    }
    if (role_ != role::follower || leader_ != from) {
        become_follower(term_, from);
    }
    heard_from_leader();
    if (!download_ || download_->complete || download_->id != r.id ||
        r.position_bytes != download_->received) {
        return;  // late or duplicated chunk
    }
    if ((download_->size_bytes >= 0 && r.size_bytes != download_->size_bytes) ||
        (r.chunk.empty() && r.position_bytes < r.size_bytes)) {
        // One snapshot has one size, and a chunk short of its end moves forward: the leader
        // serves something else under this id. Drop the download; the next fetch starts over.
        ++messages_invalid_;
        download_.reset();
        send_fetch();
        return;
    }
    download_->size_bytes = r.size_bytes;
    queue_chunk(r.id, r.position_bytes, r.chunk);
    download_->received += static_cast<int64_t>(r.chunk.size());
    if (download_->received == r.size_bytes) {
        // Installed only once the caller found the file whole (snapshot_checked).
        download_->complete = true;
        download_->voters = r.voters;
        return;
    }
    send_fetch();
}

void node::snapshot_checked(const snapshot_id& id, bool ok) {
    if (!download_ || !download_->handed || download_->id != id) {
        return;  // a download given up since (maybe of the same snapshot, not yet checked)
    }
    snapshot s{download_->id, std::move(download_->voters), download_->size_bytes};
    download_.reset();
    if (ok) {
        install_snapshot(std::move(s));
    } else {
        ++messages_invalid_;  // the leader's chunks did not make its snapshot
    }
    send_fetch();
}

void node::queue_chunk(const snapshot_id& id, int64_t position, const std::string& bytes) {
    if (pending_chunk_ && pending_chunk_->id == id &&
        pending_chunk_->position + static_cast<int64_t>(pending_chunk_->bytes.size()) == position) {
        pending_chunk_->bytes += bytes;
        return;
    }
    // Bytes still queued that this does not continue belong to a download given up since (this
    // one starts at 0, since the queue empties into every ready): its file is started afresh.
    pending_chunk_ = snapshot_chunk{id, position, bytes};
}

void node::install_snapshot(snapshot s) {
    const offset_t end = s.id.end_offset;
    if (end <= commit_) {
        // We already have all of it (the file received stays unused until the next download
        // or restart starts it afresh).
        return;
    }
    if (end <= log_.end() && log_.term_at(end - 1) == s.id.term) {
        // Our log already holds the snapshot's last entry: keep what follows it.
        log_.compact(end);
    } else {
        // The snapshot holds only committed state. What we have past our commit point is
        // uncommitted, was never acknowledged while downloading, and is fetched again.
        log_.reset(s.id, s.voters);
        drop_fetches_past(offset_t{-1});  // all: the log's last epoch changed
        unstable_from_ = std::min(unstable_from_, end);
        stable_end_ = std::min(stable_end_, end);
        // What the old log held above our commit point was not committed: until the snapshot
        // is durable, no hard state may vouch for it.
        commit_floor_ = std::min(commit_floor_, commit_);
        rewrite_floor_ = std::min(rewrite_floor_, end);
    }
    commit_ = end;
    applied_ = end;
    snapshot_ = s;
    pending_snapshot_ = std::move(s);
    pending_restore_ = true;
}

}  // namespace sluice::raft
