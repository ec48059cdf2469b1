// A fetch as the replica manager sees it: plain values, no wire format.
//
// Limits (Kafka's, with KIP-74):
//   - partitions are read in order starting at partitions[rotation % n] and wrapping around; the
//     listener advances `rotation` from one fetch to the next on a connection, so every partition
//     is read first in turn and none starves behind the others' data;
//   - each partition returns whole batches up to its partition_max_bytes, the request up to
//     max_bytes (itself capped by the broker's fetch.max.bytes);
//   - the first batch of a partition comes whole even when it is larger than partition_max_bytes,
//     if the request's remaining max_bytes holds it; the first batch of the first partition that
//     has data comes whole whatever its size. A batch larger than every limit therefore still
//     reaches the consumer, and a partition never stalls behind one;
//   - a partition's read spans at most segments_per_read_max segments: each range holds its
//     segment file open until the response is sent, so tiny segments cannot make one fetch hold
//     thousands of files (the reader fetches on from where it stopped).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include "sluice/core/async.h"
#include "sluice/protocol/errc.h"
#include "sluice/protocol/types.h"
#include "sluice/storage/log.h"

namespace sluice::broker {

inline constexpr size_t segments_per_read_max = 16;

struct fetch_partition {
    std::string_view topic;
    partition_id_t partition{0};
    offset_t fetch_offset{0};
    size_t partition_max_bytes = 1u << 20;
    leader_epoch_t current_leader_epoch{-1};  // -1: not checked
    // The epoch of the last batch the reader holds (a follower) or was handed (a consumer; -1:
    // none), checked against this leader's epochs: where they differ, the answer names the
    // divergence instead of records.
    leader_epoch_t last_fetched_epoch{-1};
};

struct fetch_request {
    std::vector<fetch_partition> partitions;
    size_t min_bytes = 1;
    size_t max_bytes = 52428800;
    // When the request arrived plus max_wait: the long poll ends here.
    std::chrono::steady_clock::time_point deadline;
    // -1 for consumers, which read below the high watermark; a follower's broker id: it reads
    // up to the log end, never waiting on the high watermark, and its fetch offsets move the
    // high watermark and the ISR.
    node_id_t replica{-1};
    size_t rotation = 0;
    // Set when whoever waits for the answer is gone: the long poll ends at once.
    std::shared_ptr<cancel_token> cancel;
};

struct fetch_result {
    errc error = errc::none;
    offset_t high_watermark{-1};
    offset_t log_start{-1};
    // Whole batches, in offset order, as ranges of segment files (each holds its file open): the
    // listener sends them with sendfile, or reads them where the file has no descriptor.
    std::vector<storage::file_range> ranges;
    size_t bytes = 0;
    // Followers: their log diverged from this leader's; they truncate to the end offset (at
    // most) and fetch again. epoch -1: no divergence.
    leader_epoch_t diverging_epoch{-1};
    offset_t diverging_end_offset{-1};
};

}  // namespace sluice::broker
