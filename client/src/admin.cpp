#include "sluice/client/admin.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "admin_impl.h"
#include "sluice/client/internal/cluster.h"
#include "sluice/client/internal/co_try.h"
#include "sluice/client/internal/io_thread.h"
#include "sluice/client/internal/offsets.h"
#include "sluice/protocol/api.h"

namespace sluice {

using namespace sluice::client;

result<std::unique_ptr<admin>> admin::create(client_config config) {
    SLUICE_TRY(validate(config));
    return std::unique_ptr<admin>(new admin(std::make_unique<detail::admin_impl>(config)));
}

admin::admin(std::unique_ptr<detail::admin_impl> impl) : impl_(std::move(impl)) {}

admin::~admin() = default;

result<void> admin::create_topic(const std::string& name, int32_t partitions,
                                 int16_t replication_factor,
                                 const std::map<std::string, std::string>& configs,
                                 std::string* broker_message) {
    detail::admin_impl& a = *impl_;
    return a.run<void>([&]() -> awaitable<result<void>> {
        const auto deadline = a.deadline();
        SLUICE_CO_TRY(auto conn, co_await a.cl().any());
        const new_topic t{name, partitions, replication_factor, configs};
        const std::string& cid = a.cl().config().client_id;
        const int32_t timeout_ms = a.cl().config().request_timeout_ms;
        SLUICE_CO_TRY(response r, co_await conn->call(
                                      [&](int32_t id) {
                                          return encode_create_topics(id, cid, {&t, 1}, timeout_ms);
                                      },
                                      a.cl().request_timeout()));
        SLUICE_CO_TRY(std::vector<topic_result> results, decode_create_topics(r));
        for (const topic_result& res : results) {
            if (res.name == name && res.error != errc::none) {
                if (broker_message != nullptr) {
                    *broker_message = res.error_message;
                }
                co_return make_error_code(res.error);
            }
        }
        co_await a.await_topic(name, true, deadline);
        co_return success();
    });
}

result<void> admin::delete_topic(const std::string& name, std::string* broker_message) {
    detail::admin_impl& a = *impl_;
    return a.run<void>([&]() -> awaitable<result<void>> {
        const auto deadline = a.deadline();
        SLUICE_CO_TRY(auto conn, co_await a.cl().any());
        const std::string& cid = a.cl().config().client_id;
        const int32_t timeout_ms = a.cl().config().request_timeout_ms;
        SLUICE_CO_TRY(response r,
                      co_await conn->call(
                          [&](int32_t id) {
                              return encode_delete_topics(id, cid, {&name, 1}, timeout_ms);
                          },
                          a.cl().request_timeout()));
        SLUICE_CO_TRY(std::vector<topic_result> results, decode_delete_topics(r));
        for (const topic_result& res : results) {
            if (res.name == name && res.error != errc::none) {
                if (broker_message != nullptr) {
                    *broker_message = res.error_message;
                }
                co_return make_error_code(res.error);
            }
        }
        a.cl().metadata().forget_topic(name);
        co_await a.await_topic(name, false, deadline);
        co_return success();
    });
}

result<std::vector<std::string>> admin::list_topics() {
    detail::admin_impl& a = *impl_;
    return a.run<std::vector<std::string>>([&]() -> awaitable<result<std::vector<std::string>>> {
        metadata_request req;
        req.all_topics = true;
        SLUICE_CO_TRY(metadata_answer m, co_await a.cl().refresh(std::move(req)));
        std::vector<std::string> names;
        for (const topic_meta& t : m.topics) {
            if (t.error == errc::none) {
                names.push_back(t.name);
            }
        }
        std::sort(names.begin(), names.end());
        co_return names;
    });
}

result<int32_t> admin::partition_count(const std::string& name) {
    detail::admin_impl& a = *impl_;
    return a.run<int32_t>([&]() -> awaitable<result<int32_t>> {
        metadata_request req;
        req.topics.push_back(name);
        SLUICE_CO_TRY(metadata_answer m, co_await a.cl().refresh(std::move(req)));
        for (const topic_meta& tm : m.topics) {
            if (tm.name == name) {
                if (tm.error != errc::none) {
                    co_return make_error_code(tm.error);
                }
                co_return int32_t(tm.partitions.size());
            }
        }
        co_return make_error_code(errc::unknown_topic_or_partition);
    });
}

result<topic_info> admin::describe_topic(const std::string& name) {
    detail::admin_impl& a = *impl_;
    return a.run<topic_info>([&]() -> awaitable<result<topic_info>> {
        const auto deadline = a.deadline();
        metadata_request req;
        req.topics.push_back(name);
        SLUICE_CO_TRY(metadata_answer m, co_await a.cl().refresh(std::move(req)));
        const topic_meta* t = nullptr;
        for (const topic_meta& tm : m.topics) {
            if (tm.name == name) {
                t = &tm;
            }
        }
        if (t == nullptr) {
            co_return make_error_code(errc::unknown_topic_or_partition);
        }
        if (t->error != errc::none) {
            co_return make_error_code(t->error);
        }
        topic_info info;
        info.name = name;
        // Earliest and latest in two calls: one request names each partition once. A partition
        // with no leader (its broker is fenced) has no offsets to ask for: -1.
        std::vector<offset_query> earliest;
        std::vector<offset_query> latest;
        std::vector<size_t> led;  // indexes into info.partitions of the ones asked for
        for (const partition_meta& p : t->partitions) {
            info.partitions.push_back(
                {p.partition, p.leader, p.leader_epoch, p.replicas, p.isr, -1, -1});
            if (p.leader >= 0) {
                led.push_back(info.partitions.size() - 1);
                earliest.push_back({name, p.partition, api::earliest_timestamp});
                latest.push_back({name, p.partition, api::latest_timestamp});
            }
        }
        if (!earliest.empty()) {
            SLUICE_CO_TRY(std::vector<offset_answer> starts,
                          co_await list_offsets(a.cl(), std::move(earliest), deadline));
            SLUICE_CO_TRY(std::vector<offset_answer> ends,
                          co_await list_offsets(a.cl(), std::move(latest), deadline));
            for (size_t i = 0; i < led.size(); ++i) {
                info.partitions[led[i]].log_start_offset = starts[i].offset;
                info.partitions[led[i]].log_end_offset = ends[i].offset;
            }
        }
        // Each leader says where its replicas are; one that cannot leaves them unknown.
        std::set<int32_t> leaders;
        for (const auto& p : info.partitions) {
            if (p.leader >= 0) {
                leaders.insert(p.leader);
            }
        }
        for (int32_t id : leaders) {
            auto conn = co_await a.cl().node(id);
            if (!conn) {
                continue;
            }
            metadata_request ask;
            ask.topics.push_back(name);
            ask.include_replica_offsets = true;
            const std::string& cid = a.cl().config().client_id;
            auto r = co_await conn.value()->call(
                [&](int32_t cor) { return encode_metadata(cor, cid, ask); },
                a.cl().request_timeout());
            auto answer = r ? decode_metadata(r.value()) : result<metadata_answer>(r.error());
            if (!answer) {
                continue;
            }
            for (const auto& tm : answer.value().topics) {
                for (const auto& pm : tm.partitions) {
                    for (auto& p : info.partitions) {
                        if (tm.name == name && p.partition == pm.partition && p.leader == id &&
                            pm.replica_log_end_offsets.size() == p.replicas.size()) {
                            p.replica_log_end_offsets = pm.replica_log_end_offsets;
                        }
                    }
                }
            }
        }
        co_return info;
    });
}

result<std::vector<broker_info>> admin::describe_cluster() {
    detail::admin_impl& a = *impl_;
    return a.run<std::vector<broker_info>>([&]() -> awaitable<result<std::vector<broker_info>>> {
        SLUICE_CO_TRY(metadata_answer m, co_await a.cl().refresh(metadata_request{}));
        std::vector<broker_info> out;
        for (const broker_meta& b : m.brokers) {
            out.push_back({b.node_id, b.host, b.port, b.node_id == m.controller_id});
        }
        co_return out;
    });
}

result<void> admin::add_partitions(const std::string& name, int32_t total,
                                   std::string* broker_message) {
    detail::admin_impl& a = *impl_;
    return a.run<void>([&]() -> awaitable<result<void>> {
        const auto deadline = a.deadline();
        const std::string& cid = a.cl().config().client_id;
        const int32_t timeout_ms = a.cl().config().request_timeout_ms;
        SLUICE_CO_TRY(std::vector<topic_result> results,
                      co_await a.ask<std::vector<topic_result>>(
                          [&](int32_t id) {
                              return encode_create_partitions(id, cid, name, total, timeout_ms);
                          },
                          decode_create_partitions));
        SLUICE_CO_TRY(detail::admin_impl::first_error(results, broker_message));
        co_await a.await_topic(name, true, deadline, size_t(std::max(total, 1)));
        co_return success();
    });
}

result<void> admin::alter_topic_configs(
    const std::string& name, const std::map<std::string, std::optional<std::string>>& changes,
    std::string* broker_message) {
    detail::admin_impl& a = *impl_;
    return a.run<void>([&]() -> awaitable<result<void>> {
        const std::string& cid = a.cl().config().client_id;
        SLUICE_CO_TRY(std::vector<topic_result> results,
                      co_await a.ask<std::vector<topic_result>>(
                          [&](int32_t id) { return encode_alter_configs(id, cid, name, changes); },
                          decode_alter_configs));
        co_return detail::admin_impl::first_error(results, broker_message);
    });
}

result<std::vector<config_entry>> admin::describe_topic_configs(const std::string& name) {
    detail::admin_impl& a = *impl_;
    return a.run<std::vector<config_entry>>([&]() -> awaitable<result<std::vector<config_entry>>> {
        const std::string& cid = a.cl().config().client_id;
        SLUICE_CO_TRY(std::vector<topic_configs_meta> topics,
                      co_await a.ask<std::vector<topic_configs_meta>>(
                          [&](int32_t id) { return encode_describe_configs(id, cid, name); },
                          decode_describe_configs));
        for (const auto& t : topics) {
            if (t.name != name) {
                continue;
            }
            if (t.error != errc::none) {
                co_return make_error_code(t.error);
            }
            std::vector<config_entry> out;
            for (const auto& c : t.configs) {
                out.push_back({c.name, c.value, c.is_override});
            }
            co_return out;
        }
        co_return make_error_code(errc::unknown_topic_or_partition);
    });
}

result<std::vector<election_info>> admin::elect_leaders(const std::vector<std::string>& topics) {
    detail::admin_impl& a = *impl_;
    return a.run<std::vector<election_info>>(
        [&]() -> awaitable<result<std::vector<election_info>>> {
            const std::string& cid = a.cl().config().client_id;
            SLUICE_CO_TRY(std::vector<election_meta> results,
                          co_await a.ask<std::vector<election_meta>>(
                              [&](int32_t id) { return encode_elect_leaders(id, cid, topics); },
                              decode_elect_leaders));
            std::vector<election_info> out;
            for (auto& e : results) {
                if (e.partition < 0 && e.topic.empty() && e.error != errc::none) {
                    co_return make_error_code(e.error);  // the whole request's answer
                }
                out.push_back({std::move(e.topic), e.partition,
                               e.error == errc::none ? std::error_code{} : make_error_code(e.error),
                               std::move(e.message)});
            }
            std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) {
                return std::tie(x.topic, x.partition) < std::tie(y.topic, y.partition);
            });
            co_return out;
        });
}

