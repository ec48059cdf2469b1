#include "fetch_buffer.h"

namespace sluice::detail {

void fetch_buffer::push(completed_fetch f) {
    {
        std::lock_guard lk(mutex_);
        bytes_ += f.records.size();
        fetches_.push_back(std::move(f));
    }
    cv_.notify_one();
}

bool fetch_buffer::full_mark_waiting() {
    std::lock_guard lk(mutex_);
    if (bytes_ < bytes_max_) {
        return false;
    }
    fetcher_waiting_ = true;
    return true;
}

std::optional<completed_fetch> fetch_buffer::pop(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lk(mutex_);
    if (!cv_.wait_until(lk, deadline, [&] { return !fetches_.empty() || woken_; }) ||
        fetches_.empty()) {
        woken_ = false;
        return std::nullopt;
    }
    completed_fetch f = std::move(fetches_.front());
    fetches_.pop_front();
    return f;
}

void fetch_buffer::release(size_t bytes) {
    bool room = false;
    {
        std::lock_guard lk(mutex_);
        bytes_ -= std::min(bytes, bytes_);
        if (fetcher_waiting_ && bytes_ < bytes_max_) {
            fetcher_waiting_ = false;
            room = true;
        }
    }
    if (room) {
        on_room_();
    }
}

void fetch_buffer::wake() {
    {
        std::lock_guard lk(mutex_);
        woken_ = true;
    }
    cv_.notify_all();
}

void fetch_buffer::clear() {
    bool room = false;
    {
        std::lock_guard lk(mutex_);
        fetches_.clear();
        bytes_ = 0;
        room = fetcher_waiting_;
        fetcher_waiting_ = false;
    }
    cv_.notify_all();
    if (room) {
        on_room_();
    }
}

}  // namespace sluice::detail
