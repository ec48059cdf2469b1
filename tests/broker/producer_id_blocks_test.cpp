// The broker's producer-id blocks: ids come out in order, each once, across blocks and threads.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <thread>
#include <vector>

#include "sluice/core/producer_id_blocks.h"

using namespace sluice;
using namespace sluice::broker;

TEST_CASE("producer id blocks hand out each id once, in order, and then nothing") {
    producer_id_blocks b;
    CHECK_FALSE(b.take());
    b.add(1000, 3);
    b.add(5000, 2);
    b.add(-1, 10);            // not a block
    b.add(INT64_MAX - 1, 5);  // would overflow: not a block
    CHECK(b.remaining() == 5);
    std::vector<int64_t> got;
    while (auto id = b.take()) {
        got.push_back(id->value());
    }
    CHECK(got == std::vector<int64_t>{1000, 1001, 1002, 5000, 5001});
    CHECK(b.remaining() == 0);
}

TEST_CASE("producer id blocks: concurrent takers never get the same id") {
    producer_id_blocks b;
    b.add(0, 4000);
    std::vector<std::vector<int64_t>> seen(4);
    std::vector<std::thread> threads;
    for (auto& out : seen) {
        threads.emplace_back([&b, &out] {
            while (auto id = b.take()) {
                out.push_back(id->value());
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    std::set<int64_t> all;
    size_t total = 0;
    for (const auto& s : seen) {
        CHECK(std::is_sorted(s.begin(), s.end()));
        all.insert(s.begin(), s.end());
        total += s.size();
    }
    CHECK(total == 4000);
    CHECK(all.size() == 4000);
}
