#include "sluice/storage/flusher.h"

#include <algorithm>
#include <atomic>
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

void flusher::sync_all(const std::vector<file*>& files, std::map<file*, std::error_code>& outcome) {
    // In parallel: the file system commits concurrent fsyncs of different files together (one
    // journal commit on ext4 or XFS instead of one per file), so a round that covers many
    // partitions costs about what one file's fsync does.
    std::vector<std::error_code> results(files.size());
    std::atomic<size_t> next{0};
    auto work = [&] {
        for (size_t i = next.fetch_add(1); i < files.size(); i = next.fetch_add(1)) {
            auto r = files[i]->sync();
            results[i] = r ? std::error_code{} : r.error();
        }
    };
    std::vector<std::thread> helpers;
    const size_t extra =
        std::min(files.size(), sync_threads_max) - std::min<size_t>(files.size(), 1);
    for (size_t i = 0; i < extra; ++i) {
        try {
            helpers.emplace_back(work);
        } catch (const std::system_error&) {
            break;  // no more threads to be had: the ones running, and this one, do the rest
        }
    }
    work();
    for (auto& t : helpers) {
        t.join();
    }
    for (size_t i = 0; i < files.size(); ++i) {
        outcome[files[i]] = results[i];
    }
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
        std::vector<file*> distinct;
        for (auto& r : batch) {
            for (auto& f : r.files) {
                if (outcome.emplace(f.get(), std::error_code{}).second) {
                    distinct.push_back(f.get());
                }
            }
        }
        sync_all(distinct, outcome);
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
