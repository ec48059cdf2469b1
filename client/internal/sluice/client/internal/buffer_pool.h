// Response buffers that are used again instead of freed.
//
// A fetch answer of about a megabyte arrives every millisecond or so at full speed. Allocating a
// new buffer for each one maps fresh pages from the kernel (malloc serves such sizes with mmap
// and gives them back on free): every page then faults in and is zeroed, and every unmap sends
// TLB shootdowns to the other cores. The pool keeps a few freed buffers and hands them out
// again, so the pages stay mapped and warm.
//
// Buffers are shared_ptrs whose deleter returns them here from any thread (a consumer's poll
// thread drops records while its I/O thread reads the next answer), so the pool is locked and
// lives as long as its last buffer. Bounded: it keeps at most `kept_bytes_max` of free buffers;
// sizes below `size_min` or above `kept_bytes_max` are plainly allocated and freed.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace sluice::client {

class buffer_pool : public std::enable_shared_from_this<buffer_pool> {
  public:
    struct limits {
        size_t size_min = 64u << 10;
        size_t kept_bytes_max = 8u << 20;
    };

    static std::shared_ptr<buffer_pool> create(limits l) {
        return std::shared_ptr<buffer_pool>(new buffer_pool(l));
    }

    // A buffer of at least `size` bytes (contents undefined), aligned as new[] aligns.
    std::shared_ptr<std::byte[]> get(size_t size);

    size_t kept_bytes() const;  // capacity of the free buffers held now (for tests)

  private:
    struct free_buffer {
        std::unique_ptr<std::byte[]> bytes;
        size_t capacity;
    };

    explicit buffer_pool(limits l) : limits_(l) {}
    void put(std::unique_ptr<std::byte[]> bytes, size_t capacity);

    const limits limits_;
    mutable std::mutex mutex_;
    std::vector<free_buffer> free_;  // guarded by mutex_
    size_t kept_bytes_ = 0;          // guarded by mutex_: the capacities in free_
};

}  // namespace sluice::client
