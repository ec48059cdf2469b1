// A follower's fetcher: one connection to one leader broker, fetching every partition this broker
// follows there in one request, and applying each answer to its partition (docs/replication.md,
// "Followers").
//
// Per partition it fetches at its log end with the epoch of its last batch and the leader epoch
// the metadata image gave it. An answer's batches are appended as they came (same offsets, same
// leader epochs, same bytes); a divergence is truncated where the leader's epochs say and fetched
// again; a log start past this log's end empties it to start there. In fsync mode a partition is
// fetched again only once what it appended is fsynced, so its fetch offset, which the leader takes
// for its position, is always durable. A partition whose leader answers that its epoch is stale (on
// either side) waits briefly for the metadata image to move; other errors wait
// replica.fetch.backoff.ms. The leader's answer is never trusted further than its checks: a bad
// batch is refused by the partition, logged, and fetched again after the backoff.
//
// No partition waits behind a long poll it is not in: a request's wait is cut short of the
// moment a partition's retry delay ends, and a partition given to the fetcher while a request
// that may long-poll is out ends that request (by closing the connection, which a leadership
// change alone does) so that the next one asks for it at once.
//
// Threading: everything here runs on one io_context, run by one thread (the client connection
// requires it); each partition's work hops to its strand and back. Bounds: one request in flight;
// an answer of at most replica.fetch.response.max.bytes.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>

#include "sluice/client/internal/connection.h"
#include "sluice/client/internal/requests.h"
#include "sluice/core/partition.h"

namespace sluice::replication {

using executor = boost::asio::any_io_executor;

struct fetcher_config {
    node_id_t self{-1};
    std::string client_id = "sluice-replica-fetcher";
    int32_t max_wait_ms = 500;                         // replica.fetch.wait.max.ms
    int32_t min_bytes = 1;                             // replica.fetch.min.bytes
    int32_t partition_max_bytes = 1048576;             // replica.fetch.max.bytes
    int32_t response_max_bytes = 10485760;             // replica.fetch.response.max.bytes
    std::chrono::milliseconds backoff{1000};           // replica.fetch.backoff.ms
    std::chrono::milliseconds request_timeout{30000};  // replica.socket.timeout.ms
    std::chrono::milliseconds connect_timeout{10000};
    // How long a partition waits when one side's metadata is behind the other's.
    std::chrono::milliseconds epoch_retry{50};
};

// The way back to the fetchers' thread for callbacks from partitions, which may outlive it: they
// post through this, and it is closed before the thread's io_context goes.
class thread_channel {
  public:
    explicit thread_channel(boost::asio::io_context& io) : io_(&io) {}
    template <typename F>
    void post(F f) {
        std::lock_guard lock(mutex_);
        if (io_ != nullptr) {
            boost::asio::post(*io_, std::move(f));
        }
    }
    void close() {
        std::lock_guard lock(mutex_);
        io_ = nullptr;
    }

  private:
    std::mutex mutex_;
    boost::asio::io_context* io_;
};

// A partition this broker follows, at the leader epoch the image gives.
struct followed_partition {
    std::string topic;
    int32_t id = 0;
    leader_epoch_t leader_epoch{0};
    std::shared_ptr<broker::partition> part;
};

class replica_fetcher : public std::enable_shared_from_this<replica_fetcher> {
  public:
    replica_fetcher(boost::asio::io_context& io, std::shared_ptr<thread_channel> channel,
                    node_id_t leader, client::endpoint ep, const fetcher_config& config);

    node_id_t leader() const { return leader_; }
    const client::endpoint& endpoint() const { return endpoint_; }

    // On the io thread, as every call below.
    void start();
    // The partitions to fetch from this leader from now on (the whole set).
    void set_partitions(std::vector<followed_partition> parts);
    size_t partition_count() const { return slots_.size(); }
    // Ends the loop and the connection; the fetcher is done once its loop returns.
    void stop();

  private:
    using key = std::pair<std::string, int32_t>;
    struct slot {
        followed_partition p;
        uint64_t generation = 0;  // changes whenever the slot is replaced
        bool known = false;       // fetch_offset and last_epoch read from the partition
        offset_t fetch_offset{0};
        leader_epoch_t last_epoch{-1};
        bool durable_wait = false;  // fsync mode: waiting for its appends to be fsynced
        std::chrono::steady_clock::time_point not_before{};
    };

    boost::asio::awaitable<void> run();
    boost::asio::awaitable<bool> ensure_connected();
    boost::asio::awaitable<void> learn_positions();
    // Applies one partition's answer on its strand; updates the slot.
    boost::asio::awaitable<void> apply(const key& k, uint64_t generation,
                                       const client::fetch_answer& a);
    void wake();
    void durable_done(const key& k, uint64_t generation);
    // On the partition's strand: if what its log holds (`o`) is not yet durable (fsync mode),
    // waits for it and then tells the fetcher `weak`, through `channel`, that slot `k` of
    // `generation` may fetch again. The flag returned is set when the wait ends, which may be
    // before the fetcher reads it; null: nothing to wait for.
    static std::shared_ptr<std::atomic<bool>> wait_durable(broker::partition& part,
                                                           const broker::partition::offsets_view& o,
                                                           std::weak_ptr<replica_fetcher> weak,
                                                           std::shared_ptr<thread_channel> channel,
                                                           key k, uint64_t generation);

    boost::asio::io_context& io_;
    std::shared_ptr<thread_channel> channel_;
    node_id_t leader_;
    client::endpoint endpoint_;
    fetcher_config config_;
    std::map<key, slot> slots_;
    uint64_t next_generation_ = 1;
    std::shared_ptr<client::connection> conn_;
    boost::asio::steady_timer signal_;
    bool stopped_ = false;
    bool failing_ = false;  // the last connection attempt or request failed (logged once)
    bool polling_ = false;  // a request that may wait at the leader (max_wait_ms > 0) is out
    bool repoll_ = false;   // ... and was ended on purpose: new partitions to ask for
};

}  // namespace sluice::replication
