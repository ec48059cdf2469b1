// A bounded set of open segment files shared by every log of a broker: a sealed segment's file is
// opened when it is read and closed again, least recently used first, once more than `capacity`
// sealed files are open. Active segments keep their files open outside the cache (they are
// written all the time), so the files a broker holds open are: per partition its active segment
// and its directory, plus at most `capacity` sealed segments (and any a reader is still using).
//
// Threading: any thread; one mutex guards the set, held for a lookup or an insertion, and for
// the open(2) of a file that is not cached. A caller keeps the shared_ptr it got for as long as it
// reads; eviction only drops the cache's own reference.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "sluice/protocol/result.h"
#include "sluice/storage/file_system.h"

namespace sluice::storage {

class file_cache {
  public:
    explicit file_cache(size_t capacity) : capacity_(capacity) {}
    file_cache(const file_cache&) = delete;
    file_cache& operator=(const file_cache&) = delete;

    // A key for one segment file, unique in the process.
    static uint64_t new_key();

    // The open file for `key`, opened from `path` with `fs` (read-write) if it is not cached.
    result<std::shared_ptr<file>> get(uint64_t key, file_system& fs,
                                      const std::filesystem::path& path);
    // Caches a file that is already open (a segment just sealed, or found at recovery).
    void put(uint64_t key, std::shared_ptr<file> f);
    // Drops the file of a removed or reactivated segment.
    void forget(uint64_t key);

    size_t capacity() const { return capacity_; }
    size_t open_files() const;
    uint64_t opens() const { return opens_.load(std::memory_order_relaxed); }  // cache misses

  private:
    void insert(uint64_t key, std::shared_ptr<file> f);  // under mutex_

    struct entry {
        std::shared_ptr<file> f;
        std::list<uint64_t>::iterator lru;
    };
    const size_t capacity_;
    mutable std::mutex mutex_;
    std::unordered_map<uint64_t, entry> entries_;
    std::list<uint64_t> lru_;  // most recently used first
    std::atomic<uint64_t> opens_{0};
};

}  // namespace sluice::storage
