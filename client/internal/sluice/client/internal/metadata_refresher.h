// Background metadata refreshes for the producer's sender and the consumer's fetcher: at most
// one at a time, at most one per retry.backoff.ms, and one whenever metadata.max.age.ms passed.
//
// Thread: the owning client's I/O thread only. The owner must outlive a running refresh (it
// does: the I/O thread is joined before the owner goes away).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "sluice/client/internal/cluster.h"

namespace sluice::client {

class metadata_refresher {
  public:
    using done_fn = std::function<void(const result<metadata_answer>&)>;

    metadata_refresher(cluster& c, done_fn done) : cluster_(c), done_(std::move(done)) {}

    struct outcome {
        bool started = false;
        // When to call again (the backoff holds a needed refresh back, or the metadata will be
        // too old then); max() if `done` will come first or nothing is due.
        clock::time_point call_again = clock::time_point::max();
    };

    // Refreshes the topics `topics()` names if `needed` or if the metadata is older than
    // metadata.max.age.ms, unless a refresh is running or the last one ended less than
    // retry.backoff.ms ago. `done` runs on the I/O thread when the refresh ends (not after
    // stop()).
    outcome maybe_refresh(bool needed, const std::function<std::vector<std::string>()>& topics,
                          bool allow_auto_topic_creation);
    void stop() { stopped_ = true; }
    bool running() const { return running_; }

  private:
    cluster& cluster_;
    done_fn done_;
    bool running_ = false;
    bool stopped_ = false;
    clock::time_point next_allowed_{};
};

}  // namespace sluice::client
