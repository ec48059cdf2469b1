// The fetcher: the consumer's I/O-thread half. For the assigned partitions whose position is
// known it keeps one fetch outstanding per leader broker, hands every answer's batches to the
// fetch buffer and fetches on from after the last whole batch, without waiting for poll(), until
// the buffer is full.
//
// Leadership (KIP-320's idea): each fetch carries the leader epoch the metadata names (a leader
// at another epoch answers FENCED_LEADER_EPOCH or UNKNOWN_LEADER_EPOCH, and the metadata is
// asked again) and the epoch of the last batch fetched. A leader whose log diverged from what was
// fetched (an unclean election truncated it) answers where; the fetcher fetches on from there and
// tells poll() (completed_fetch::truncated_to), which moves its position back, so the records
// the new leader wrote at those offsets are read instead of skipped.
//
// Errors: retriable ones (no leader, NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, a stale
// or future leader epoch, a lost connection) refresh the metadata and retry after
// retry.backoff.ms, silently. Others
// (OFFSET_OUT_OF_RANGE, a corrupt answer, ...) go to the buffer as the partition's error, and the
// partition is not fetched again until the next seek.
//
// Thread: the consumer's I/O thread only.
#pragma once

#include <map>
#include <set>
#include <vector>

#include "fetch_buffer.h"
#include "sluice/client/internal/cluster.h"
#include "sluice/client/internal/metadata_refresher.h"
#include "sluice/consumer/consumer.h"

namespace sluice::detail {

class fetcher {
  public:
    fetcher(client::cluster& cl, fetch_buffer& buffer, const consumer_config& config);

    // Replaces the assignment; partitions kept keep their state, new ones have no position.
    void assign(const std::vector<topic_partition>& tps);
    // Fetches `tp` from `offset` on; answers for older generations are dropped.
    void seek(const topic_partition& tp, int64_t offset, uint64_t generation);
    // Issues the fetches that can go now; arms the timer for backoffs.
    void run();
    void stop();

  private:
    struct partition_state {
        int64_t fetch_offset = -1;  // -1: no position yet
        // The leader epoch of the last batch fetched (-1: none since the last seek): the
        // leader checks that its log still holds that epoch up to the fetch offset.
        int32_t last_epoch = -1;
        uint64_t generation = 0;
        bool in_flight = false;
        bool stopped = false;   // an error was delivered; waits for a seek
        int32_t max_bytes = 0;  // > max.partition.fetch.bytes for a batch that is larger
        client::clock::time_point retry_at{};
    };
    struct asked {
        topic_partition tp;
        uint64_t generation;
    };

    void on_answer(int32_t node, const std::vector<asked>& asked_for, result<client::response> r);
    // Takes one partition's answer: hands its whole batches to the buffer and moves the fetch
    // offset past them, or handles its error.
    void take(const topic_partition& tp, partition_state& st, const client::fetch_answer& a,
              const std::shared_ptr<std::byte[]>& buffer);
    void backoff(partition_state& st);
    void arm(client::clock::time_point t);

    client::cluster& cluster_;
    fetch_buffer& buffer_;
    const consumer_config& config_;
    std::map<topic_partition, partition_state> parts_;
    std::set<int32_t> busy_;  // brokers with a fetch outstanding
    client::metadata_refresher refresher_;
    bool metadata_stale_ = false;
    client::asio::steady_timer timer_;
    client::clock::time_point timer_at_ = client::clock::time_point::max();
    bool stopped_ = false;
};

}  // namespace sluice::detail
