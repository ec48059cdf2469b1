// The sender: the producer's I/O-thread half. It drains ready batches from the accumulator into
// ProduceRequests (one per broker at a time, at most max.in.flight.requests.per.connection
// outstanding per connection, one batch per partition per request), completes records from the
// answers, retries retriable failures after retry.backoff.ms within delivery.timeout.ms, and
// keeps the metadata the accumulator needs fresh.
//
// Thread: everything here runs on the producer's I/O thread.
#pragma once

#include <memory>

#include "accumulator.h"
#include "sluice/client/internal/cluster.h"
#include "sluice/client/internal/metadata_refresher.h"
#include "sluice/producer/producer.h"

namespace sluice::detail {

class sender {
  public:
    sender(client::cluster& cl, accumulator& acc, const producer_config& config);

    // One round: refresh metadata if needed, expire, drain, send, arm the timer for the next
    // round. Called on wake-ups, answers, new connections and timer expiry.
    void run();
    // No more rounds; in-flight requests still complete (or fail when the cluster closes).
    void stop();

  private:
    struct in_flight;

    void send(drained_request req, const std::shared_ptr<client::connection>& conn);
    void on_answer(const std::shared_ptr<in_flight>& req, result<client::response> r);
    void complete(producer_batch& b, int64_t base_offset, int64_t log_append_time_ms);
    void fail(producer_batch& b, std::error_code ec);
    // A failed attempt: back to the accumulator for another, or completed with `ec`.
    void retry_or_fail(std::unique_ptr<producer_batch> b, std::error_code ec);
    void arm(steady::time_point t);

    client::cluster& cluster_;
    accumulator& acc_;
    const producer_config& config_;
    client::asio::steady_timer timer_;
    steady::time_point timer_at_ = steady::time_point::max();
    client::metadata_refresher refresher_;
    bool metadata_stale_ = false;  // an answer or a lost connection says leaders moved
    bool stopped_ = false;
};

}  // namespace sluice::detail
