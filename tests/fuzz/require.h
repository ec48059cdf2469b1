// The fuzz targets' check: a broken contract aborts, so libFuzzer reports it as a crash with the
// input that caused it.
#pragma once

#include <cstdlib>

namespace sluice::fuzz {

inline void require(bool ok) {
    if (!ok) {
        std::abort();
    }
}

}  // namespace sluice::fuzz
