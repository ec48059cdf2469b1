// Fuzz target: one request frame through the native listener, with the core stubbed out at its
// interfaces (partition_service, topic_admin).
//
// The frame goes the way a connection takes it: the codec's header check, its decode (envelope
// verification), then the table-driven dispatch and the API's handler, which decodes the body
// into the core's plain structs. The stubs answer like a broker with no partitions (produce
// validates the batches as a partition would). Checks that every request either closes the
// connection with a reason or gets a response that is itself a valid frame carrying the request's
// correlation id.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>  // before Asio: boost/asio/awaitable.hpp uses std::exchange
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "sluice/core/batch_validation.h"
#include "sluice/core/partition_service.h"
#include "sluice/core/topic_admin.h"
#include "sluice/net/native_codec.h"
#include "sluice/protocol/byte_order.h"

namespace {

using namespace sluice;
using namespace sluice::broker;

// A broker without partitions: every produce is checked as a partition would check it, then
// refused; fetches and offset lookups find nothing.
class stub_partitions final : public partition_service {
  public:
    std::shared_ptr<const partition_image> snapshot() const override { return image_; }

    awaitable<std::vector<produce_result>> produce(produce_request& req) override {
        std::vector<produce_result> out(req.partitions.size());
        for (size_t i = 0; i < out.size(); ++i) {
            const auto& p = req.partitions[i];
            if (p.error != errc::none) {
                out[i].error = p.error;
                continue;
            }
            auto check = validate_batches(p.batches, 1u << 20);
            out[i].error =
                check.error != errc::none ? check.error : errc::unknown_topic_or_partition;
            out[i].message = check.message;
        }
        co_return out;
    }

    awaitable<std::vector<fetch_result>> fetch(fetch_request& req) override {
        std::vector<fetch_result> out(req.partitions.size());
        for (auto& r : out) {
            r.error = errc::unknown_topic_or_partition;
        }
        co_return out;
    }

    awaitable<partition::offset_outcome> list_offset(std::string_view, partition_id_t,
                                                     int64_t) override {
        co_return partition::offset_outcome{errc::unknown_topic_or_partition};
    }

