// What a listener asks of the partitions: produce, fetch, list offsets, and which partitions
// exist. The replica manager implements it; a test or fuzz target may put a stub in its place to
// drive a listener alone. Plain values, no wire format (produce.h, fetch.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "sluice/core/async.h"
#include "sluice/core/fetch.h"
#include "sluice/core/partition.h"
#include "sluice/core/partition_image.h"
#include "sluice/core/produce.h"

namespace sluice::broker {

class partition_service {
  public:
    virtual ~partition_service() = default;

    // Any thread: the partitions now, as an immutable image the caller may keep.
    virtual std::shared_ptr<const partition_image> snapshot() const = 0;

    // Appends each partition's batches and waits for the acknowledgement `req.acks` asks for,
    // until `req.deadline`. One result per entry of req.partitions, in order. With acks=0 the
    // results say only whether each append was accepted.
    virtual awaitable<std::vector<produce_result>> produce(produce_request& req) = 0;

    // Reads each partition (fetch.h gives the limits), waiting for min_bytes until the deadline.
    // One result per entry of req.partitions, in order.
    virtual awaitable<std::vector<fetch_result>> fetch(fetch_request& req) = 0;

    // ListOffsets for one partition: api::earliest_timestamp, api::latest_timestamp (the high
    // watermark) or the first record at or after a timestamp.
    virtual awaitable<partition::offset_outcome> list_offset(std::string_view topic,
                                                             partition_id_t partition,
                                                             int64_t timestamp) = 0;
};

}  // namespace sluice::broker
