// Helpers of the tests that drive partitions directly.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include <doctest/doctest.h>

#include "sluice/core/partition.h"

namespace sluice::testing {

// The bytes of a read's file ranges, read back from the segment files.
inline std::vector<std::byte> bytes_of(const broker::partition::read_outcome& r) {
    std::vector<std::byte> out;
    for (const auto& range : r.ranges) {
        const size_t at = out.size();
        out.resize(at + range.length);
        auto got = range.f->read_at(range.position, std::span(out).subspan(at));
        REQUIRE(got.has_value());
        REQUIRE(got.value() == range.length);
    }
    return out;
}

}  // namespace sluice::testing
