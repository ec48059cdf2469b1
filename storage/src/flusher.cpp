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

void flusher::submit_paths(file_system& fs, std::vector<std::filesystem::path> files,
                           std::filesystem::path directory, completion done) {
    {
        std::lock_guard lock(mutex_);
        request r;
        r.done = std::move(done);
        r.fs = &fs;
        r.paths = std::move(files);
        r.directory = std::move(directory);
        queue_.push_back(std::move(r));
    }
    wake_.notify_one();
}

namespace {

std::error_code sync_named(file_system& fs, const std::vector<std::filesystem::path>& paths,
                           const std::filesystem::path& directory) {
    for (const auto& p : paths) {
        auto f = fs.open(p, open_mode::read_only);
        if (!f && f.error() == std::errc::no_such_file_or_directory) {
            continue;  // removed meanwhile (retention, truncation): nothing of it is kept
        }
        if (!f) {
            return f.error();
        }
        if (auto r = f.value()->sync(); !r) {
            return r.error();
        }
    }
    if (!directory.empty()) {
        if (auto r = fs.sync_directory(directory); !r) {
            return r.error();
        }
    }
    return {};
}

}  // namespace

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
            if (r.fs != nullptr) {
                ec = sync_named(*r.fs, r.paths, r.directory);
            }
            for (auto& f : r.files) {
                if (ec) {
                    break;
                }
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
