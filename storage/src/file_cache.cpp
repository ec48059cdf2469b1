#include "sluice/storage/file_cache.h"

namespace sluice::storage {

uint64_t file_cache::new_key() {
    static std::atomic<uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
}

void file_cache::insert(uint64_t key, std::shared_ptr<file> f) {
    auto it = entries_.find(key);
    if (it != entries_.end()) {
        lru_.erase(it->second.lru);
        entries_.erase(it);
    }
    lru_.push_front(key);
    entries_.emplace(key, entry{std::move(f), lru_.begin()});
    while (entries_.size() > capacity_) {
        entries_.erase(lru_.back());
        lru_.pop_back();
    }
}

result<std::shared_ptr<file>> file_cache::get(uint64_t key, file_system& fs,
                                              const std::filesystem::path& path) {
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(key); it != entries_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second.lru);
        return it->second.f;
    }
    SLUICE_TRY(auto opened, fs.open(path, open_mode::read_write));
    opens_.fetch_add(1, std::memory_order_relaxed);
    std::shared_ptr<file> f = std::move(opened);
    insert(key, f);
    return f;
}

void file_cache::put(uint64_t key, std::shared_ptr<file> f) {
    std::lock_guard lock(mutex_);
    insert(key, std::move(f));
}

void file_cache::forget(uint64_t key) {
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(key); it != entries_.end()) {
        lru_.erase(it->second.lru);
        entries_.erase(it);
    }
}

size_t file_cache::open_files() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

}  // namespace sluice::storage
