// The high-watermark state machine: when acknowledgements complete and fetches wake, in both
// flush modes, and what happens on failure and close.
#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "sluice/core/partition_state.h"

using namespace sluice;
using namespace sluice::broker;

namespace {

struct counting_waiter : wakeup {
    int wakes = 0;
    bool finished = false;
    void wake() override { ++wakes; }
    bool done() const override { return finished || wakes > 0; }
};

struct acks {
    std::vector<errc> results;
    partition_state::ack_callback callback() {
        return [this](errc e) { results.push_back(e); };
    }
};

}  // namespace

TEST_CASE("page-cache mode: the high watermark follows every append") {
    partition_state s(offset_t{5}, false);
    CHECK(s.high_watermark() == offset_t{5});
    s.appended(offset_t{8});
    CHECK(s.high_watermark() == offset_t{8});
    CHECK_FALSE(s.take_durable_request().has_value());
    acks a;
    s.wait_for_hw(offset_t{8}, a.callback());
    REQUIRE(a.results.size() == 1);  // already there: completes at once
    CHECK(a.results[0] == errc::none);
    s.wait_for_hw(offset_t{10}, a.callback());
    CHECK(a.results.size() == 1);
    s.appended(offset_t{10});
    CHECK(a.results.size() == 2);
}

TEST_CASE("fsync mode: the high watermark waits for the group commit") {
    partition_state s(offset_t{0}, true);
    acks a;
    s.appended(offset_t{3});
    CHECK(s.high_watermark() == offset_t{0});
    CHECK(s.log_end() == offset_t{3});
    s.wait_for_hw(offset_t{3}, a.callback());
    auto req = s.take_durable_request();
    REQUIRE(req.has_value());
    CHECK(*req == offset_t{3});
    // One request in flight at a time; appends meanwhile wait for the next one.
    s.appended(offset_t{5});
    s.wait_for_hw(offset_t{5}, a.callback());
    CHECK_FALSE(s.take_durable_request().has_value());
    s.durable(offset_t{3});
    CHECK(s.high_watermark() == offset_t{3});
    REQUIRE(a.results.size() == 1);
    auto next = s.take_durable_request();
    REQUIRE(next.has_value());
    CHECK(*next == offset_t{5});
    s.durable(offset_t{5});
    CHECK(a.results.size() == 2);
    CHECK_FALSE(s.take_durable_request().has_value());  // nothing left to sync
}

TEST_CASE("a failed fsync fails every pending acknowledgement") {
    partition_state s(offset_t{0}, true);
    acks a;
    s.appended(offset_t{2});
    s.wait_for_hw(offset_t{2}, a.callback());
    REQUIRE(s.take_durable_request().has_value());
    s.durable_failed(errc::kafka_storage_error);
    REQUIRE(a.results.size() == 1);
    CHECK(a.results[0] == errc::kafka_storage_error);
    CHECK(s.high_watermark() == offset_t{0});
    // The log has failed: no more durability requests (no retry loop), later waits fail at once.
    CHECK_FALSE(s.take_durable_request().has_value());
    s.wait_for_hw(offset_t{2}, a.callback());
    REQUIRE(a.results.size() == 2);
    CHECK(a.results[1] == errc::kafka_storage_error);
}

TEST_CASE("fetch waiters wake once when the high watermark moves") {
    partition_state s(offset_t{0}, false);
    auto w1 = std::make_shared<counting_waiter>();
    auto w2 = std::make_shared<counting_waiter>();
    s.add_waiter(w1);
    s.add_waiter(w2);
    s.appended(offset_t{0});  // no movement, no wake
    CHECK(w1->wakes == 0);
    s.appended(offset_t{1});
    CHECK(w1->wakes == 1);
    CHECK(w2->wakes == 1);
    CHECK(s.fetch_waiters() == 0);
    s.appended(offset_t{2});
    CHECK(w1->wakes == 1);  // one-shot
}

TEST_CASE("finished waiters are dropped, so an idle partition's list stays bounded") {
    partition_state s(offset_t{0}, false);
    for (int i = 0; i < 1000; ++i) {
        auto w = std::make_shared<counting_waiter>();
        w->finished = true;  // the fetch completed because of another partition
        s.add_waiter(w);
    }
    CHECK(s.fetch_waiters() <= 32);
}

TEST_CASE("closing fails acknowledgements and wakes fetches") {
    partition_state s(offset_t{0}, true);
    acks a;
    auto w = std::make_shared<counting_waiter>();
    s.add_waiter(w);
    s.appended(offset_t{1});
    s.wait_for_hw(offset_t{1}, a.callback());
    s.abort_all(errc::unknown_topic_or_partition);
    REQUIRE(a.results.size() == 1);
    CHECK(a.results[0] == errc::unknown_topic_or_partition);
    CHECK(w->wakes == 1);
}
