// Fuzz target: the records a group coordinator reads back from __consumer_offsets
// (sluice/group/group_records.h), which a follower may have fetched from a hostile leader, and
// the group state a loaded record makes. Input: a bundle of a key, an offset value and a group
// value.
//
// Checks: a key that decodes encodes back to the same bytes (compaction keys by bytes); values
// that decode encode to bytes that decode the same; a decoded group record loads into a group
// whose members, generation and protocol are the record's, that answers a heartbeat for each
// of them and writes the same record back.
#include <climits>
#include <cstdint>

#include "bundle.h"
#include "require.h"
#include "sluice/group/group.h"
#include "sluice/group/group_records.h"

namespace {

using namespace sluice;
using namespace sluice::broker;
using namespace sluice::broker::groups;
using fuzz::require;

std::span<const std::byte> bytes_of(const std::string& s) {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto parts = fuzz::split_bundle({reinterpret_cast<const std::byte*>(data), size}, 3);
    if (auto k = decode_key(parts[0])) {
        const std::string again =
            k->kind == record_kind::group ? group_key(k->group_id) : offset_key(k->group_id, k->tp);
        require(
            again.size() == parts[0].size() &&
            std::equal(again.begin(), again.end(), reinterpret_cast<const char*>(parts[0].data())));
    }
    if (auto v = decode_offset_value(parts[1])) {
        auto w = decode_offset_value(bytes_of(encode_offset_value(*v)));
        require(w && w->offset == v->offset && w->leader_epoch == v->leader_epoch &&
                w->metadata == v->metadata && w->commit_ms == v->commit_ms);
    }
    if (auto r = decode_group_value(parts[2])) {
        auto again = decode_group_value(bytes_of(encode_group_value(*r)));
        require(again && again->members.size() == r->members.size() &&
                again->generation == r->generation && again->leader == r->leader);
        const group_limits limits;
        group g("g", limits);
        g.load(*r, 1000);
        require(g.generation() == r->generation);
        // Member ids may repeat in a hostile record: the group holds each once.
        require(g.members().size() <= r->members.size());
        require(g.state() == (g.members().empty() ? group_state::empty : group_state::stable));
        for (const auto& [id, m] : g.members()) {
            const auto a = g.heartbeat({"g", r->generation, id, m.instance_id}, 1001);
            // A static id named by two members belongs to the last: the other is fenced.
            require(a.error == errc::none || a.error == errc::fenced_instance_id);
        }
        group_effects fx;
        g.tick(1000 + int64_t(INT32_MAX) + 1, fx);  // every session ends, however long
        require(g.state() != group_state::stable || g.members().empty());
    }
    return 0;
}
