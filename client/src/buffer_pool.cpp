#include "sluice/client/internal/buffer_pool.h"

#include <algorithm>

namespace sluice::client {
namespace {

// Capacities are rounded up so that answers of slightly different sizes fit the same buffer.
constexpr size_t capacity_step = 64u << 10;

}  // namespace

std::shared_ptr<std::byte[]> buffer_pool::get(size_t size) {
    if (size < limits_.size_min || size > limits_.kept_bytes_max) {
        return std::shared_ptr<std::byte[]>(new std::byte[std::max<size_t>(size, 1)]);
    }
    std::unique_ptr<std::byte[]> bytes;
    size_t capacity = 0;
    {
        std::lock_guard lk(mutex_);
        // The smallest free buffer that fits, the newest of equals (its pages are the warmest).
        // Smaller ones stay: put() makes room for the new one when it comes back.
        auto best = free_.end();
        for (auto it = free_.begin(); it != free_.end(); ++it) {
            if (it->capacity >= size && (best == free_.end() || it->capacity <= best->capacity)) {
                best = it;
            }
        }
        if (best != free_.end()) {
            bytes = std::move(best->bytes);
            capacity = best->capacity;
            kept_bytes_ -= capacity;
            free_.erase(best);
        }
    }
    if (!bytes) {
        capacity = (size + capacity_step - 1) / capacity_step * capacity_step;
        bytes.reset(new std::byte[capacity]);
    }
    std::byte* raw = bytes.release();
    return std::shared_ptr<std::byte[]>(raw, [pool = shared_from_this(), capacity](std::byte* p) {
        pool->put(std::unique_ptr<std::byte[]>(p), capacity);
    });
}

void buffer_pool::put(std::unique_ptr<std::byte[]> bytes, size_t capacity) {
    std::vector<free_buffer> dropped;  // freed after the lock is released
    std::lock_guard lk(mutex_);
    // The newest buffer is kept (it fits the answers of now); the oldest make room for it.
    while (!free_.empty() && kept_bytes_ + capacity > limits_.kept_bytes_max) {
        kept_bytes_ -= free_.front().capacity;
        dropped.push_back(std::move(free_.front()));
        free_.erase(free_.begin());
    }
    if (kept_bytes_ + capacity <= limits_.kept_bytes_max) {
        kept_bytes_ += capacity;
        free_.push_back({std::move(bytes), capacity});
    }
}

size_t buffer_pool::kept_bytes() const {
    std::lock_guard lk(mutex_);
    return kept_bytes_;
}

}  // namespace sluice::client
