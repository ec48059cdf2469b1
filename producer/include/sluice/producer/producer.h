// The producer: sends records to partition leaders in batches.
//
// send() encodes a record straight into the open batch of its partition (a record batch v2 in
// the making) and returns; the producer's I/O thread sends a partition's batch when it is full
// (batch.size), when it is linger.ms old, or on flush()/close(). Callbacks run on that I/O thread
// and must not block it for long. send() and flush() may be called from any number of threads.
// docs/clients.md describes batching, retries and back-pressure.
#pragma once

#include <chrono>
#include <climits>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/client/config.h"
#include "sluice/client/errc.h"
#include "sluice/client/header.h"
#include "sluice/protocol/result.h"

namespace sluice {

struct producer_config : client_config {
    int16_t acks = -1;                 // acks: "0", "1", "all"/"-1" (Kafka default all)
    int batch_size = 16384;            // batch.size (bytes)
    int linger_ms = 5;                 // linger.ms
    int64_t buffer_memory = 32 << 20;  // buffer.memory (bytes): send() blocks when full
    int max_block_ms = 60000;          // max.block.ms: longest a send() blocks on a full buffer
    int retries = INT32_MAX;           // retries
    int delivery_timeout_ms = 120000;  // delivery.timeout.ms
    int max_in_flight_requests_per_connection = 5;
    int max_request_size = 1048576;  // max.request.size
    // enable.idempotence: every batch carries the producer's id, epoch and sequence, so that a
    // retry is never written twice and order holds with 5 requests in flight. It needs acks=all,
    // retries > 0 and max.in.flight.requests.per.connection <= 5. Unset (as in Kafka 3): on
    // unless another setting conflicts; true with a conflicting setting is a config error.
    std::optional<bool> enable_idempotence;
    // Kafka-named properties -> config; errors name the bad key/value
    // (client_errc::invalid_config). Keys: bootstrap.servers client.id acks batch.size linger.ms
    // buffer.memory max.block.ms retries delivery.timeout.ms max.in.flight.requests.per.connection
    // request.timeout.ms retry.backoff.ms max.request.size metadata.max.age.ms enable.idempotence
    static result<producer_config> from_properties(const std::map<std::string, std::string>& props);
};

struct producer_record {
    std::string topic;
    std::optional<std::string> key;
    std::optional<std::string> value;
    std::vector<header> headers;
    std::optional<int32_t> partition;     // unset: partitioner (murmur2 of key; sticky if no key)
    std::optional<int64_t> timestamp_ms;  // unset: now
    // Conditional append (needs `partition`, and acks 1 or all): the record is written only if
    // the partition's log end offset is this one when its leader takes it; else it fails with
    // errc::conflict and nothing is written (re-read the partition and try again). The record
    // goes in a batch of its own. A retry of a conditional append that was written is answered
    // as written, while the leader still knows this producer (docs/clients.md, "Conditional
    // append", says when it does not).
    // Conditional appends to one partition that are in flight together are checked each on its
    // own: one after a conflicted one may be written; wait for each when that matters.
    // send_conditional() also says where the partition ended when it conflicted.
    std::optional<int64_t> expected_offset;
};

struct record_metadata {
    std::string topic;
    int32_t partition;
    int64_t offset;  // -1 with acks=0
    int64_t timestamp_ms;
};

// What a conditional append (producer::send_conditional) came to.
struct conditional_result {
    // Its offset (-1 when it is known written but its leader no longer had the offset to give:
    // docs/clients.md), or errc::conflict, or why it failed.
    result<record_metadata> written;
    // With errc::conflict: the leader's log end offset when it refused the record, the offset to
    // expect next time. Records below it may not be readable yet (the high watermark follows
    // once the replicas have them; a leader change may even drop them). -1 otherwise.
    int64_t log_end_offset = -1;
};

namespace detail {
class producer_impl;
}

class producer {
  public:
    // Runs on the producer's I/O thread; for a record that fails inside send() (closed, too
    // large, buffer exhausted, unknown topic), on the calling thread before send() returns.
    // Must not block: the I/O thread sends and completes every record of this producer.
    using callback = std::function<void(const result<record_metadata>&)>;
    using conditional_callback = std::function<void(const conditional_result&)>;

    // Checks the config (client_errc::invalid_config) and starts the I/O thread; connects lazily.
    static result<std::unique_ptr<producer>> create(producer_config config);
    ~producer();  // close()
    producer(const producer&) = delete;
    producer& operator=(const producer&) = delete;

    // Queues the record. Blocks up to max.block.ms while buffer.memory is full; then (or on any
    // other immediate failure: unknown topic after metadata wait, record too large) the error goes
    // to the callback / future. Every record's outcome reaches exactly one callback/future.
    void send(producer_record r, callback cb);
    std::future<result<record_metadata>> send(producer_record r);
    // send() for a conditional append: `r` needs `partition` and `expected_offset` (else
    // client_errc::invalid_record). The outcome carries the partition's end on a conflict.
    void send_conditional(producer_record r, conditional_callback cb);
    std::future<conditional_result> send_conditional(producer_record r);
    result<void> flush();  // waits until every record sent so far has completed
    void close();          // flush, then stop the I/O thread; idempotent

  private:
    explicit producer(std::unique_ptr<detail::producer_impl> impl);
    std::unique_ptr<detail::producer_impl> impl_;
};

// Kafka's default partitioner for keyed records: toPositive(murmur2(key)) % partitions.
int32_t murmur2_partition(std::string_view key, int32_t partitions);
// Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), bit for bit.
int32_t murmur2(std::string_view data) noexcept;

}  // namespace sluice