result<quorum_info> admin::describe_quorum() {
    detail::admin_impl& a = *impl_;
    return a.run<quorum_info>([&]() -> awaitable<result<quorum_info>> {
        const std::string& cid = a.cl().config().client_id;
        SLUICE_CO_TRY(
            quorum_meta q,
            co_await a.ask<quorum_meta>([&](int32_t id) { return encode_describe_quorum(id, cid); },
                                        decode_describe_quorum));
        if (q.error != errc::none) {
            co_return make_error_code(q.error);
        }
        int64_t leader_end = -1;
        for (const auto& v : q.voters) {
            if (v.id == q.leader_id) {
                leader_end = v.log_end_offset;
            }
        }
        auto convert = [&](const std::vector<quorum_replica_meta>& list) {
            std::vector<quorum_replica_info> out;
            for (const auto& r : list) {
                const int64_t lag =
                    r.log_end_offset < 0 || leader_end < 0 ? -1 : leader_end - r.log_end_offset;
                out.push_back({r.id, r.log_end_offset, lag, r.last_fetch_timestamp,
                               r.last_caught_up_timestamp});
            }
            return out;
        };
        co_return quorum_info{q.leader_id, q.leader_epoch, q.high_watermark, convert(q.voters),
                              convert(q.observers)};
    });
}

}  // namespace sluice
