// The client's answer buffer pool: buffers come back and are used again, within its byte bound,
// from any thread, and outlive the pool's owner.
#include <doctest/doctest.h>

#include <thread>

#include "sluice/client/internal/buffer_pool.h"

using sluice::client::buffer_pool;

namespace {

constexpr size_t kib = 1024;

std::shared_ptr<buffer_pool> pool(size_t kept_bytes_max = 4096 * kib) {
    return buffer_pool::create({64 * kib, kept_bytes_max});
}

}  // namespace

TEST_CASE("a returned buffer is handed out again for an answer of about the same size") {
    auto p = pool();
    std::shared_ptr<std::byte[]> a = p->get(1000 * kib);
    std::byte* first = a.get();
    a[0] = std::byte{1};
    a[1000 * kib - 1] = std::byte{2};  // the whole size is usable
    CHECK(p->kept_bytes() == 0);
    a.reset();
    CHECK(p->kept_bytes() == 1024 * kib);  // rounded up to a multiple of 64 KiB
    auto b = p->get(1010 * kib);           // a little larger still fits
    CHECK(b.get() == first);
    CHECK(p->kept_bytes() == 0);
}

TEST_CASE("small and oversized answers are not kept") {
    auto p = pool(1024 * kib);
    p->get(10 * kib).reset();
    CHECK(p->kept_bytes() == 0);
    p->get(2048 * kib).reset();
    CHECK(p->kept_bytes() == 0);
}

TEST_CASE("the free buffers stay within the byte bound, the newest kept") {
    auto p = pool(2048 * kib);
    std::vector<std::shared_ptr<std::byte[]>> held;
    for (int i = 0; i < 5; ++i) {
        held.push_back(p->get(960 * kib));  // 960 KiB each: two fit the bound
    }
    std::byte* newest = held.back().get();
    for (auto& h : held) {
        h.reset();  // returned oldest first
    }
    CHECK(p->kept_bytes() == 2 * 960 * kib);
    auto again = p->get(900 * kib);
    CHECK(again.get() == newest);      // the smallest that fits; both are equal, the newest is last
    auto bigger = p->get(1500 * kib);  // fits no free buffer: a new one, the free one stays
    CHECK(bigger.get() != again.get());
    CHECK(p->kept_bytes() == 960 * kib);
}

TEST_CASE("buffers come back from other threads and outlive the pool's owner") {
    auto p = pool();
    std::vector<std::shared_ptr<std::byte[]>> held;
    for (int i = 0; i < 3; ++i) {
        held.push_back(p->get(512 * kib));
    }
    std::weak_ptr<buffer_pool> weak = p;
    p.reset();
    CHECK_FALSE(weak.expired());  // the buffers keep it
    std::thread t([&] { held.clear(); });
    t.join();
    CHECK(weak.expired());  // the last buffer let it go
}
