// invalid_reason(): what a message says on its own, checked before step() trusts any of it.
#include <algorithm>

#include "sluice/raft/messages.h"

namespace sluice::raft {
namespace {

using reason = std::optional<std::string_view>;

// Terms, offsets and sizes above this are refused: no log reaches them, and arithmetic on them
// (a term + 1, an offset + a count) must not overflow.
constexpr int64_t value_max = int64_t{1} << 62;

bool is_node(node_id_t n) {
    return n.value() >= 0;
}
bool is_hint(node_id_t n) {  // a leader hint: a node, or none
    return n == no_node || is_node(n);
}

reason check_voters(const std::vector<node_id_t>& v, int32_t voters_max) {
    if (v.empty() || v.size() > static_cast<size_t>(voters_max)) {
        return "a voter set is empty or larger than voters_max";
    }
    if (!std::all_of(v.begin(), v.end(), is_node) ||
        std::adjacent_find(v.begin(), v.end(), std::greater_equal<>()) != v.end()) {
        return "a voter set is not sorted, has duplicates or negative ids";
    }
    return std::nullopt;
}

// A log position and the epoch of the entry before it: both >= 0, the epoch at most `term`, and
// 0 at offset 0.
reason check_position(offset_t end, term_t epoch, term_t term) {
    if (end.value() < 0 || end.value() > value_max || epoch.value() < 0 || epoch > term) {
        return "a negative offset or epoch, or an epoch above the message's term";
    }
    if (end.value() == 0 && epoch.value() != 0) {
        return "an epoch at offset 0";
    }
    return std::nullopt;
}

reason check_snapshot_id(const snapshot_id& id, term_t term) {
    if (id.end_offset.value() < 1 || id.end_offset.value() > value_max || id.term.value() < 1 ||
        id.term > term) {
        return "a snapshot id that no log can hold";
    }
    return std::nullopt;
}

reason check_entries(const fetch_response& r, int32_t voters_max) {
    term_t previous = r.last_fetched_epoch;
    for (const entry& e : r.entries) {
        if (e.term.value() < 1 || e.term < previous || e.term > r.term) {
            return "entry terms that are not positive, fall, or pass the message's term";
        }
        previous = e.term;
        switch (e.kind) {
            case entry_kind::data:
            case entry_kind::leader_change:
                break;
            case entry_kind::voters:
                if (auto bad = check_voters(e.voters, voters_max)) {
                    return bad;
                }
                break;
            default:
                return "an unknown entry kind";
        }
    }
    return std::nullopt;
}

reason check(const pre_vote_request& r, int32_t) {
    return check_position(r.end_offset, r.last_epoch, r.term);
}
reason check(const vote_request& r, int32_t) {
    return check_position(r.end_offset, r.last_epoch, r.term);
}
reason check(const pre_vote_response& r, int32_t) {
    return is_hint(r.leader) ? reason() : reason("a leader hint that is no node");
}
reason check(const vote_response& r, int32_t) {
    return is_hint(r.leader) ? reason() : reason("a leader hint that is no node");
}
reason check(const begin_epoch& r, int32_t) {
    return r.term.value() >= 1 ? reason() : reason("a new epoch at term 0");
}
reason check(const fetch_request& r, int32_t) {
    if (r.high_watermark < offset_t{0} || r.high_watermark > r.fetch_offset) {
        return "a fetcher's high watermark outside its log";
    }
    return check_position(r.fetch_offset, r.last_fetched_epoch, r.term);
}
reason check(const fetch_response& r, int32_t voters_max) {
    if (!is_hint(r.leader)) {
        return "a leader hint that is no node";
    }
    if (r.error != fetch_error::none && r.error != fetch_error::not_leader &&
        r.error != fetch_error::fenced_epoch) {
        return "an unknown fetch error";
    }
    if (auto bad = check_position(r.fetch_offset, r.last_fetched_epoch, r.term)) {
        return bad;
    }
    if (r.high_watermark.value() < 0 || r.high_watermark.value() > value_max) {
        return "a high watermark that no log reaches";
    }
    const int parts =
        int(!r.entries.empty()) + int(r.diverging.has_value()) + int(r.snapshot.has_value());
    if (parts > 1) {
        return "more than one of entries, diverging epoch and snapshot";
    }
    if (r.diverging &&
        (r.diverging->epoch.value() < 0 || r.diverging->epoch > r.term ||
         r.diverging->end_offset.value() < 0 || r.diverging->end_offset.value() > value_max)) {
        return "a diverging epoch that no log can hold";
    }
    if (r.snapshot) {
        if (auto bad = check_snapshot_id(*r.snapshot, r.term)) {
            return bad;
        }
    }
    return check_entries(r, voters_max);
}
reason check(const fetch_snapshot_request& r, int32_t) {
    if (r.position_bytes < 0 || r.position_bytes > value_max) {
        return "a snapshot position out of range";
    }
    return check_snapshot_id(r.id, r.term);
}
reason check(const fetch_snapshot_response& r, int32_t voters_max) {
    if (!is_hint(r.leader)) {
        return "a leader hint that is no node";
    }
    if (auto bad = check_snapshot_id(r.id, r.term)) {
        return bad;
    }
    if (!r.found) {
        return std::nullopt;
    }
    if (r.position_bytes < 0 || r.size_bytes < 1 || r.size_bytes > value_max ||
        r.position_bytes > r.size_bytes ||
        static_cast<uint64_t>(r.size_bytes - r.position_bytes) < r.chunk.size()) {
        return "a snapshot chunk outside the snapshot's size";
    }
    return check_voters(r.voters, voters_max);
}

}  // namespace

std::optional<std::string_view> invalid_reason(const message& m, int32_t voters_max) {
    if (!is_node(m.from) || !is_node(m.to)) {
        return "a sender or receiver that is no node";
    }
    if (term_of(m).value() < 0 || term_of(m).value() > value_max) {
        return "a term out of range";
    }
    return std::visit([voters_max](const auto& b) { return check(b, voters_max); }, m.body);
}

}  // namespace sluice::raft
