#include "storage.h"

#include <fmt/format.h>

namespace sluice::raft::sim {

const entry* disk_state::find(offset_t o) const {
    if (o < start || o >= end()) {
        return nullptr;
    }
    return &entries[static_cast<size_t>(o - start)];
}

std::optional<std::string> storage::apply(disk_state& d, const op& o) {
    if (const auto* t = std::get_if<truncate_op>(&o)) {
        if (t->from < d.end()) {
            const offset_t keep = std::max(t->from, d.start);
            d.entries.resize(static_cast<size_t>(keep - d.start));
        }
    } else if (const auto* so = std::get_if<snapshot_op>(&o)) {
        const snapshot* s = &so->snap;
        if (d.snap && s->id.end_offset <= d.snap->id.end_offset) {
            return fmt::format("snapshot at {} does not move past the stored one at {}",
                               s->id.end_offset, d.snap->id.end_offset);
        }
        const offset_t end = s->id.end_offset;
        if (d.end() <= end) {
            d.entries.clear();
        } else {
            d.entries.erase(d.entries.begin(), d.entries.begin() + (end - d.start));
        }
        d.start = end;
        d.snap = *s;
        d.snap_file = so->file;
    } else if (const auto* a = std::get_if<append_op>(&o)) {
        if (a->at != d.end()) {
            return fmt::format("entry appended at {} but the log ends at {}", a->at, d.end());
        }
        d.entries.push_back(a->e);
    } else {
        d.hard = std::get<hard_state>(o);
    }
    return std::nullopt;
}

std::optional<std::string> storage::write(const ready& rd) {
    std::vector<op> ops;
    if (rd.truncate_to) {
        ops.emplace_back(truncate_op{*rd.truncate_to});
    }
    if (rd.snap_chunk) {
        const snapshot_chunk& c = *rd.snap_chunk;
        if (c.position == 0) {
            download_ = c;
        } else if (!download_ || download_->id != c.id ||
                   c.position != static_cast<int64_t>(download_->bytes.size())) {
            return fmt::format("snapshot chunk at {} does not continue the file being received",
                               c.position);
        } else {
            download_->bytes += c.bytes;
        }
    }
    if (rd.snap) {
        std::string file;
        if (rd.restore_snapshot) {
            if (!download_ || download_->id != rd.snap->id) {
                return fmt::format("snapshot {} restored but not received", rd.snap->id.end_offset);
            }
            file = std::move(download_->bytes);
            download_.reset();
        } else {
            file = std::move(local_file_);
            local_file_.clear();
        }
        if (static_cast<int64_t>(file.size()) != rd.snap->size_bytes) {
            return fmt::format("snapshot {} of {} bytes has a file of {}", rd.snap->id.end_offset,
                               rd.snap->size_bytes, file.size());
        }
        ops.emplace_back(snapshot_op{*rd.snap, std::move(file)});
    }
    for (size_t i = 0; i < rd.entries.size(); ++i) {
        ops.emplace_back(append_op{rd.entries_offset + static_cast<int64_t>(i), rd.entries[i]});
    }
    if (rd.hard) {
        ops.emplace_back(*rd.hard);
    }
    for (op& o : ops) {
        if (auto err = apply(written_, o)) {
            return err;
        }
        staged_.push_back(std::move(o));
    }
    if (written_.end() != rd.log_end_offset) {
        return fmt::format("after the ready the stored log ends at {}, the core's at {}",
                           written_.end(), rd.log_end_offset);
    }
    return std::nullopt;
}

void storage::flush() {
    for (const op& o : staged_) {
        apply(durable_, o);
    }
    staged_.clear();
}

int64_t storage::crash(rng& r, bool lose_all, bool reordered) {
    const size_t keep = lose_all ? 0 : static_cast<size_t>(r.below(staged_.size() + 1));
    // Reordered: the last hard state staged survives on its own (or not); the log's writes keep
    // their order.
    const bool hard_survives = reordered && !lose_all && r.below(2) == 0;
    size_t last_hard = staged_.size();
    for (size_t i = 0; i < staged_.size(); ++i) {
        if (std::holds_alternative<hard_state>(staged_[i])) {
            last_hard = i;
        }
    }
    int64_t lost = 0;
    size_t log_ops = 0;
    for (size_t i = 0; i < staged_.size(); ++i) {
        const bool is_hard = std::holds_alternative<hard_state>(staged_[i]);
        bool kept = i < keep;
        if (reordered) {
            kept = is_hard ? (hard_survives && i == last_hard) : log_ops++ < keep;
        }
        if (kept) {
            apply(durable_, staged_[i]);
        } else if (std::holds_alternative<append_op>(staged_[i])) {
            ++lost;
        }
    }
    staged_.clear();
    written_ = durable_;
    local_file_.clear();
    download_.reset();
    return lost;
}

std::optional<std::string> storage::read_snapshot(const snapshot_id& id, int64_t position,
                                                  int64_t length) const {
    if (!durable_.snap || durable_.snap->id != id || position < 0 ||
        position > static_cast<int64_t>(durable_.snap_file.size())) {
        return std::nullopt;
    }
    return durable_.snap_file.substr(static_cast<size_t>(position), static_cast<size_t>(length));
}

persisted_state storage::load() const {
    persisted_state s;
    s.hard = durable_.hard;
    s.snap = durable_.snap;
    s.entries.assign(durable_.entries.begin(), durable_.entries.end());
    return s;
}

}  // namespace sluice::raft::sim
