// The cleaner thread: compacts the logs of topics with cleanup.policy=compact, one pass at a
// time, the dirtiest log first (docs/broker.md, "Compaction").
//
// Threading: one thread of its own. A pass's planning and installing run on the partition's
// strand (the cleaner waits for them); reading and writing the segments runs on the cleaner's
// thread, paced to log.cleaner.io.max.bytes.per.second, so no network thread waits for it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "sluice/core/replica_manager.h"
#include "sluice/storage/cleaner.h"

namespace sluice::broker {

class log_cleaner {
  public:
    struct options {
        int64_t backoff_ms = 15000;               // log.cleaner.backoff.ms
        size_t dedupe_buffer_bytes = 128u << 20;  // log.cleaner.dedupe.buffer.size
        double io_bytes_per_second = 0;           // 0: no limit
    };

    log_cleaner(replica_manager& replicas, options o);
    ~log_cleaner();  // stop()
    log_cleaner(const log_cleaner&) = delete;
    log_cleaner& operator=(const log_cleaner&) = delete;

    void start();
    // Stops the thread and joins it; a pass under way stops at its next read and installs
    // nothing (its cleaned files are removed). Any thread but the cleaner's.
    void stop();

  private:
    void run();
    // Cleans the dirtiest log whose dirty share reached its min.cleanable.dirty.ratio; false if
    // none did (or the cleaner is stopping).
    bool pass();
    // One pass over `p`'s log; false if it failed or got nowhere.
    bool clean(const std::shared_ptr<partition>& p);

    replica_manager& replicas_;
    const options opts_;
    storage::offset_map map_;
    // Logs left out until the time given: their last pass failed or got nowhere.
    std::map<std::pair<std::string, int32_t>, std::chrono::steady_clock::time_point> resting_;
    std::atomic<bool> stopping_{false};
    std::mutex mutex_;
    std::condition_variable wake_;
    std::thread thread_;
};

}  // namespace sluice::broker
