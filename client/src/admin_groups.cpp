// The admin's consumer-group calls: each finds the group's coordinator (FindCoordinator, retried
// while the coordinator is being chosen or loads) and asks it; ListGroups asks every broker.
#include <set>

#include "admin_impl.h"
#include "sluice/client/internal/group_requests.h"
#include "sluice/client/internal/offsets.h"

namespace sluice {

using namespace sluice::client;

namespace {

bool coordinator_moving(errc e) {
    return e == errc::coordinator_not_available || e == errc::coordinator_load_in_progress ||
           e == errc::not_coordinator;
}

// A connection to `group`'s coordinator and its node id.
awaitable<result<std::pair<std::shared_ptr<connection>, int32_t>>> coordinator_of(
    detail::admin_impl& a, const std::string& group, clock::time_point deadline) {
    const std::string& cid = a.cl().config().client_id;
    std::error_code last = make_error_code(errc::coordinator_not_available);
    while (clock::now() < deadline) {
        SLUICE_CO_TRY(coordinator_meta c,
                      co_await a.ask<coordinator_meta>(
                          [&](int32_t id) { return encode_find_coordinator(id, cid, group); },
                          decode_find_coordinator));
        if (c.error == errc::none) {
            if (a.cl().metadata().broker(c.node_id) == nullptr) {
                (void)co_await a.cl().refresh(metadata_request{});
            }
            auto conn = co_await a.cl().node(c.node_id);
            if (conn) {
                co_return std::make_pair(conn.value(), c.node_id);
            }
            last = conn.error();
        } else if (!coordinator_moving(c.error)) {
            co_return make_error_code(c.error);
        } else {
            last = make_error_code(c.error);
        }
        co_await sleep_for(
            std::chrono::milliseconds(std::max(a.cl().config().retry_backoff_ms, 10)));
    }
    co_return last;
}

// Sends a request to `group`'s coordinator, finding it again while it moves; `decode` answers a
// value whose `error` field says whether to retry.
template <typename T, typename Encode, typename Decode, typename Error>
awaitable<result<std::pair<T, int32_t>>> ask_coordinator(detail::admin_impl& a,
                                                         const std::string& group, Encode encode,
                                                         Decode decode, Error error_of) {
    const auto deadline = a.deadline();
    std::error_code last = make_error_code(errc::coordinator_not_available);
    while (clock::now() < deadline) {
        SLUICE_CO_TRY(auto found, co_await coordinator_of(a, group, deadline));
        auto r = co_await found.first->call(encode, a.cl().request_timeout());
        if (!r) {
            last = r.error();
        } else {
            SLUICE_CO_TRY(T answer, decode(r.value()));
            if (!coordinator_moving(error_of(answer))) {
                co_return std::make_pair(std::move(answer), found.second);
            }
            last = make_error_code(error_of(answer));
        }
        co_await sleep_for(
            std::chrono::milliseconds(std::max(a.cl().config().retry_backoff_ms, 10)));
    }
    co_return last;
}

}  // namespace

result<std::vector<group_listing>> admin::list_groups() {
    detail::admin_impl& a = *impl_;
    return a.run<std::vector<group_listing>>(
        [&]() -> awaitable<result<std::vector<group_listing>>> {
            const std::string& cid = a.cl().config().client_id;
            SLUICE_CO_TRY(co_await a.cl().refresh(metadata_request{}));
            std::vector<group_listing> out;
            std::vector<int32_t> nodes;
            for (const auto& [id, b] : a.cl().metadata().brokers()) {
                nodes.push_back(id);
            }
            for (int32_t node : nodes) {
                SLUICE_CO_TRY(auto conn, co_await a.cl().node(node));
                SLUICE_CO_TRY(
                    response r,
                    co_await conn->call([&](int32_t id) { return encode_list_groups(id, cid); },
                                        a.cl().request_timeout()));
                SLUICE_CO_TRY(list_groups_answer l, decode_list_groups(r));
                if (l.error != errc::none) {
                    co_return make_error_code(l.error);
                }
                for (auto& g : l.groups) {
                    out.push_back(group_listing{std::move(g.group_id), std::move(g.protocol_type),
                                                std::move(g.state), node});
                }
            }
            std::sort(out.begin(), out.end(),
                      [](const auto& x, const auto& y) { return x.group_id < y.group_id; });
            co_return out;
        });
}

result<group_description> admin::describe_group(const std::string& group) {
    detail::admin_impl& a = *impl_;
    return a.run<group_description>([&]() -> awaitable<result<group_description>> {
        const std::string& cid = a.cl().config().client_id;
        const std::vector<std::string> ids{group};
        SLUICE_CO_TRY(
            auto got,
            (co_await ask_coordinator<std::vector<group_description_meta>>(
                a, group, [&](int32_t id) { return encode_describe_groups(id, cid, ids); },
                decode_describe_groups,
                [](const std::vector<group_description_meta>& v) {
                    return v.empty() ? errc::none : v[0].error;
                })));
        if (got.first.size() != 1) {
            co_return make_client_error(client_errc::protocol_error,
                                        "DescribeGroups answered for another number of groups");
        }
        group_description_meta& d = got.first[0];
        if (d.error != errc::none) {
            co_return make_error_code(d.error);
        }
        group_description out{d.group_id, d.state, d.protocol_type, d.protocol_name, d.generation,
                              got.second, {}};
        for (auto& m : d.members) {
            group_member_info info{m.member_id, m.instance_id, m.client_id, m.client_host, {}};
            if (d.protocol_type == "consumer") {
                if (auto parts = decode_assignment(m.assignment)) {
                    info.assignment = std::move(*parts);
                }
            }
            out.members.push_back(std::move(info));
        }
        std::sort(out.members.begin(), out.members.end(),
                  [](const auto& x, const auto& y) { return x.member_id < y.member_id; });
        co_return out;
    });
}

result<void> admin::delete_group(const std::string& group, std::string* broker_message) {
    detail::admin_impl& a = *impl_;
    return a.run<void>([&]() -> awaitable<result<void>> {
        const std::string& cid = a.cl().config().client_id;
        const std::vector<std::string> ids{group};
        SLUICE_CO_TRY(auto got,
                      (co_await ask_coordinator<std::vector<deleted_group_meta>>(
                          a, group, [&](int32_t id) { return encode_delete_groups(id, cid, ids); },
                          decode_delete_groups,
                          [](const std::vector<deleted_group_meta>& v) {
                              return v.empty() ? errc::none : v[0].error;
                          })));
        for (const auto& d : got.first) {
            if (d.error != errc::none) {
                if (broker_message != nullptr) {
                    *broker_message = d.message;
                }
                co_return make_error_code(d.error);
            }
        }
        co_return success();
    });
}

result<std::vector<group_offset>> admin::group_offsets(const std::string& group) {
    detail::admin_impl& a = *impl_;
    return a.run<std::vector<group_offset>>([&]() -> awaitable<result<std::vector<group_offset>>> {
        const std::string& cid = a.cl().config().client_id;
        const std::optional<partition_map> all;
        SLUICE_CO_TRY(
            auto got,
            (co_await ask_coordinator<offset_fetch_answer>(
                a, group, [&](int32_t id) { return encode_offset_fetch(id, cid, group, all); },
                decode_offset_fetch, [](const offset_fetch_answer& f) { return f.error; })));
        if (got.first.error != errc::none) {
            co_return make_error_code(got.first.error);
        }
        std::vector<group_offset> out;
        for (auto& p : got.first.partitions) {
            out.push_back(group_offset{p.topic, p.partition, p.offset, p.metadata});
        }
        std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) {
            return std::tie(x.topic, x.partition) < std::tie(y.topic, y.partition);
        });
        co_return out;
    });
}

