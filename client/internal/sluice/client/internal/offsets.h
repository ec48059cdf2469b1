// ListOffsets at the partitions' leaders, with metadata refresh and retries. Shared by the admin
// (describe_topic) and the consumer (seek_to_*, beginning/end offsets, auto.offset.reset).
#pragma once

#include <vector>

#include "sluice/client/internal/cluster.h"

namespace sluice::client {

// Answers in the order of `queries`. Retriable errors (no leader yet, NOT_LEADER_OR_FOLLOWER, a
// lost connection to the leader) refresh the metadata and retry after retry.backoff.ms until
// `deadline`; then the last of them is returned. Other errors end the call at once: a topic or
// partition that the metadata does not have (errc::unknown_topic_or_partition), no broker
// reachable at all (client_errc::broker_unreachable), a non-retriable broker error.
awaitable<result<std::vector<offset_answer>>> list_offsets(cluster& c,
                                                           std::vector<offset_query> queries,
                                                           clock::time_point deadline);

}  // namespace sluice::client
