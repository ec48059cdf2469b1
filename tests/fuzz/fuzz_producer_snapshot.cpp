// Fuzz target: a producer-state snapshot's payload (sluice/core/producer_snapshot.h), the
// FlatBuffers table inside a partition's <offset>.snapshot checkpoint.
//
// Checks: an accepted snapshot holds what the header promises (ids in order, 1 to
// producer_batches_kept batches each, offsets in order and below the snapshot's end), encodes
// to bytes that decode to the same snapshot, and a retry of any batch it keeps is recognised
// as a duplicate of a batch with the same sequences, while the next batch in sequence is
// appended.
#include <cstdint>
#include <cstdlib>

#include "require.h"
#include "sluice/core/producer_snapshot.h"

namespace {

using namespace sluice;
using namespace sluice::broker;

using fuzz::require;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
    auto s = decode_producer_snapshot(in);
    if (!s) {
        return 0;
    }
    require(s->end_offset >= offset_t{0});
    for (const auto& [id, e] : s->state.entries()) {
        require(id >= producer_id_t{0} && e.epoch >= producer_epoch_t{0});
        require(!e.batches.empty() && e.batches.size() <= producer_batches_kept);
        for (const producer_batch& b : e.batches) {
            require(b.base_offset <= b.last_offset && b.last_offset < s->end_offset);
            const producer_batch_info retry{id, e.epoch, b.first_sequence, b.last_sequence,
                                            b.max_timestamp};
            const producer_verdict v = s->state.check(retry);
            require(v.error == errc::none && v.duplicate_of &&
                    v.duplicate_of->first_sequence == b.first_sequence &&
                    v.duplicate_of->last_sequence == b.last_sequence);
        }
        const sequence_t next = next_sequence(e.last_sequence());
        const producer_batch_info following{id, e.epoch, next, next, timestamp_ms_t{0}};
        const producer_verdict v = s->state.check(following);
        // The next sequence is appended unless it equals a kept batch's range (a retry).
        require(v.error == errc::none);
    }
    const auto bytes = encode_producer_snapshot(*s);
    auto again = decode_producer_snapshot(bytes);
    require(again.has_value() && *again == *s);
    require(encode_producer_snapshot(*again) == bytes);
    return 0;
}
