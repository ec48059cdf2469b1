// raft_log: offsets, terms, epoch ends and the voter set it tracks.
#include <doctest/doctest.h>

#include "sluice/raft/raft_log.h"

using namespace sluice;
using namespace sluice::raft;

namespace {

entry data(int64_t term) {
    return entry{term_t{term}, entry_kind::data, "x", {}};
}
entry voters_entry(int64_t term, std::vector<node_id_t> v) {
    return entry{term_t{term}, entry_kind::voters, {}, std::move(v)};
}
const std::vector<node_id_t> abc{node_id_t{1}, node_id_t{2}, node_id_t{3}};

// A log with terms 1 1 2 2 2 4 at offsets 0..5.
raft_log sample() {
    raft_log l(abc);
    for (int64_t t : {1, 1, 2, 2, 2, 4}) {
        l.append(data(t));
    }
    return l;
}

}  // namespace

TEST_CASE("an empty log starts at offset 0 in term 0") {
    raft_log l(abc);
    CHECK(l.start() == offset_t{0});
    CHECK(l.end() == offset_t{0});
    CHECK(l.last_term() == term_t{0});
    CHECK(l.term_at(offset_t{-1}) == term_t{0});
    CHECK_FALSE(l.term_at(offset_t{0}).has_value());
    CHECK(l.voters() == abc);
}

TEST_CASE("terms by offset, truncation and compaction") {
    raft_log l = sample();
    CHECK(l.end() == offset_t{6});
    CHECK(l.last_term() == term_t{4});
    CHECK(l.term_at(offset_t{2}) == term_t{2});
    l.truncate(offset_t{4});
    CHECK(l.end() == offset_t{4});
    CHECK(l.last_term() == term_t{2});
    l.compact(offset_t{3});
    CHECK(l.start() == offset_t{3});
    CHECK(l.start_term() == term_t{2});
    CHECK(l.term_at(offset_t{2}) == term_t{2});  // the snapshot's last entry
    CHECK_FALSE(l.term_at(offset_t{1}).has_value());
    CHECK(l.at(offset_t{3}).term == term_t{2});
    l.reset(snapshot_id{offset_t{10}, term_t{5}}, {node_id_t{7}});
    CHECK(l.start() == offset_t{10});
    CHECK(l.end() == offset_t{10});
    CHECK(l.last_term() == term_t{5});
    CHECK(l.voters() == std::vector<node_id_t>{node_id_t{7}});
}

TEST_CASE("end offset for an epoch") {
    raft_log l = sample();
    // An epoch in the log ends where the next greater one starts.
    CHECK(l.end_offset_for_epoch(term_t{1}) == epoch_end{term_t{1}, offset_t{2}});
    CHECK(l.end_offset_for_epoch(term_t{2}) == epoch_end{term_t{2}, offset_t{5}});
    // An epoch the log lacks: the largest smaller one.
    CHECK(l.end_offset_for_epoch(term_t{3}) == epoch_end{term_t{2}, offset_t{5}});
    CHECK(l.end_offset_for_epoch(term_t{4}) == epoch_end{term_t{4}, offset_t{6}});
    CHECK(l.end_offset_for_epoch(term_t{9}) == epoch_end{term_t{4}, offset_t{6}});
    CHECK(l.end_offset_for_epoch(term_t{0}) == epoch_end{term_t{0}, offset_t{0}});
    // After compaction, epochs inside the snapshot are unknown.
    l.compact(offset_t{3});
    CHECK(l.end_offset_for_epoch(term_t{2}) == epoch_end{term_t{2}, offset_t{5}});
    CHECK_FALSE(l.end_offset_for_epoch(term_t{1}).has_value());
    l.compact(offset_t{5});
    CHECK(l.end_offset_for_epoch(term_t{3}) == epoch_end{term_t{2}, offset_t{5}});
}

TEST_CASE("the voter set follows voters entries, also through truncation and compaction") {
    raft_log l(abc);
    l.append(data(1));
    const std::vector<node_id_t> abcd{node_id_t{1}, node_id_t{2}, node_id_t{3}, node_id_t{4}};
    l.append(voters_entry(1, abcd));  // offset 1
    l.append(data(1));
    CHECK(l.voters() == abcd);
    CHECK(l.voters_at(offset_t{1}) == abc);
    CHECK(l.voters_at(offset_t{2}) == abcd);
    CHECK(l.last_voters_offset() == offset_t{1});
    l.truncate(offset_t{1});  // the change is undone with its entry
    CHECK(l.voters() == abc);
    CHECK_FALSE(l.last_voters_offset().has_value());
    l.append(voters_entry(2, abcd));
    l.append(data(2));
    l.compact(offset_t{3});  // the change is now part of the snapshot
    CHECK(l.voters() == abcd);
    CHECK_FALSE(l.last_voters_offset().has_value());
}
