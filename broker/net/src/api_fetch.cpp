// Fetch: decode into the core's fetch_request, call the replica manager, encode its results.
// Record bytes are never read into memory: the partitions name file ranges, the response reserves
// their place in its data section, and the connection sends them from the files (sendfile).
#include <algorithm>

#include "sluice/net/request.h"
#include "sluice/net/topic_groups.h"

namespace sluice::broker {

awaitable<handler_result> handle_fetch(request_context& ctx, request& req) {
    const auto* f = req.envelope->body_as_FetchRequest();
    fetch_request fr;
    fr.max_bytes = size_t(std::max<int32_t>(f->max_bytes(), 0));
    fr.min_bytes = size_t(std::max<int32_t>(f->min_bytes(), 0));
    fr.deadline =
        req.received +
        std::min(std::chrono::milliseconds(std::max<int32_t>(f->max_wait_ms(), 0)), fetch_wait_max);
    fr.cancel = ctx.cancel;
    // A follower names its broker id; any negative id is a consumer.
    fr.replica = node_id_t{std::max<int32_t>(f->replica_id(), -1)};
    fr.rotation = ctx.fetch_rotation++;

    topic_groups groups;
    groups.flatten(f->topics(), [&](std::string_view topic, const fbs::FetchPartition& fp) {
        fetch_partition& e = fr.partitions.emplace_back();
        e.topic = topic;
        e.partition = partition_id_t{fp.partition()};
        e.fetch_offset = offset_t{fp.fetch_offset()};
        e.partition_max_bytes = size_t(std::max<int32_t>(fp.partition_max_bytes(), 0));
        e.current_leader_epoch = leader_epoch_t{fp.current_leader_epoch()};
        e.last_fetched_epoch = leader_epoch_t{fp.last_fetched_epoch()};
    });

    auto results = co_await ctx.broker.replicas.fetch(fr);

    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    std::vector<flatbuffers::Offset<fbs::FetchTopicResponse>> topics;
    std::vector<flatbuffers::Offset<fbs::FetchPartitionResponse>> parts;
    for (size_t k = 0; k < results.size(); ++k) {
        fetch_result& s = results[k];
        // The partition's batches sit back to back in the data section.
        fbs::DataRef ref = r->writer.add_data_ref({});
        uint32_t length = 0;
        for (auto& range : s.ranges) {
            r->writer.add_data_external(size_t(range.length));
            length += uint32_t(range.length);
            r->files.push_back(std::move(range));
        }
        ref = fbs::DataRef(ref.offset(), length);
        parts.push_back(fbs::CreateFetchPartitionResponse(
            fbb, fr.partitions[k].partition.value(), int16_t(s.error), s.high_watermark.value(),
            s.log_start.value(), &ref, s.high_watermark.value(), s.diverging_epoch.value(),
            s.diverging_end_offset.value()));
        if (groups.last_of_topic(k)) {
            topics.push_back(fbs::CreateFetchTopicResponse(fbb, fbb.CreateString(groups.topic(k)),
                                                           fbb.CreateVector(parts)));
            parts.clear();
        }
    }
    auto body = fbs::CreateFetchResponse(fbb, 0, fbb.CreateVector(topics));
    finish_response(*r, *req.envelope, fbs::Body::FetchResponse, body.Union());
    co_return handler_result{std::move(r), ""};
}

}  // namespace sluice::broker
