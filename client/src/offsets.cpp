#include "sluice/client/internal/offsets.h"

#include <map>
#include <set>

#include "sluice/client/errc.h"
#include "sluice/client/internal/co_try.h"

namespace sluice::client {

awaitable<result<std::vector<offset_answer>>> list_offsets(cluster& c,
                                                           std::vector<offset_query> queries,
                                                           clock::time_point deadline) {
    std::vector<offset_answer> out(queries.size());
    std::vector<size_t> pending(queries.size());
    for (size_t i = 0; i < pending.size(); ++i) {
        pending[i] = i;
    }
    std::error_code last = make_error_code(client_errc::timed_out);
    bool refresh = false;
    for (const offset_query& q : queries) {
        refresh = refresh || c.metadata().partition(q.topic, q.partition) == nullptr;
    }
    const auto backoff = std::chrono::milliseconds(c.config().retry_backoff_ms);
    while (!pending.empty()) {
        bool refresh_failed = false;
        if (refresh) {
            std::set<std::string> names;
            for (size_t i : pending) {
                names.insert(queries[i].topic);
            }
            metadata_request req;
            req.topics.assign(names.begin(), names.end());
            auto m = co_await c.refresh(std::move(req));
            if (!m) {
                if (m.error() == client_errc::broker_unreachable || !is_retriable(m.error())) {
                    co_return m.error();
                }
                last = m.error();
                refresh_failed = true;
            }
            refresh = refresh_failed;
        }
        // By leader; queries of one topic stay adjacent because `pending` keeps query order
        // and callers group by topic (encode_list_offsets merges adjacent runs only).
        std::map<int32_t, std::vector<size_t>> by_leader;
        for (size_t i : pending) {
            if (refresh_failed) {
                break;
            }
            const partition_meta* p =
                c.metadata().partition(queries[i].topic, queries[i].partition);
            if (p == nullptr) {
                co_return make_error_code(errc::unknown_topic_or_partition);
            }
            if (p->leader < 0) {
                last = make_error_code(errc::leader_not_available);
                refresh = true;
                continue;
            }
            by_leader[p->leader].push_back(i);
        }
        std::vector<size_t> still;
        for (auto& [leader, idx] : by_leader) {
            std::vector<offset_query> batch;
            for (size_t i : idx) {
                batch.push_back(queries[i]);
            }
            auto conn = co_await c.node(leader);
            result<std::vector<offset_answer>> answers = std::vector<offset_answer>{};
            if (!conn) {
                answers = conn.error();
            } else {
                const std::string& cid = c.config().client_id;
                auto r = co_await conn.value()->call(
                    [&](int32_t id) { return encode_list_offsets(id, cid, batch); },
                    c.request_timeout());
                answers = r ? decode_list_offsets(r.value()) : r.error();
            }
            if (!answers) {
                if (!is_retriable(answers.error())) {
                    co_return answers.error();
                }
                last = answers.error();
                refresh = true;
                still.insert(still.end(), idx.begin(), idx.end());
                continue;
            }
            for (size_t i : idx) {
                const offset_query& q = queries[i];
                const offset_answer* found = nullptr;
                for (const offset_answer& a : answers.value()) {
                    if (a.partition == q.partition && a.topic == q.topic) {
                        found = &a;
                    }
                }
                if (found == nullptr) {
                    co_return make_client_error(client_errc::protocol_error,
                                                "ListOffsets answer misses a partition");
                }
                if (found->error == errc::none) {
                    out[i] = *found;
                } else if (is_retriable(make_error_code(found->error))) {
                    last = make_error_code(found->error);
                    refresh = true;
                    still.push_back(i);
                } else {
                    co_return make_error_code(found->error);
                }
            }
        }
        for (size_t i : pending) {
            const partition_meta* p =
                c.metadata().partition(queries[i].topic, queries[i].partition);
            if (refresh_failed || p == nullptr || p->leader < 0) {
                still.push_back(i);
            }
        }
        std::sort(still.begin(), still.end());
        pending = std::move(still);
        if (pending.empty()) {
            break;
        }
        if (clock::now() + backoff >= deadline) {
            co_return last;
        }
        co_await sleep_for(backoff);
    }
    co_return out;
}

}  // namespace sluice::client
