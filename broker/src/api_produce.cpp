// Produce: validate and append each partition's batches on that partition's strand, straight from
// the received frame (the log stamps offsets into it in place), then wait for the acknowledgement
// the request asked for.
//
// acks=0: no response at all (Kafka); if a partition failed, the connection is closed instead, so
//         the producer notices (as Kafka does).
// acks=1: answered after the append; in fsync mode after the group-commit fsync.
// acks=-1: answered when the high watermark passes the batch. On one broker that is the moment
//         acks=1 is answered; with replication it will wait for the in-sync replicas.
#include <atomic>

#include <fmt/format.h>

#include "request.h"
#include "sluice/protocol/api.h"

namespace sluice::broker {
namespace {

struct slot {
    std::string_view topic;  // points into the request, which outlives the handler
    size_t topic_index = 0;  // which topic of the request
    int32_t partition = 0;
    errc error = errc::none;
    std::string message;
    offset_t base_offset{-1};
    offset_t log_start{-1};
    bool appended = false;
    // Written by the acknowledgement callback (a partition's strand), read by the handler once
    // `acked` is true.
    errc ack_error = errc::none;
    std::atomic<bool> acked{false};
};

// Shared with the acknowledgement callbacks, which may outlive the handler after a timeout.
struct produce_state {
    explicit produce_state(size_t n, executor conn)
        : slots(n), event(std::make_shared<async_event>(conn)) {}
    std::vector<slot> slots;
    // Outstanding acknowledgements plus one held by the handler until every append is done, so
    // that the event cannot fire before the last partition has registered its wait.
    std::atomic<int> pending{1};
    std::shared_ptr<async_event> event;

    void count_down() {
        if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            event->set();
        }
    }
};

}  // namespace

awaitable<handler_result> handle_produce(request_context& ctx, request& req) {
    const auto* p = req.envelope->body_as_ProduceRequest();
    const int16_t acks = p->acks();
    const bool acks_valid =
        acks == api::acks_none || acks == api::acks_leader || acks == api::acks_all;
    const auto deadline =
        steady_clock::now() + std::chrono::milliseconds(std::max<int32_t>(p->timeout_ms(), 0));

    size_t n = 0;
    if (p->topics() != nullptr) {
        for (const auto* t : *p->topics()) {
            n += t->partitions() != nullptr ? t->partitions()->size() : 0;
        }
    }
    auto st = std::make_shared<produce_state>(n, ctx.conn);

    size_t i = 0;
    size_t topic_index = 0;
    if (p->topics() != nullptr) {
        for (const auto* t : *p->topics()) {
            ++topic_index;
            std::string_view name = t->name() != nullptr ? t->name()->string_view() : "";
            if (t->partitions() == nullptr) {
                continue;
            }
            for (const auto* pp : *t->partitions()) {
                const size_t idx = i++;
                slot& s = st->slots[idx];
                s.topic = name;
                s.topic_index = topic_index;
                s.partition = pp->partition();
                if (!acks_valid) {
                    s.error = errc::invalid_required_acks;
                    s.message = fmt::format("acks must be 0, 1 or -1, not {}", acks);
                    continue;
                }
                auto records = frame::resolve(pp->records(), req.data);
                if (!records) {
                    s.error = errc::corrupt_message;
                    s.message = "records lie outside the frame's data section";
                    continue;
                }
                partition* part = ctx.image->find(name, pp->partition());
                if (part == nullptr) {
                    s.error = errc::unknown_topic_or_partition;
                    s.message = fmt::format("no partition {} of topic '{}'", pp->partition(), name);
                    continue;
                }
                // The same bytes, writable: the request owns its buffer.
                auto offset = size_t(records.value().data() - req.data.data());
                auto batches = req.data.subspan(offset, records.value().size());
                auto out = co_await run_on(part->strand(), [&, part, idx] {
                    auto o = part->append(batches);
                    if (o.error == errc::none && acks != api::acks_none) {
                        st->pending.fetch_add(1, std::memory_order_relaxed);
                        part->wait_for_hw(o.last_offset + 1, [st, idx](errc e) {
                            st->slots[idx].ack_error = e;
                            st->slots[idx].acked.store(true, std::memory_order_release);
                            st->count_down();
                        });
                    }
                    return o;
                });
                s.error = out.error;
                s.message = std::move(out.message);
                s.base_offset = out.base_offset;
                s.log_start = out.log_start;
                s.appended = out.error == errc::none;
            }
        }
    }

    if (acks == api::acks_none) {
        st->event->finish();
        for (const auto& s : st->slots) {
            if (s.error != errc::none) {
                co_return handler_result{
                    nullptr, fmt::format("an acks=0 produce to {}-{} failed: {}", s.topic,
                                         s.partition, errc_name(s.error))};
            }
        }
        co_return handler_result{};
    }

    st->count_down();  // the handler's own share
    co_await st->event->wait_until(deadline);
    st->event->finish();

    auto r = std::make_unique<response>();
    auto& fbb = r->writer.fbb();
    std::vector<flatbuffers::Offset<fbs::ProduceTopicResponse>> topics;
    std::vector<flatbuffers::Offset<fbs::ProducePartitionResponse>> parts;
    for (size_t k = 0; k < st->slots.size(); ++k) {
        slot& s = st->slots[k];
        if (s.appended) {
            if (!s.acked.load(std::memory_order_acquire)) {
                s.error = errc::request_timed_out;
                s.message = "the write was not acknowledged within timeout_ms";
            } else if (s.ack_error != errc::none) {
                s.error = s.ack_error;
            }
        }
        bool ok = s.error == errc::none;
        parts.push_back(fbs::CreateProducePartitionResponse(
            fbb, s.partition, int16_t(s.error), s.message.empty() ? 0 : fbb.CreateString(s.message),
            ok ? s.base_offset.value() : -1, -1, ok ? s.log_start.value() : -1));
        bool last_of_topic =
            k + 1 == st->slots.size() || st->slots[k + 1].topic_index != s.topic_index;
        if (last_of_topic) {
            topics.push_back(fbs::CreateProduceTopicResponse(fbb, fbb.CreateString(s.topic),
                                                             fbb.CreateVector(parts)));
            parts.clear();
        }
    }
    auto body = fbs::CreateProduceResponse(fbb, fbb.CreateVector(topics));
    finish_response(*r, *req.envelope, fbs::Body::ProduceResponse, body.Union());
    co_return handler_result{std::move(r), ""};
}

}  // namespace sluice::broker
