// The leader side of ISR changes (docs/replication.md, "The ISR"): now and then it asks every
// partition this broker leads whether an ISR change is due (partition_state::propose_isr: a member
// that lagged past replica.lag.time.max.ms, or a replica that caught up) and sends each to the
// active controller as an AlterPartition carrying the leader and partition epochs. The controller
// writes it to the metadata log, and the partition takes the new ISR from the image; a refused or
// lost change is given back to the partition, which proposes again later. A leader cut off from
// the controller therefore cannot shrink its ISR: its acks=all produces wait, or fail.
//
// Threading: one coroutine on a strand of the broker's io_context, hopping to each partition's
// strand; one change in flight at a time (changes are rare). Each pass hops to every partition
// this broker holds, so its cost grows with them.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/steady_timer.hpp>

#include "sluice/core/replica_manager.h"

namespace sluice::replication {

struct isr_request {
    std::string topic;
    int32_t partition = 0;
    leader_epoch_t leader_epoch{0};
    broker::isr_proposal proposal;
};

struct isr_answer {
    errc error = errc::none;
    std::string message;
};

// Sends one change to the active controller and returns its answer.
using isr_sender = std::function<boost::asio::awaitable<isr_answer>(isr_request)>;

class isr_manager : public std::enable_shared_from_this<isr_manager> {
  public:
    // Looks for due changes every `interval`; `lag_max` is replica.lag.time.max.ms.
    isr_manager(broker::executor strand, broker::replica_manager& replicas, isr_sender send,
                std::chrono::milliseconds lag_max, std::chrono::milliseconds interval);

    // Any thread.
    void start();
    void stop();

  private:
    boost::asio::awaitable<void> run();
    boost::asio::awaitable<void> pass();

    broker::executor strand_;
    broker::replica_manager& replicas_;
    isr_sender send_;
    std::chrono::milliseconds lag_max_;
    std::chrono::milliseconds interval_;
    boost::asio::steady_timer timer_;
    std::atomic<bool> stopped_{false};
    // Partitions whose last change was refused, and when they may propose again: a change the
    // controller refuses (a fenced joiner) is not asked again at every pass.
    std::map<std::pair<std::string, int32_t>, std::chrono::steady_clock::time_point> held_;
};

}  // namespace sluice::replication
