// The leader-epoch cache: what a leader answers a follower about where an epoch ends, and how
// truncation and retention change it.
#include <doctest/doctest.h>

#include <vector>

#include "sluice/core/leader_epochs.h"

using namespace sluice;
using namespace sluice::broker;

namespace {

leader_epoch_t e(int32_t v) {
    return leader_epoch_t{v};
}
offset_t o(int64_t v) {
    return offset_t{v};
}

}  // namespace

TEST_CASE("end_offset_for answers as Kafka's OffsetsForLeaderEpoch does") {
    leader_epoch_cache c;
    CHECK(c.end_offset_for(e(0), o(0)) == epoch_end{});  // nothing known
    CHECK(c.assign(e(1), o(0)));
    CHECK(c.assign(e(3), o(10)));
    CHECK(c.assign(e(6), o(25)));
    CHECK(c.latest_epoch() == e(6));
    // The latest epoch ends at the log end.
    CHECK(c.end_offset_for(e(6), o(40)) == epoch_end{e(6), o(40)});
    // A known epoch ends where the next begins.
    CHECK(c.end_offset_for(e(1), o(40)) == epoch_end{e(1), o(10)});
    CHECK(c.end_offset_for(e(3), o(40)) == epoch_end{e(3), o(25)});
    // An epoch this log never had: the largest one below it, ending where the next begins.
    CHECK(c.end_offset_for(e(4), o(40)) == epoch_end{e(3), o(25)});
    CHECK(c.end_offset_for(e(2), o(40)) == epoch_end{e(1), o(10)});
    // Above every epoch known: undefined.
    CHECK(c.end_offset_for(e(7), o(40)) == epoch_end{});
    CHECK(c.end_offset_for(e(-1), o(40)) == epoch_end{});
}

TEST_CASE("assign keeps epochs and start offsets increasing") {
    leader_epoch_cache c;
    CHECK(c.assign(e(2), o(5)));
    CHECK_FALSE(c.assign(e(2), o(9)));  // the same epoch keeps its first start
    CHECK_FALSE(c.assign(e(1), o(9)));  // a lower epoch is refused
    // An epoch that wrote nothing is replaced by the next one starting at the same offset.
    CHECK(c.assign(e(4), o(5)));
    CHECK(c.entries() == std::vector<epoch_entry>{{e(4), o(5)}});
    CHECK(c.assign(e(5), o(8)));
    CHECK(c.assign(e(7), o(6)));  // below the latest start: the later epochs go
    CHECK(c.entries() == std::vector<epoch_entry>{{e(4), o(5)}, {e(7), o(6)}});
}

TEST_CASE("truncation from the end and from the start") {
    leader_epoch_cache c({{e(1), o(0)}, {e(3), o(10)}, {e(6), o(25)}});
    CHECK_FALSE(c.truncate_from_end(o(30)));
    CHECK(c.truncate_from_end(o(25)));  // epoch 6 began in the cut part
    CHECK(c.latest_epoch() == e(3));
    CHECK(c.truncate_from_start(o(12)));
    CHECK(c.entries() == std::vector<epoch_entry>{{e(3), o(12)}});
    CHECK_FALSE(c.truncate_from_start(o(12)));
    // A question about an epoch retention removed ends where the first one left begins.
    CHECK(c.end_offset_for(e(1), o(20)) == epoch_end{e(1), o(12)});
}

TEST_CASE("entries read from a damaged file are cleaned") {
    leader_epoch_cache c({{e(2), o(0)}, {e(1), o(4)}, {e(3), o(3)}, {e(4), o(3)}, {e(5), o(-1)}});
    // (1, 4) falls in epoch; (3, 3) is replaced by (4, 3), which starts at the same offset.
    CHECK(c.entries() == std::vector<epoch_entry>{{e(2), o(0)}, {e(4), o(3)}});
}
