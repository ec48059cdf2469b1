// Group commit: one thread that fsyncs files on behalf of many logs.
//
// A log hands the flusher the files it has written to and a completion. The flusher thread takes
// every request queued so far, fsyncs each distinct file once (several at a time, on helper
// threads started for the round), then runs all their completions:
// appends that arrive while an fsync runs share the next one. Completions run on the flusher
// thread; a broker posts them back to the partition's executor. The only lock guards the hand-off
// queue and is held for a push or a swap, never across an fsync.
#pragma once

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "sluice/storage/file_system.h"

namespace sluice::storage {

class flusher {
  public:
    using completion = std::function<void(std::error_code)>;

    flusher();
    // Runs every queued request, then stops the thread.
    ~flusher();
    flusher(const flusher&) = delete;
    flusher& operator=(const flusher&) = delete;

    // Fsyncs `files`, then calls `done` with the first error of any of them (or success).
    void submit(std::vector<std::shared_ptr<file>> files, completion done);

    // As submit(), but the files are named: each is opened with `fs` only for its fsync, so a
    // queue of many requests holds no file descriptors. `directory`, if not empty, is synced
    // (file_system::sync_directory) after them. `fs` must outlive the request.
    void submit_paths(file_system& fs, std::vector<std::filesystem::path> files,
                      std::filesystem::path directory, completion done);

    // Number of fsync rounds run so far (each round syncs each distinct file once).
    uint64_t rounds() const;

  private:
    struct request {
        std::vector<std::shared_ptr<file>> files;
        completion done;
        // submit_paths: files opened for their fsync only, and a directory.
        file_system* fs = nullptr;
        std::vector<std::filesystem::path> paths;
        std::filesystem::path directory;
    };

    void run();
    // fsyncs `files` on up to sync_threads_max threads at once (this one and helpers started
    // for the round) and records each one's outcome.
    static void sync_all(const std::vector<file*>& files,
                         std::map<file*, std::error_code>& outcome);
    static constexpr size_t sync_threads_max = 8;

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<request> queue_;
    bool stopping_ = false;
    uint64_t rounds_ = 0;
    std::thread thread_;
};

}  // namespace sluice::storage
