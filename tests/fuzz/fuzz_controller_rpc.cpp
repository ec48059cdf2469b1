// Fuzz target: one frame of a broker's request to the active controller, or of its answer, as
// it arrives on the controller listener.
//
// decode_rpc_request and decode_rpc_response either refuse the frame with a reason or return a
// value; a returned value encodes to a frame that decodes to the same value (every call kind is
// compared field by field). A request's topic calls then go through the controller's pure planning
// (decisions.h) against a small image.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "sluice/controller/controller_rpc.h"
#include "sluice/controller/decisions.h"

namespace {

using namespace sluice;
using namespace sluice::controller;

bool same(const rpc_request& a, const rpc_request& b) {
    if (a.cluster_id != b.cluster_id || a.correlation != b.correlation || a.from != b.from ||
        a.call.index() != b.call.index()) {
        return false;
    }
    if (const auto* x = std::get_if<broker_registration>(&a.call)) {
        const auto& y = std::get<broker_registration>(b.call);
        return x->id == y.id && x->incarnation == y.incarnation && x->endpoints == y.endpoints &&
               x->rack == y.rack;
    }
    if (const auto* x = std::get_if<broker_heartbeat>(&a.call)) {
        const auto& y = std::get<broker_heartbeat>(b.call);
        return x->id == y.id && x->broker_epoch == y.broker_epoch && x->applied == y.applied &&
               x->want_shutdown == y.want_shutdown;
    }
    if (const auto* x = std::get_if<create_call>(&a.call)) {
        const auto& y = std::get<create_call>(b.call);
        if (x->validate_only != y.validate_only || x->topics.size() != y.topics.size()) {
            return false;
        }
        for (size_t i = 0; i < x->topics.size(); ++i) {
            const auto& s = x->topics[i];
            const auto& t = y.topics[i];
            if (s.name != t.name || s.partitions != t.partitions ||
                s.replication_factor != t.replication_factor || s.configs != t.configs ||
                s.duplicate_config != t.duplicate_config) {
                return false;
            }
        }
        return true;
    }
    if (const auto* x = std::get_if<delete_call>(&a.call)) {
        return x->names == std::get<delete_call>(b.call).names;
    }
    if (const auto* x = std::get_if<grow_call>(&a.call)) {
        const auto& y = std::get<grow_call>(b.call);
        if (x->validate_only != y.validate_only || x->topics.size() != y.topics.size()) {
            return false;
        }
        for (size_t i = 0; i < x->topics.size(); ++i) {
            if (x->topics[i].name != y.topics[i].name || x->topics[i].total != y.topics[i].total) {
                return false;
            }
        }
        return true;
    }
    if (const auto* x = std::get_if<alter_call>(&a.call)) {
        const auto& y = std::get<alter_call>(b.call);
        if (x->validate_only != y.validate_only || x->topics.size() != y.topics.size()) {
            return false;
        }
        for (size_t i = 0; i < x->topics.size(); ++i) {
            const auto& s = x->topics[i];
            const auto& t = y.topics[i];
            if (s.name != t.name || s.changes != t.changes || s.duplicate_key != t.duplicate_key) {
                return false;
            }
        }
        return true;
    }
    if (const auto* x = std::get_if<alter_partition_request>(&a.call)) {
        const auto& y = std::get<alter_partition_request>(b.call);
        return x->broker_epoch == y.broker_epoch && x->change.leader == y.change.leader &&
               x->change.topic_id == y.change.topic_id &&
               x->change.partition == y.change.partition &&
               x->change.leader_epoch == y.change.leader_epoch &&
               x->change.partition_epoch == y.change.partition_epoch &&
               x->change.isr == y.change.isr;
    }
    if (const auto* x = std::get_if<elect_call>(&a.call)) {
        return x->topics == std::get<elect_call>(b.call).topics;
    }
    if (const auto* x = std::get_if<producer_ids_request>(&a.call)) {
        const auto& y = std::get<producer_ids_request>(b.call);
        return x->id == y.id && x->broker_epoch == y.broker_epoch;
    }
    return std::holds_alternative<quorum_call>(a.call);  // no fields
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A receiver reads a frame into an 8-aligned buffer (frame.h); a vector's storage is.
    std::vector<std::byte> buf(reinterpret_cast<const std::byte*>(data),
                               reinterpret_cast<const std::byte*>(data) + size);
    std::string why;
    if (auto r = decode_rpc_request(buf, &why)) {
        auto again = decode_rpc_request(encode_rpc_request(*r));
        if (!again || !same(*again, *r)) {
            std::abort();  // the encoder and decoder disagree
        }
        metadata_image im;
        im = apply_batch(
                 im, offset_t{0},
                 plan_register(im, node_id_t{1}, uuid{1, 1}, {{"PLAINTEXT", "h", 1}}, "", true))
                 .image;
        im = apply_batch(im, im.end_offset(), plan_unfence(im, node_id_t{1})).image;
        uint64_t next = 1;
        {  // a topic "t" for growth and config calls to find
            broker::create_topic_request t;
            t.name = "t";
            t.partitions = 1;
            t.replication_factor = 1;
            auto plans = plan_create_topics(im, std::span(&t, 1), topic_defaults{}, false, [&] {
                return uuid{next++, 7};
            });
            im = apply_batch(im, im.end_offset(), plans.at(0).records).image;
        }
        if (const auto* c = std::get_if<create_call>(&r->call)) {
            topic_defaults d;
            d.partitions_max = 64;  // bounded work per input
            auto plans = plan_create_topics(im, c->topics, d, c->validate_only, [&] {
                return uuid{next++, 7};
            });
            for (const auto& p : plans) {
                if (!p.records.empty() &&
                    !apply_batch(im, im.end_offset(), p.records).problem.empty()) {
                    std::abort();  // a plan must fit the image it was made for
                }
            }
        } else if (const auto* d = std::get_if<delete_call>(&r->call)) {
            (void)plan_delete_topics(im, d->names);
        } else if (const auto* g = std::get_if<grow_call>(&r->call)) {
            topic_defaults bounded;
            bounded.partitions_max = 64;
            for (const auto& t : g->topics) {
                auto p = plan_add_partitions(im, t.name, t.total, bounded, g->validate_only);
                if (!p.records.empty() &&
                    !apply_batch(im, im.end_offset(), p.records).problem.empty()) {
                    std::abort();
                }
            }
        } else if (const auto* ap = std::get_if<alter_partition_request>(&r->call)) {
            auto p = plan_isr_change(im, ap->change);
            if (!p.records.empty() &&
                !apply_batch(im, im.end_offset(), p.records).problem.empty()) {
                std::abort();  // a change the plan allows must fit the image
            }
        } else if (const auto* el = std::get_if<elect_call>(&r->call)) {
            auto p = plan_preferred_elections(im, el->topics);
            if (!p.records.empty() &&
                !apply_batch(im, im.end_offset(), p.records).problem.empty()) {
                std::abort();  // an election the plan makes must fit the image
            }
        } else if (const auto* a = std::get_if<alter_call>(&r->call)) {
            for (const auto& t : a->topics) {
                auto p =
                    plan_alter_configs(im, t.name, t.changes, topic_defaults{}, a->validate_only);
                if (!p.records.empty() &&
                    !apply_batch(im, im.end_offset(), p.records).problem.empty()) {
                    std::abort();
                }
            }
        }
    } else if (why.empty()) {
        std::abort();  // a refusal always says why
    }
    why.clear();
    if (auto r = decode_rpc_response(buf, &why)) {
        auto again = decode_rpc_response(encode_rpc_response(*r));
        if (!again || again->correlation != r->correlation ||
            again->metadata_offset != r->metadata_offset ||
            again->answer.index() != r->answer.index()) {
            std::abort();
        }
    } else if (why.empty()) {
        std::abort();
    }
    return 0;
}
