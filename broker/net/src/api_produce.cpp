// Produce: decode the request into the core's produce_request, call the replica manager, encode
// its results. Every field is checked here before the core sees it: acks, DataRefs inside the
// frame's data section.
//
// acks=0: no response at all (Kafka); if a partition failed, the connection is closed instead, so
//         the producer notices (as Kafka does).
#include <fmt/format.h>

#include "sluice/net/request.h"
#include "sluice/net/topic_groups.h"
#include "sluice/protocol/api.h"

namespace sluice::broker {

awaitable<handler_result> handle_produce(request_context& ctx, request& req) {
    const auto* p = req.envelope->body_as_ProduceRequest();
    const int16_t acks = p->acks();
    const bool acks_valid =
        acks == api::acks_none || acks == api::acks_leader || acks == api::acks_all;

    produce_request pr;
    pr.acks = acks == api::acks_none     ? required_acks::none
              : acks == api::acks_leader ? required_acks::leader
                                         : required_acks::all;
    pr.deadline = req.received + std::chrono::milliseconds(std::max<int32_t>(p->timeout_ms(), 0));
    pr.cancel = ctx.cancel;
    topic_groups groups;
    groups.flatten(p->topics(), [&](std::string_view topic, const fbs::ProducePartition& pp) {
        produce_partition& e = pr.partitions.emplace_back();
        e.topic = topic;
        e.partition = partition_id_t{pp.partition()};
        e.expected_end = offset_t{pp.expected_end_offset()};
        if (e.expected_end < offset_t{-1}) {
            e.error = errc::invalid_request;
            e.message = fmt::format("expected_end_offset must be -1 (none) or an offset, not {}",
                                    pp.expected_end_offset());
            return;
        }
        if (!acks_valid) {
            e.error = errc::invalid_required_acks;
            e.message = fmt::format("acks must be 0, 1 or -1, not {}", acks);
            return;
        }
        auto records = frame::resolve(pp.records(), req.data);
        if (!records) {
            e.error = errc::corrupt_message;
            e.message = "records lie outside the frame's data section";
            return;
        }
        if (records.value().empty()) {
            return;  // no batches: the partition answers INVALID_RECORD
        }
        // The same bytes, writable: the request owns its buffer.
        auto offset = size_t(records.value().data() - req.data.data());
        e.batches = req.data.subspan(offset, records.value().size());
    });

    auto results = co_await ctx.broker.replicas.produce(pr);

    if (pr.acks == required_acks::none) {
        for (size_t k = 0; k < results.size(); ++k) {
            if (results[k].error != errc::none) {
                co_return handler_result{
                    nullptr,
                    fmt::format("an acks=0 produce to {}-{} failed: {}", pr.partitions[k].topic,
                                pr.partitions[k].partition, errc_name(results[k].error))};
            }
        }
        co_return handler_result{};
    }

    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    std::vector<flatbuffers::Offset<fbs::ProduceTopicResponse>> topics;
    std::vector<flatbuffers::Offset<fbs::ProducePartitionResponse>> parts;
    for (size_t k = 0; k < results.size(); ++k) {
        const produce_result& s = results[k];
        const bool ok = s.error == errc::none;
        parts.push_back(fbs::CreateProducePartitionResponse(
            fbb, pr.partitions[k].partition.value(), int16_t(s.error),
            s.message.empty() ? 0 : fbb.CreateString(s.message), ok ? s.base_offset.value() : -1,
            -1, ok ? s.log_start.value() : -1, s.log_end.value()));
        if (groups.last_of_topic(k)) {
            topics.push_back(fbs::CreateProduceTopicResponse(fbb, fbb.CreateString(groups.topic(k)),
                                                             fbb.CreateVector(parts)));
            parts.clear();
        }
    }
    auto body = fbs::CreateProduceResponse(fbb, fbb.CreateVector(topics));
    finish_response(*r, *req.envelope, fbs::Body::ProduceResponse, body.Union());
    co_return handler_result{std::move(r), ""};
}

}  // namespace sluice::broker
