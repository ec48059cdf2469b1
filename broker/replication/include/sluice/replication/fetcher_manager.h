// The follower side of replication on one broker: a replica_fetcher per leader broker this broker
// follows partitions of, all on one thread of their own (Kafka's replica fetcher threads, one
// here). The image applier tells it, after each metadata image, which partitions this broker
// follows and where their leaders listen; it starts, changes and stops fetchers to match.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "sluice/client/internal/io_thread.h"
#include "sluice/replication/replica_fetcher.h"

namespace sluice::replication {

// One partition to follow, and its leader.
struct follow_spec {
    node_id_t leader{-1};
    client::endpoint leader_endpoint;
    followed_partition partition;
};

class fetcher_manager {
  public:
    explicit fetcher_manager(fetcher_config config);
    ~fetcher_manager();  // stop()
    fetcher_manager(const fetcher_manager&) = delete;
    fetcher_manager& operator=(const fetcher_manager&) = delete;

    // Any thread: every partition this broker follows from now on. A partition left out stops
    // being fetched; a leader left with none loses its fetcher.
    void update(std::vector<follow_spec> specs);
    // Any thread but the fetchers' own: stops every fetcher and joins the thread. Idempotent.
    void stop();

  private:
    void apply(std::vector<follow_spec> specs);

    fetcher_config config_;
    client::io_thread thread_;
    std::shared_ptr<thread_channel> channel_;
    std::map<node_id_t, std::shared_ptr<replica_fetcher>> fetchers_;  // on the thread
    std::mutex mutex_;
    bool stopped_ = false;
};

}  // namespace sluice::replication
