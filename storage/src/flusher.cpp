#include "sluice/storage/flusher.h"

#include <algorithm>
#include <map>

namespace sluice::storage {

flusher::flusher() : thread_([this] { run(); }) {}

flusher::~flusher() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
}

void flusher::submit(std::vector<std::shared_ptr<file>> files, completion done) {
    {
        std::lock_guard lock(mutex_);
        queue_.push_back({std::move(files), std::move(done)});
    }
    wake_.notify_one();
}

uint64_t flusher::rounds() const {
    std::lock_guard lock(mutex_);
    return rounds_;
}

void flusher::run() {
    std::vector<request> batch;
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) {
                return;  // stopping, and nothing left to do
            }
            batch.swap(queue_);
            ++rounds_;
        }
        // Each distinct file once; remember its outcome for every request that named it.
        std::map<file*, std::error_code> outcome;
        for (auto& r : batch) {
            for (auto& f : r.files) {
                if (outcome.contains(f.get())) {
                    continue;
                }
                auto res = f->sync();
                outcome[f.get()] = res ? std::error_code{} : res.error();
            }
        }
        for (auto& r : batch) {
            std::error_code ec;
            for (auto& f : r.files) {
                if (auto e = outcome[f.get()]) {
                    ec = e;
                    break;
                }
            }
            r.done(ec);
        }
        batch.clear();
    }
}

}  // namespace sluice::storage
