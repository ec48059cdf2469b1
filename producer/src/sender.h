// The sender: the producer's I/O-thread half. It drains ready batches from the accumulator into
// ProduceRequests (one per broker at a time, at most max.in.flight.requests.per.connection
// outstanding per connection, one batch per partition per request), completes records from the
// answers, retries retriable failures after retry.backoff.ms within delivery.timeout.ms, and
// keeps the metadata the accumulator needs fresh. An idempotent producer first gets its producer
// id (InitProducerId, from any broker); OUT_OF_ORDER_SEQUENCE_NUMBER is then retried as the
// accumulator's out_of_order() says.
//
// Thread: everything here runs on the producer's I/O thread.
#pragma once

#include <memory>

#include "accumulator.h"
#include "sluice/client/internal/cluster.h"
#include "sluice/client/internal/metadata_refresher.h"
#include "sluice/client/internal/requests.h"
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
    // `retriable`: retried whatever is_retriable says of `ec`. `if_failed`: what failing it
    // means for its sequences (an error answer: refused; no answer: unknown).
    void retry_or_fail(std::unique_ptr<producer_batch> b, std::error_code ec,
                       bool retriable = false, batch_end if_failed = batch_end::unknown);
    void arm(steady::time_point t);
    // Asks any broker for the producer id (one request at a time, retry.backoff.ms apart).
    void init_producer_id();
    client::awaitable<result<client::producer_id_meta>> ask_producer_id();

    client::cluster& cluster_;
    accumulator& acc_;
    const producer_config& config_;
    client::asio::steady_timer timer_;
    steady::time_point timer_at_ = steady::time_point::max();
    client::metadata_refresher refresher_;
    bool metadata_stale_ = false;  // an answer or a lost connection says leaders moved
    bool stopped_ = false;
    bool producer_id_running_ = false;
    steady::time_point producer_id_next_{};  // no InitProducerId before this
};

}  // namespace sluice::detail
