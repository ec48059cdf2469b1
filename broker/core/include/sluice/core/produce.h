// A produce as the replica manager sees it: plain values, no wire format. The listener that
// decoded the request owns the memory the views point into and keeps it until the results are
// back.
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/async.h"
#include "sluice/protocol/errc.h"
#include "sluice/protocol/types.h"

namespace sluice::broker {

// When a produce is answered (Kafka's acks 0, 1 and -1).
enum class required_acks {
    none,    // not at all: the listener sends no response
    leader,  // after the leader's append (in fsync mode, after its group-commit fsync)
    all,     // when the high watermark passes the batch (the in-sync replicas have it)
};

struct produce_partition {
    std::string_view topic;
    partition_id_t partition{0};
    // One or more record batches, back to back. Writable: the log stamps the offsets and the
    // leader epoch into them in place.
    std::span<std::byte> batches;
    // Conditional append: the log end offset the writer expects (-1: none). See
    // partition::append.
    offset_t expected_end{-1};
    // Set by the listener when it could not decode this entry; the core then only reports it.
    errc error = errc::none;
    std::string message;
};

struct produce_request {
    required_acks acks = required_acks::all;
    // When the request arrived plus its timeout: the acknowledgement wait ends here.
    std::chrono::steady_clock::time_point deadline;
    std::vector<produce_partition> partitions;
    // Set when whoever waits for the answer is gone: the acknowledgement wait ends at once (the
    // appends themselves always complete before produce returns).
    std::shared_ptr<cancel_token> cancel;
};

struct produce_result {
    errc error = errc::none;
    std::string message;  // empty, or what was wrong in words
    offset_t base_offset{-1};
    offset_t log_start{-1};
    // The log end offset after the append; with CONFLICT, the one the writer should have
    // expected (-1: unknown).
    offset_t log_end{-1};
};

}  // namespace sluice::broker
