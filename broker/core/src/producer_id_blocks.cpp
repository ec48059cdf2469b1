#include "sluice/core/producer_id_blocks.h"

namespace sluice::broker {

std::optional<producer_id_t> producer_id_blocks::take() {
    std::lock_guard lock(mutex_);
    while (!blocks_.empty() && blocks_.front().next == blocks_.front().end) {
        blocks_.pop_front();
    }
    if (blocks_.empty()) {
        return std::nullopt;
    }
    return producer_id_t{blocks_.front().next++};
}

void producer_id_blocks::add(int64_t first, int32_t count) {
    if (first < 0 || count <= 0 || first > INT64_MAX - count) {
        return;  // not a block (a controller never sends one)
    }
    std::lock_guard lock(mutex_);
    blocks_.push_back({first, first + count});
}

int64_t producer_id_blocks::remaining() const {
    std::lock_guard lock(mutex_);
    int64_t n = 0;
    for (const block& b : blocks_) {
        n += b.end - b.next;
    }
    return n;
}

}  // namespace sluice::broker
