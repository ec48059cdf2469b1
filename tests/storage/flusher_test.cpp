// Group commit: the flusher runs completions exactly once, in submit order, after an fsync that
// began after their submit; many submits share one fsync round; errors reach exactly the requests
// that named the failing file; destruction drains the queue.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "sluice/storage/flusher.h"

using namespace sluice;
using namespace sluice::storage;

namespace {

// A file whose sync() takes `delay` and then returns `error` (success if none). Only append()
// and sync() are meant for use; `durable` is how many appends the last sync covered.
class slow_file final : public file {
  public:
    explicit slow_file(std::chrono::microseconds delay, std::error_code error = {})
        : delay_(delay), error_(error) {}

    result<size_t> append(std::span<const std::byte> data) override {
        ++appended;
        return data.size();
    }
    result<size_t> read_at(uint64_t, std::span<std::byte>) override { return size_t{0}; }
    result<void> sync() override {
        uint64_t covered = appended.load();  // what was written before the sync began
        std::this_thread::sleep_for(delay_);
        ++syncs;
        if (error_) {
            return error_;
        }
        durable = covered;
        return success();
    }
    result<void> truncate(uint64_t) override { return success(); }
    result<uint64_t> size() override { return uint64_t{0}; }

    std::atomic<uint64_t> appended{0};
    std::atomic<uint64_t> durable{0};
    std::atomic<uint64_t> syncs{0};

  private:
    std::chrono::microseconds delay_;
    std::error_code error_;
};

// What the completions saw; they run on the flusher thread and are checked on the test's.
struct completions {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<size_t> order;             // request numbers, in the order completed
    std::vector<std::error_code> results;  // by request number
    size_t too_early = 0;                  // completions that ran before their data was durable

    explicit completions(size_t n) : results(n) {}

    void done(size_t i, std::error_code ec, bool durable) {
        std::lock_guard lock(mutex);
        order.push_back(i);
        results[i] = ec;
        too_early += durable ? 0 : 1;
        changed.notify_all();
    }

    void wait_for(size_t n) {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return order.size() >= n; });
    }
};

std::vector<size_t> iota(size_t n) {
    std::vector<size_t> v(n);
    for (size_t i = 0; i < n; ++i) {
        v[i] = i;
    }
    return v;
}

}  // namespace

TEST_CASE("submits share fsync rounds and complete once each, in order") {
    constexpr size_t n = 500;
    auto f = std::make_shared<slow_file>(std::chrono::milliseconds(1));
    completions seen(n);
    flusher fl;

    // One producer thread, as a log's owner would be: write, then ask for durability.
    std::thread producer([&] {
        const std::byte one[1]{};
        for (size_t i = 0; i < n; ++i) {
            (void)f->append(one);
            uint64_t written = f->appended.load();
            fl.submit({f}, [&seen, &f = *f, i, written](std::error_code ec) {
                seen.done(i, ec, f.durable.load() >= written);
            });
        }
    });
    producer.join();
    seen.wait_for(n);

    std::lock_guard lock(seen.mutex);
    CHECK(seen.order == iota(n));
    CHECK(seen.too_early == 0);
    for (const auto& ec : seen.results) {
        CHECK(!ec);
    }
    CHECK(fl.rounds() < n / 10);
    CHECK(f->syncs.load() == fl.rounds());  // each round synced the one file once
}

TEST_CASE("a sync error reaches exactly the requests that named the file") {
    const auto eio = std::make_error_code(std::errc::io_error);
    auto good = std::make_shared<slow_file>(std::chrono::microseconds(200));
    auto bad = std::make_shared<slow_file>(std::chrono::microseconds(200), eio);
    auto other = std::make_shared<slow_file>(std::chrono::microseconds(200));
    using files = std::vector<std::shared_ptr<file>>;
    const std::vector<std::pair<files, bool>> requests = {
        {{good}, false},        {{bad}, true},         {{good, bad}, true},
        {{other}, false},       {{}, false},           {{bad, other}, true},
        {{other, good}, false}, {{good, good}, false}, {{bad}, true},
    };
    completions seen(requests.size());
    {
        flusher fl;
        // Several rounds, so that the failing file fails in each round that syncs it.
        for (int round = 0; round < 3; ++round) {
            seen.results.assign(requests.size(), {});
            for (size_t i = 0; i < requests.size(); ++i) {
                fl.submit(requests[i].first,
                          [&seen, i](std::error_code ec) { seen.done(i, ec, true); });
            }
            seen.wait_for((round + 1) * requests.size());
            std::lock_guard lock(seen.mutex);
            for (size_t i = 0; i < requests.size(); ++i) {
                CAPTURE(i);
                CHECK(seen.results[i] == (requests[i].second ? eio : std::error_code{}));
            }
        }
    }
    CHECK(seen.order.size() == 3 * requests.size());
}

TEST_CASE("destroying the flusher runs every queued request first") {
    constexpr size_t n = 200;
    auto f = std::make_shared<slow_file>(std::chrono::milliseconds(1));
    completions seen(n);
    {
        flusher fl;
        for (size_t i = 0; i < n; ++i) {
            fl.submit({f}, [&seen, i](std::error_code ec) { seen.done(i, ec, true); });
        }
    }  // the destructor returns only after the queue is empty
    CHECK(seen.order == iota(n));
    CHECK(f.use_count() == 1);  // the flusher let go of every file
}
