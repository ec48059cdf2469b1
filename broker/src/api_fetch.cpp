// Fetch: read each partition below its high watermark on the partition's strand; if fewer than
// min_bytes came back, wait (a long poll) until an append to one of the partitions wakes the
// fetch or max_wait_ms passes, then read on from where the last round stopped.
//
// No polling: each round registers a one-shot async_event with every partition it reads, in the
// same strand turn as the read, so no append between a read and the wait can be missed. The
// timer that bounds the wait runs on the connection's strand.
//
// Limits, as Kafka's: partition_max_bytes per partition and max_bytes per request (capped by the
// broker's fetch.max.bytes), except that the first batch of the first non-empty partition comes
// whole, so a consumer always progresses. Record bytes are never copied after the log read: the
// read buffers are referenced from the response's data section and written with one gather
// write.
#include <algorithm>

#include "request.h"

namespace sluice::broker {
namespace {

struct fetch_slot {
    size_t topic_index = 0;
    std::string_view topic;  // points into the request
    int32_t partition = 0;
    broker::partition* part = nullptr;  // kept alive by the request's registry image
    offset_t next{-1};
    size_t partition_max = 0;
    leader_epoch_t current_epoch{-1};
    errc error = errc::none;
    offset_t high_watermark{-1};
    offset_t log_start{-1};
    std::vector<std::vector<std::byte>> chunks;  // read results, in offset order
    size_t bytes = 0;
};

}  // namespace

awaitable<handler_result> handle_fetch(request_context& ctx, request& req) {
    const auto* f = req.envelope->body_as_FetchRequest();
    const size_t max_bytes =
        size_t(std::clamp<int64_t>(f->max_bytes(), 0, ctx.broker.config.fetch_max_bytes));
    const size_t min_bytes = size_t(std::max<int32_t>(f->min_bytes(), 0));
    const auto max_wait = std::chrono::milliseconds(std::max<int32_t>(f->max_wait_ms(), 0));
    const auto deadline = steady_clock::now() + max_wait;

    std::vector<fetch_slot> slots;
    size_t topic_index = 0;
    if (f->topics() != nullptr) {
        for (const auto* t : *f->topics()) {
            ++topic_index;
            std::string_view name = t->name() != nullptr ? t->name()->string_view() : "";
            if (t->partitions() == nullptr) {
                continue;
            }
            for (const auto* fp : *t->partitions()) {
                fetch_slot s;
                s.topic_index = topic_index;
                s.topic = name;
                s.partition = fp->partition();
                s.part = ctx.image->find(name, fp->partition());
                s.next = offset_t{fp->fetch_offset()};
                s.partition_max = size_t(std::max<int32_t>(fp->partition_max_bytes(), 0));
                s.current_epoch = leader_epoch_t{fp->current_leader_epoch()};
                if (s.part == nullptr) {
                    s.error = errc::unknown_topic_or_partition;
                }
                slots.push_back(std::move(s));
            }
        }
    }

    size_t total = 0;
    for (;;) {
        bool may_wait = min_bytes > 0 && steady_clock::now() < deadline;
        auto waiter = may_wait ? std::make_shared<async_event>(ctx.conn) : nullptr;
        bool failed = false;
        for (auto& s : slots) {
            if (s.part == nullptr || s.error != errc::none) {
                failed = failed || s.error != errc::none;
                continue;
            }
            size_t budget = std::min(s.partition_max > s.bytes ? s.partition_max - s.bytes : 0,
                                     max_bytes > total ? max_bytes - total : 0);
            const bool first = total == 0;
            std::shared_ptr<wakeup> w = waiter;
            auto r = co_await run_on(s.part->strand(), [&s, budget, first, &w] {
                return s.part->read(s.next, budget, first, s.current_epoch, w);
            });
            s.high_watermark = r.high_watermark;
            s.log_start = r.log_start;
            if (r.error != errc::none) {
                s.error = r.error;
                failed = true;
                continue;
            }
            if (!r.bytes.empty()) {
                s.bytes += r.bytes.size();
                total += r.bytes.size();
                s.next = r.next;
                s.chunks.push_back(std::move(r.bytes));
            }
        }
        if (total >= min_bytes || failed || !waiter) {
            if (waiter) {
                waiter->finish();
            }
            break;
        }
        bool woken = co_await waiter->wait_until(deadline);
        waiter->finish();
        if (!woken) {
            break;  // max_wait_ms passed
        }
    }

    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    std::vector<flatbuffers::Offset<fbs::FetchTopicResponse>> topics;
    std::vector<flatbuffers::Offset<fbs::FetchPartitionResponse>> parts;
    for (size_t k = 0; k < slots.size(); ++k) {
        auto& s = slots[k];
        // The partition's batches sit back to back in the data section.
        fbs::DataRef ref = r->writer.add_data_ref({});
        uint32_t length = 0;
        for (auto& chunk : s.chunks) {
            r->writer.add_data_ref(chunk);
            length += uint32_t(chunk.size());
            r->keep_alive.push_back(std::move(chunk));
        }
        ref = fbs::DataRef(ref.offset(), length);
        parts.push_back(fbs::CreateFetchPartitionResponse(
            fbb, s.partition, int16_t(s.error), s.high_watermark.value(), s.log_start.value(), &ref,
            s.high_watermark.value()));
        if (k + 1 == slots.size() || slots[k + 1].topic_index != s.topic_index) {
            topics.push_back(fbs::CreateFetchTopicResponse(fbb, fbb.CreateString(s.topic),
                                                           fbb.CreateVector(parts)));
            parts.clear();
        }
    }
    auto body = fbs::CreateFetchResponse(fbb, 0, fbb.CreateVector(topics));
    finish_response(*r, *req.envelope, fbs::Body::FetchResponse, body.Union());
    co_return handler_result{std::move(r), ""};
}

}  // namespace sluice::broker
