#include "sluice/raft/raft_log.h"

#include <algorithm>
#include <utility>

#include "sluice/raft/invariant.h"

namespace sluice::raft {

raft_log::raft_log(std::vector<node_id_t> bootstrap_voters)
    : start_voters_(std::move(bootstrap_voters)) {
    std::sort(start_voters_.begin(), start_voters_.end());
}

term_t raft_log::last_term() const {
    return entries_.empty() ? start_term_ : entries_.back().term;
}

std::optional<term_t> raft_log::term_at(offset_t o) const {
    if (o == start_ - 1) {
        return start_term_;
    }
    if (o < start_ || o >= end()) {
        return std::nullopt;
    }
    return entries_[static_cast<size_t>(o - start_)].term;
}

const entry& raft_log::at(offset_t o) const {
    SLUICE_RAFT_CHECK(o >= start_ && o < end());
    return entries_[static_cast<size_t>(o - start_)];
}

void raft_log::append(entry e) {
    SLUICE_RAFT_CHECK(e.term >= last_term() && e.term > term_t{0});
    if (e.kind == entry_kind::voters) {
        configs_.emplace_back(end(), e.voters);
    }
    entries_.push_back(std::move(e));
}

void raft_log::truncate(offset_t from) {
    SLUICE_RAFT_CHECK(from >= start_ && from <= end());
    entries_.resize(static_cast<size_t>(from - start_));
    while (!configs_.empty() && configs_.back().first >= from) {
        configs_.pop_back();
    }
}

void raft_log::compact(offset_t new_start) {
    SLUICE_RAFT_CHECK(new_start > start_ && new_start <= end());
    start_voters_ = voters_at(new_start);
    start_term_ = *term_at(new_start - 1);
    entries_.erase(entries_.begin(), entries_.begin() + (new_start - start_));
    start_ = new_start;
    while (!configs_.empty() && configs_.front().first < new_start) {
        configs_.erase(configs_.begin());
    }
}

void raft_log::reset(const snapshot_id& id, std::vector<node_id_t> voters) {
    entries_.clear();
    configs_.clear();
    start_ = id.end_offset;
    start_term_ = id.term;
    start_voters_ = std::move(voters);
    std::sort(start_voters_.begin(), start_voters_.end());
}

std::optional<epoch_end> raft_log::end_offset_for_epoch(term_t epoch) const {
    if (epoch >= last_term()) {
        return epoch_end{last_term(), end()};
    }
    // Terms never decrease along the log: find the first entry with a term above `epoch`.
    auto it = std::upper_bound(entries_.begin(), entries_.end(), epoch,
                               [](term_t e, const entry& x) { return e < x.term; });
    offset_t first_greater = start_ + static_cast<int64_t>(it - entries_.begin());
    if (first_greater == start_) {
        if (start_term_ > epoch) {
            return std::nullopt;
        }
        return epoch_end{start_term_, start_};
    }
    return epoch_end{*term_at(first_greater - 1), first_greater};
}

const std::vector<node_id_t>& raft_log::voters() const {
    return configs_.empty() ? start_voters_ : configs_.back().second;
}

const std::vector<node_id_t>& raft_log::voters_at(offset_t end_offset) const {
    SLUICE_RAFT_CHECK(end_offset >= start_ && end_offset <= end());
    const std::vector<node_id_t>* v = &start_voters_;
    for (const auto& [offset, voters] : configs_) {
        if (offset >= end_offset) {
            break;
        }
        v = &voters;
    }
    return *v;
}

std::optional<offset_t> raft_log::last_voters_offset() const {
    if (configs_.empty()) {
        return std::nullopt;
    }
    return configs_.back().first;
}

}  // namespace sluice::raft
