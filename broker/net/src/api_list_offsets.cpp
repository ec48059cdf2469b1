// ListOffsets: -2 earliest, -1 latest (the high watermark), else the first record at or after a
// timestamp; offset and timestamp -1 when there is none (as Kafka).
#include "sluice/net/request.h"

namespace sluice::broker {

awaitable<handler_result> handle_list_offsets(request_context& ctx, request& req) {
    const auto* l = req.envelope->body_as_ListOffsetsRequest();
    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    std::vector<flatbuffers::Offset<fbs::ListOffsetsTopicResponse>> topics;
    if (l->topics() != nullptr) {
        for (const auto* t : *l->topics()) {
            std::string_view name = t->name() != nullptr ? t->name()->string_view() : "";
            std::vector<flatbuffers::Offset<fbs::ListOffsetsPartitionResponse>> parts;
            if (t->partitions() != nullptr) {
                for (const auto* lp : *t->partitions()) {
                    const partition_id_t id{lp->partition()};
                    const int64_t ts = lp->timestamp();
                    partition::offset_outcome out =
                        co_await ctx.broker.replicas.list_offset(name, id, ts);
                    parts.push_back(fbs::CreateListOffsetsPartitionResponse(
                        fbb, lp->partition(), int16_t(out.error), out.timestamp, out.offset,
                        out.leader_epoch));
                }
            }
            topics.push_back(fbs::CreateListOffsetsTopicResponse(fbb, fbb.CreateString(name),
                                                                 fbb.CreateVector(parts)));
        }
    }
    auto body = fbs::CreateListOffsetsResponse(fbb, fbb.CreateVector(topics));
    finish_response(*r, *req.envelope, fbs::Body::ListOffsetsResponse, body.Union());
    co_return handler_result{std::move(r), ""};
}

}  // namespace sluice::broker
