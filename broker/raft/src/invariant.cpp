#include "sluice/raft/invariant.h"

#include <cstdio>
#include <cstdlib>

namespace sluice::raft {
namespace {

invariant_handler current_handler = nullptr;

}  // namespace

invariant_handler set_invariant_handler(invariant_handler h) noexcept {
    invariant_handler previous = current_handler;
    current_handler = h;
    return previous;
}

void invariant_failed(const char* file, int line, const char* condition) {
    if (current_handler != nullptr) {
        current_handler(file, line, condition);
    }
    std::fprintf(stderr, "%s:%d: raft invariant failed: %s\n", file, line, condition);
    std::abort();
}

}  // namespace sluice::raft