  private:
    std::shared_ptr<const partition_image> image_ = std::make_shared<partition_image>();
};

// Changes nothing, but answers every topic named, as the cluster member would.
class stub_admin final : public topic_admin {
  public:
    awaitable<std::vector<topic_result>> create_topics(std::vector<create_topic_request>&& topics,
                                                       bool) override {
        std::vector<topic_result> out;
        for (const auto& t : topics) {
            out.push_back({t.name, errc::invalid_replication_factor, "stub"});
        }
        co_return out;
    }
    awaitable<std::vector<topic_result>> delete_topics(std::vector<std::string>&& names) override {
        std::vector<topic_result> out;
        for (const auto& n : names) {
            out.push_back({n, errc::unknown_topic_or_partition, "stub"});
        }
        co_return out;
    }
    awaitable<std::vector<topic_result>> add_partitions(
        std::vector<partition_count_request>&& topics, bool) override {
        std::vector<topic_result> out;
        for (const auto& t : topics) {
            out.push_back({t.name, errc::invalid_partitions, "stub"});
        }
        co_return out;
    }
    awaitable<std::vector<topic_result>> alter_configs(std::vector<config_change_request>&& topics,
                                                       bool) override {
        std::vector<topic_result> out;
        for (const auto& t : topics) {
            out.push_back({t.name, errc::invalid_config, "stub"});
        }
        co_return out;
    }
    awaitable<producer_id_grant> init_producer_id() override {
        co_return producer_id_grant{errc::coordinator_load_in_progress, "stub"};
    }
    awaitable<std::vector<election_result>> elect_leaders(
        std::vector<std::string>&& topics) override {
        std::vector<election_result> out;
        for (auto& t : topics) {
            out.push_back({std::move(t), -1, errc::not_controller, "stub"});
        }
        co_return out;
    }
    awaitable<quorum_status> describe_quorum() override {
        co_return quorum_status{
            errc::not_controller, "stub", node_id_t{-1}, 0, offset_t{0}, offset_t{0}, {}, {}};
    }
};

// Answers every group request with what it was asked (members, protocols, offsets), so that the
// handlers' answers are encoded with content.
class stub_groups final : public group_service {
  public:
    awaitable<coordinator_answer> find_coordinator(std::string&& id) override {
        co_return coordinator_answer{errc::none, id, 0, id, 1};
    }
    awaitable<join_group_result> join_group(join_group_request&& r,
                                            std::shared_ptr<cancel_token>) override {
        join_group_result out;
        out.generation = r.session_timeout_ms;
        out.protocol_type = r.protocol_type;
        out.member_id = r.member_id;
        out.leader = r.client_host;
        for (auto& p : r.protocols) {
            out.members.push_back({p.name, r.instance_id, p.metadata});
        }
        co_return out;
    }
    awaitable<sync_group_result> sync_group(sync_group_request&& r,
                                            std::shared_ptr<cancel_token>) override {
        sync_group_result out;
        out.protocol_name = r.protocol_name;
        for (auto& a : r.assignments) {
            out.assignment += a.assignment;
        }
        co_return out;
    }
    awaitable<group_answer> heartbeat(heartbeat_request&& r) override {
        co_return group_answer{errc::rebalance_in_progress, r.member_id};
    }
    awaitable<leave_group_result> leave_group(leave_group_request&& r) override {
        leave_group_result out;
        for (auto& m : r.members) {
            out.members.push_back({m.member_id, m.instance_id, errc::unknown_member_id});
        }
        co_return out;
    }
    awaitable<offset_commit_result> commit_offsets(offset_commit_request&& r) override {
        offset_commit_result out;
        out.errors.assign(r.offsets.size(), errc::illegal_generation);
        co_return out;
    }
    awaitable<offset_fetch_result> fetch_offsets(offset_fetch_request&& r) override {
        offset_fetch_result out;
        if (r.partitions) {
            for (auto& tp : *r.partitions) {
                out.offsets.push_back({tp.topic, tp.partition, 1, -1, r.group_id, errc::none});
            }
        }
        co_return out;
    }
    awaitable<list_groups_result> list_groups(std::vector<std::string>&& states) override {
        list_groups_result out;
        for (auto& s : states) {
            out.groups.push_back({s, "consumer", s});
        }
        co_return out;
    }
    awaitable<std::vector<group_description>> describe_groups(
        std::vector<std::string>&& ids) override {
        std::vector<group_description> out;
        for (auto& id : ids) {
            group_description d;
            d.group_id = id;
            d.members.push_back({id, std::nullopt, id, id, id, id});
            out.push_back(std::move(d));
        }
        co_return out;
    }
    awaitable<std::vector<deleted_group>> delete_groups(std::vector<std::string>&& ids) override {
        std::vector<deleted_group> out;
        for (auto& id : ids) {
            out.push_back({id, errc::non_empty_group, id});
        }
        co_return out;
    }
};

struct harness {
    boost::asio::io_context io;
    stub_partitions partitions;
    stub_admin admin;
    stub_groups groups;
    broker_context ctx{net_config{}, partitions, admin, io.get_executor()};
    native_codec codec;
    std::string peer = "fuzzer";
    size_t rotation = 0;
    std::shared_ptr<cancel_token> cancel = std::make_shared<cancel_token>();
};

harness& the_harness() {
    static harness h;
    h.ctx.groups = &h.groups;
    return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    harness& h = the_harness();
    const frame_codec& codec = h.codec;
    if (size < codec.header_bytes()) {
        return 0;
    }
    // The frame's length field is made to match the input, so that mutations explore the
    // envelope and the handlers rather than the size check (the frame target covers that).
    request req;
    req.buffer = frame_buffer::with_capacity(size);
    req.buffer.size = size;
    std::memcpy(req.buffer.data(), data, size);
    store_be<uint32_t>(req.buffer.data(), uint32_t(size - 4));
    auto total =
        codec.frame_size(std::span<const std::byte>(req.buffer.data(), codec.header_bytes()),
                         frame::frame_bytes_max_default);
    if (!std::holds_alternative<size_t>(total) || std::get<size_t>(total) != size) {
        return 0;  // the connection would close: a bad envelope length
    }
    req.received = steady_clock::now();
    if (std::holds_alternative<std::string>(codec.decode(req))) {
        return 0;  // closed with a reason
    }
    const int32_t correlation = req.envelope->correlation_id();

    handler_result result;
    bool finished = false;
    executor strand = boost::asio::make_strand(h.io);
    request_context rc{h.ctx, strand, h.peer, h.rotation, h.cancel};
    boost::asio::co_spawn(
        strand,
        [&]() -> awaitable<void> {
            result = co_await codec.handle(rc, req);
            finished = true;
        },
        boost::asio::detached);
    h.io.restart();
    h.io.run();
    if (!finished) {
        std::abort();  // a handler never completed
    }
    if (result.reply) {
        auto bytes = result.reply->writer.to_bytes();
        auto parsed = frame::parse(bytes);
        if (!parsed || parsed.value().envelope->correlation_id() != correlation) {
            std::abort();  // the broker built a response a client could not read
        }
    } else if (result.close_reason.empty() &&
               !(req.envelope->api_key() == fbs::ApiKey::Produce &&
                 req.envelope->body_as_ProduceRequest() != nullptr &&
                 req.envelope->body_as_ProduceRequest()->acks() == 0)) {
        std::abort();  // no answer, no close, and not an acks=0 produce
    }
    return 0;
}
