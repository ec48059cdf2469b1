// The producer ids a broker may hand out (InitProducerId): blocks that the active controller
// allocated to it through the metadata log (a ProducerIds record each), used in order. An id is
// never handed out twice, across brokers and controller failovers, because a block is only used
// once the record that allocates it is written; ids of blocks a broker held when it stopped are
// simply never used.
//
// Threads: any (a mutex, held for a push or a pop only).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>

#include "sluice/protocol/types.h"

namespace sluice::broker {

// How many ids the controller allocates at a time (Kafka's block size).
inline constexpr int32_t producer_id_block_size = 1000;

class producer_id_blocks {
  public:
    // The next id, or nullopt if every block held is used up.
    std::optional<producer_id_t> take();
    // The controller allocated [first, first + count).
    void add(int64_t first, int32_t count);
    // Ids left in the blocks held.
    int64_t remaining() const;

  private:
    struct block {
        int64_t next;
        int64_t end;
    };
    mutable std::mutex mutex_;
    std::deque<block> blocks_;
};

}  // namespace sluice::broker