result<void> admin::alter_group_offsets(const std::string& group,
                                        const std::vector<group_offset>& offsets,
                                        std::string* broker_message) {
    detail::admin_impl& a = *impl_;
    return a.run<void>([&]() -> awaitable<result<void>> {
        const std::string& cid = a.cl().config().client_id;
        std::vector<commit_entry> entries;
        for (const auto& o : offsets) {
            entries.push_back(commit_entry{o.topic, o.partition, o.offset, -1, o.metadata});
        }
        std::sort(entries.begin(), entries.end(), [](const auto& x, const auto& y) {
            return std::tie(x.topic, x.partition) < std::tie(y.topic, y.partition);
        });
        const member_ref outside{group, -1, "", std::nullopt};
        SLUICE_CO_TRY(
            auto got,
            (co_await ask_coordinator<commit_answer>(
                a, group,
                [&](int32_t id) { return encode_offset_commit(id, cid, outside, entries); },
                decode_offset_commit, [](const commit_answer& c) { return c.error; })));
        errc first = got.first.error;
        for (const auto& p : got.first.partitions) {
            if (first == errc::none) {
                first = p.error;
            }
        }
        if (first != errc::none) {
            if (broker_message != nullptr) {
                *broker_message = got.first.message;
            }
            co_return make_error_code(first);
        }
        co_return success();
    });
}

result<std::map<int32_t, int64_t>> admin::offsets_for_time(const std::string& topic,
                                                           int64_t timestamp_ms) {
    detail::admin_impl& a = *impl_;
    return a.run<std::map<int32_t, int64_t>>(
        [&]() -> awaitable<result<std::map<int32_t, int64_t>>> {
            metadata_request req;
            req.topics.push_back(topic);
            SLUICE_CO_TRY(co_await a.cl().refresh(std::move(req)));
            const topic_meta* t = a.cl().metadata().topic(topic);
            if (t == nullptr || t->error != errc::none) {
                co_return make_error_code(t == nullptr ? errc::unknown_topic_or_partition
                                                       : t->error);
            }
            std::vector<offset_query> queries;
            for (const auto& p : t->partitions) {
                queries.push_back(offset_query{topic, p.partition, timestamp_ms});
            }
            SLUICE_CO_TRY(auto answers,
                          co_await list_offsets(a.cl(), std::move(queries), a.deadline()));
            std::map<int32_t, int64_t> out;
            for (const auto& o : answers) {
                out[o.partition] = o.offset;
            }
            co_return out;
        });
}

}  // namespace sluice
