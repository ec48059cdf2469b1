#include "group_member.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "sluice/client/errc.h"
#include "sluice/client/internal/co_try.h"

namespace sluice::detail {

using client::awaitable;
using client::clock;
namespace asio = client::asio;

namespace {

// How much longer than the broker may hold a JoinGroup or SyncGroup (the rebalance timeout) the
// member waits for its answer.
constexpr std::chrono::milliseconds join_grace{5000};

std::vector<topic_partition> flatten(const client::partition_map& m) {
    std::vector<topic_partition> out;
    for (const auto& [topic, parts] : m) {
        for (int32_t p : parts) {
            out.push_back(topic_partition{topic, p});
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

client::partition_map minus(const client::partition_map& a, const client::partition_map& b) {
    client::partition_map out;
    for (const auto& [topic, parts] : a) {
        auto it = b.find(topic);
        for (int32_t p : parts) {
            if (it == b.end() ||
                std::find(it->second.begin(), it->second.end(), p) == it->second.end()) {
                out[topic].push_back(p);
            }
        }
    }
    return out;
}

bool fatal(errc e) {
    return e == errc::fenced_instance_id || e == errc::inconsistent_group_protocol ||
           e == errc::invalid_session_timeout || e == errc::group_max_size_reached ||
           e == errc::invalid_group_id;
}

}  // namespace

group_member::group_member(client::cluster& c, const consumer_config& config,
                           std::function<void()> wake)
    : cluster_(c),
      config_(config),
      wake_poll_(std::move(wake)),
      cooperative_(detail::cooperative(config.partition_assignment_strategy.front())) {}

void group_member::subscribe(std::vector<std::string> topics, std::optional<std::string> pattern) {
    topics_ = std::move(topics);
    pattern_.reset();
    if (pattern) {
        if (auto p = topic_pattern::compile(*pattern)) {
            pattern_ = std::move(p).value();  // checked by the consumer before
        }
    }
    ++subscription_seq_;
    if (cooperative_ && !owned_.empty()) {
        // Partitions of topics no longer subscribed are given up before the join (an eager
        // member gives up everything anyway), so that the new owner never overlaps this one.
        client::partition_map dropped = unwanted(owned_);
        if (!dropped.empty()) {
            owned_ = minus(owned_, dropped);
            ask_revoke(dropped);
        }
    }
    subscribed_ = true;
    rejoin_ = true;
    if (!running_) {
        running_ = true;
        signal_ = std::make_unique<asio::steady_timer>(cluster_.io());
        asio::co_spawn(cluster_.io(), run(), asio::detached);
    }
    wake_loop();
}

bool group_member::wants(const std::string& topic) const {
    return pattern_ ? pattern_->matches(topic)
                    : std::find(topics_.begin(), topics_.end(), topic) != topics_.end();
}

client::partition_map group_member::unwanted(const client::partition_map& m) const {
    client::partition_map out;
    for (const auto& [topic, parts] : m) {
        if (!wants(topic)) {
            out[topic] = parts;
        }
    }
    return out;
}

void group_member::unsubscribe() {
    subscribed_ = false;
    lose_all();
    wake_loop();
}

void group_member::revoked(uint64_t revoke_id) {
    if (revoke_id != revoke_pending_ || revoke_pending_ == 0) {
        return;  // overtaken: a loss or a later revoke
    }
    revoke_pending_ = 0;
    if (cooperative_) {
        rejoin_ = true;  // the partitions given up can now move
    } else {
        owned_.clear();
    }
    wake_loop();
}

void group_member::stop() {
    stopped_ = true;
    if (coordinator_conn_) {
        coordinator_conn_->close(make_error_code(client_errc::closed));
    }
    wake_loop();
}

void group_member::wake_loop() {
    if (signal_) {
        signal_->cancel();
    }
}

void group_member::push(group_event e) {
    {
        std::lock_guard lock(mutex_);
        events_.push_back(std::move(e));
    }
    wake_poll_();
}

std::vector<group_event> group_member::take_events() {
    std::lock_guard lock(mutex_);
    std::vector<group_event> out(std::make_move_iterator(events_.begin()),
                                 std::make_move_iterator(events_.end()));
    events_.clear();
    return out;
}

void group_member::ask_revoke(const client::partition_map& partitions) {
    revoke_pending_ = ++last_revoke_;
    group_event e{group_event::kind::revoke, flatten(partitions), {}, {}};
    e.revoke_id = revoke_pending_;
    push(std::move(e));
}

void group_member::fail(std::error_code ec) {
    push(group_event{group_event::kind::fail, {}, {}, ec});
    subscribed_ = false;
    member_id_.clear();  // out of the group: a later subscribe() joins as a new member
    generation_ = -1;
    lose_all();
}

std::error_code group_member::fatal_error(errc e, const std::string& message) const {
    return make_client_error(
        client_errc::invalid_config,
        message.empty() ? fmt::format("group {}: {}", config_.group_id, errc_name(e))
                        : fmt::format("group {}: {}: {}", config_.group_id, errc_name(e), message));
}

void group_member::lose_all() {
    revoke_pending_ = 0;
    if (!owned_.empty()) {
        push(group_event{group_event::kind::lose, flatten(owned_), {}, {}});
        owned_.clear();
    }
}

awaitable<void> group_member::sleep(std::chrono::milliseconds d) {
    signal_->expires_after(d);
    boost::system::error_code ec;
    co_await signal_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

bool group_member::coordinator_error(errc e) {
    if (e == errc::not_coordinator || e == errc::coordinator_not_available ||
        e == errc::coordinator_load_in_progress) {
        coordinator_id_ = -1;  // found again (and connected anew) at the next request
        return true;
    }
    return false;
}

awaitable<void> group_member::run() {
    const auto backoff = std::chrono::milliseconds(config_.retry_backoff_ms);
    while (!stopped_) {
        if (!subscribed_) {
            co_await sleep(std::chrono::hours(1));
            continue;
        }
        if (rejoin_) {
            if (!cooperative_ && !owned_.empty()) {
                // Eager: everything is given up (and committed) before the join.
                if (revoke_pending_ == 0) {
                    ask_revoke(owned_);
                }
                co_await sleep(std::chrono::hours(1));  // until revoked()
                continue;
            }
            if (revoke_pending_ != 0) {
                co_await sleep(std::chrono::hours(1));  // cooperative: until revoked()
                continue;
            }
            if (!co_await join_and_sync() && !stopped_) {
                co_await sleep(backoff);
            }
            continue;
        }
        const auto now = clock::now();
        if (now >= next_heartbeat_) {
            co_await heartbeat();
            continue;
        }
        if (now >= next_metadata_check_ && (leader_ || pattern_)) {
            next_metadata_check_ = now + std::chrono::milliseconds(config_.metadata_max_age_ms);
            // The leader watches its topics' partition counts, every member its pattern.
            auto topics = co_await subscribed_topics();
            std::vector<std::string> known;
            for (const auto& [t, n] : assigned_counts_) {
                known.push_back(t);
            }
            bool changed = pattern_ && topics != known;
            for (const auto& t : topics) {
                const client::topic_meta* m = cluster_.metadata().topic(t);
                const int32_t n =
                    m != nullptr && m->error == errc::none ? int32_t(m->partitions.size()) : 0;
                auto it = assigned_counts_.find(t);
                changed = changed || (leader_ && (it == assigned_counts_.end() || it->second != n));
            }
            if (changed) {
                rejoin_ = true;
            }
            continue;
        }
        co_await sleep(std::chrono::duration_cast<std::chrono::milliseconds>(
            std::min(next_heartbeat_, next_metadata_check_) - now));
    }
    running_ = false;
}

awaitable<result<std::shared_ptr<client::connection>>> group_member::coordinator(
    clock::time_point deadline) {
    if (coordinator_id_ >= 0 && coordinator_conn_ && !coordinator_conn_->is_closed()) {
        co_return coordinator_conn_;
    }
    coordinator_id_ = -1;
    if (coordinator_conn_) {
        coordinator_conn_->close(make_error_code(client_errc::closed));
        coordinator_conn_.reset();
    }
    std::error_code last = make_error_code(errc::coordinator_not_available);
    while (!stopped_ && clock::now() < deadline) {
        auto any = co_await cluster_.any();
        if (!any) {
            co_return any.error();
        }
        auto conn = any.value();
        auto r = co_await conn->call(
            [&](int32_t id) {
                return client::encode_find_coordinator(id, config_.client_id, config_.group_id);
            },
            cluster_.request_timeout());
        if (r) {
            auto a = client::decode_find_coordinator(r.value());
            if (a && a.value().error == errc::none) {
                // A connection of the member's own: the broker answers a connection's requests
                // in order, so on the fetcher's connection a join or heartbeat would wait behind
                // a long-polling fetch (and a fetch behind a parked join), as Kafka's consumers
                // avoid with a coordinator connection of their own.
                auto c = std::make_shared<client::connection>(
                    cluster_.io(), client::endpoint{a.value().host, uint16_t(a.value().port)},
                    client::connection_options_for(config_));
                if (auto ec = co_await c->connect(); !ec) {
                    // Another coroutine of this member (a commit beside the heartbeat loop)
                    // may have found the coordinator meanwhile: one connection stays open.
                    if (coordinator_conn_ && coordinator_conn_ != c) {
                        coordinator_conn_->close(make_error_code(client_errc::closed));
                    }
                    if (stopped_) {
                        c->close(make_error_code(client_errc::closed));
                        co_return make_error_code(client_errc::closed);
                    }
                    coordinator_id_ = a.value().node_id;
                    coordinator_conn_ = c;
                    co_return c;
                } else {
                    last = ec;
                }
            } else if (a) {
                last = make_error_code(a.value().error);
                if (!is_retriable(last)) {
                    co_return last;
                }
            } else {
                last = a.error();
            }
        } else {
            last = r.error();
        }
        co_await client::sleep_for(std::chrono::milliseconds(config_.retry_backoff_ms));
    }
    co_return last;
}

awaitable<std::vector<std::string>> group_member::subscribed_topics() {
    if (!pattern_) {
        co_return topics_;
    }
    client::metadata_request req;
    req.all_topics = true;
    std::vector<std::string> out;
    auto m = co_await cluster_.refresh(std::move(req));
    if (!pattern_) {
        co_return topics_;  // subscribe() to a list of topics meanwhile
    }
    if (!m) {
        for (const auto& [t, n] : assigned_counts_) {
            out.push_back(t);  // keep what was matched until the metadata answers
        }
        co_return out;
    }
    for (const auto& t : m.value().topics) {
        if (!t.name.starts_with("__") && pattern_->matches(t.name)) {
            out.push_back(t.name);
        }
    }
    std::sort(out.begin(), out.end());
    co_return out;
}

awaitable<result<std::vector<std::pair<std::string, std::string>>>> group_member::assign_members(
    const client::join_answer& joined) {
    std::vector<assignor_member> members;
    std::set<std::string> topics;
    for (const auto& m : joined.members) {
        assignor_member a{m.member_id, m.instance_id, {}};
        if (auto s = client::decode_subscription(m.metadata)) {
            a.subscription = std::move(*s);
        }
        topics.insert(a.subscription.topics.begin(), a.subscription.topics.end());
        members.push_back(std::move(a));
    }
    std::map<std::string, int32_t> counts;
    if (!topics.empty()) {
        client::metadata_request req;
        req.topics.assign(topics.begin(), topics.end());
        auto m = co_await cluster_.refresh(std::move(req));
        if (!m) {
            co_return m.error();
        }
        for (const auto& t : m.value().topics) {
            if (t.error == errc::none && topics.contains(t.name)) {
                counts[t.name] = int32_t(t.partitions.size());
            }
        }
    }
    auto assignment = detail::assign(protocol_, members, counts);
    if (!assignment) {
        co_return make_error_code(errc::inconsistent_group_protocol);
    }
    assigned_counts_ = counts;
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [member, parts] : *assignment) {
        out.emplace_back(member, client::encode_assignment(parts));
    }
    co_return out;
}

awaitable<result<client::join_answer>> group_member::send_join(
    std::shared_ptr<client::connection> conn, const std::vector<std::string>& topics) {
    client::subscription_meta sub{topics, cooperative_ ? owned_ : client::partition_map{},
                                  generation_};
    client::join_request req;
    req.group_id = config_.group_id;
    req.member_id = member_id_;
    req.instance_id = config_.group_instance_id;
    req.session_timeout_ms = config_.session_timeout_ms;
    req.rebalance_timeout_ms = config_.max_poll_interval_ms;
    const std::string meta = client::encode_subscription(sub);
    for (const auto& name : config_.partition_assignment_strategy) {
        req.protocols.emplace_back(name, meta);
    }
    auto jr = co_await conn->call(
        [&](int32_t id) { return client::encode_join_group(id, config_.client_id, req); },
        rebalance_wait());
    if (!jr) {
        coordinator_id_ = -1;
        co_return jr.error();
    }
    co_return client::decode_join_group(jr.value());
}

awaitable<result<client::sync_answer>> group_member::send_sync(
    std::shared_ptr<client::connection> conn, const client::sync_request& req) {
    auto sr = co_await conn->call(
        [&](int32_t id) { return client::encode_sync_group(id, config_.client_id, req); },
        rebalance_wait());
    if (!sr) {
        coordinator_id_ = -1;
        co_return sr.error();
    }
    co_return client::decode_sync_group(sr.value());
}

std::chrono::milliseconds group_member::rebalance_wait() const {
    return std::chrono::milliseconds(config_.max_poll_interval_ms + config_.session_timeout_ms) +
           join_grace;
}

bool group_member::take_assignment(const std::string& bytes, uint64_t subscription_seq) {
    auto got = client::decode_assignment(bytes);
    if (!got) {
        fail(make_client_error(client_errc::protocol_error,
                               "the group's assignment is not a ConsumerAssignment"));
        return true;
    }
    for (auto& [t, parts] : *got) {
        std::sort(parts.begin(), parts.end());
    }
    // subscribe() was called since this join went out: the assignment may name topics no longer
    // subscribed (left out here: subscribe() revoked them), and the member joins again.
    const bool resubscribed = subscription_seq != subscription_seq_;
    if (resubscribed) {
        *got = minus(*got, unwanted(*got));
    }
    const client::partition_map removed = minus(owned_, *got);
    const client::partition_map added = minus(*got, owned_);
    owned_ = *got;
    rejoin_ = resubscribed;
    if (cooperative_ && !removed.empty()) {
        // Given up now; joining again lets them move to their new owners.
        ask_revoke(removed);
    }
    push(group_event{
        group_event::kind::assign, flatten(cooperative_ ? added : owned_), flatten(owned_), {}});
    const auto now = clock::now();
    next_heartbeat_ = now + std::chrono::milliseconds(config_.heartbeat_interval_ms);
    next_metadata_check_ = now + std::chrono::milliseconds(config_.metadata_max_age_ms);
    return true;
}

awaitable<bool> group_member::join_and_sync() {
    const auto deadline = clock::now() + cluster_.request_timeout();
    auto conn_r = co_await coordinator(deadline);
    if (!conn_r) {
        if (!is_retriable(conn_r.error()) && conn_r.error() != client_errc::broker_unreachable) {
            fail(conn_r.error());
        }
        co_return false;
    }
    auto conn = conn_r.value();
    const uint64_t seq = subscription_seq_;
    const std::vector<std::string> topics = co_await subscribed_topics();
    if (!pattern_) {
        assigned_counts_.clear();
    } else {
        // A pattern member notices new matches by comparing with this list.
        assigned_counts_.clear();
        for (const auto& t : topics) {
            assigned_counts_[t] = 0;
        }
    }
    auto joined = co_await send_join(conn, topics);
    if (!joined) {
        co_return false;
    }
    if (joined.value().error != errc::none) {
        if (joined.value().error == errc::unknown_member_id) {
            member_id_.clear();
            generation_ = -1;
            lose_all();
            co_return true;  // join again at once as a new member
        }
        if (fatal(joined.value().error)) {
            fail(fatal_error(joined.value().error, joined.value().message));
            co_return true;
        }
        coordinator_error(joined.value().error);
        co_return joined.value().error == errc::rebalance_in_progress;
    }
    member_id_ = joined.value().member_id;
    generation_ = joined.value().generation;
    protocol_ = joined.value().protocol_name;
    leader_ = joined.value().leader == member_id_;

    client::sync_request sreq;
    sreq.group_id = config_.group_id;
    sreq.generation = generation_;
    sreq.member_id = member_id_;
    sreq.instance_id = config_.group_instance_id;
    sreq.protocol_type = joined.value().protocol_type;
    sreq.protocol_name = joined.value().protocol_name;
    if (leader_ && !joined.value().members.empty()) {
        auto assigned = co_await assign_members(joined.value());
        if (!assigned) {
            co_return false;
        }
        sreq.assignments = std::move(assigned).value();
    }
    auto synced = co_await send_sync(conn, sreq);
    if (!synced) {
        co_return false;
    }
    if (synced.value().error != errc::none) {
        if (synced.value().error == errc::unknown_member_id ||
            synced.value().error == errc::illegal_generation) {
            if (synced.value().error == errc::unknown_member_id) {
                member_id_.clear();
            }
            generation_ = -1;
            lose_all();
            co_return true;
        }
        if (fatal(synced.value().error)) {
            fail(fatal_error(synced.value().error, {}));
            co_return true;
        }
        coordinator_error(synced.value().error);
        co_return synced.value().error == errc::rebalance_in_progress;
    }
    co_return take_assignment(synced.value().assignment, seq);
}

awaitable<void> group_member::heartbeat() {
    const auto now = clock::now();
    const auto backoff = std::chrono::milliseconds(config_.retry_backoff_ms);
    auto conn = co_await coordinator(now + cluster_.request_timeout());
    if (!conn) {
        next_heartbeat_ = clock::now() + backoff;
        co_return;
    }
    const client::member_ref me{config_.group_id, generation_, member_id_,
                                config_.group_instance_id};
    auto r = co_await conn.value()->call(
        [&](int32_t id) { return client::encode_heartbeat(id, config_.client_id, me); },
        cluster_.request_timeout());
    auto a = r ? client::decode_heartbeat(r.value()) : result<client::group_status>(r.error());
    if (!a) {
        coordinator_id_ = -1;
        next_heartbeat_ = clock::now() + backoff;
        co_return;
    }
    switch (a.value().error) {
        case errc::none:
            next_heartbeat_ = now + std::chrono::milliseconds(config_.heartbeat_interval_ms);
            break;
        case errc::rebalance_in_progress:
            rejoin_ = true;
            break;
        case errc::illegal_generation:
            generation_ = -1;
            lose_all();
            rejoin_ = true;
            break;
        case errc::unknown_member_id:
            member_id_.clear();
            generation_ = -1;
            lose_all();
            rejoin_ = true;
            break;
        default:
            if (fatal(a.value().error)) {
                fail(fatal_error(a.value().error, a.value().message));
            } else {
                coordinator_error(a.value().error);
                next_heartbeat_ = clock::now() + backoff;
            }
    }
}

awaitable<std::error_code> group_member::commit(std::vector<client::commit_entry> entries,
                                                clock::time_point deadline) {
    if (entries.empty()) {
        co_return std::error_code{};
    }
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
        return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
    });
    // The generation is that of the positions committed, fixed here: a retry after the member
    // rejoined must not commit them under the new generation (their partitions may have moved).
    // Outside a generation (assign() without subscribe(), or not joined): a commit from outside
    // the group, which the coordinator takes only while the group has no members.
    const bool in_group = !member_id_.empty() && generation_ >= 0;
    const client::member_ref me = in_group
                                      ? client::member_ref{config_.group_id, generation_,
                                                           member_id_, config_.group_instance_id}
                                      : client::member_ref{config_.group_id, -1, "", {}};
    std::error_code last = make_error_code(client_errc::timed_out);
    while (clock::now() < deadline && !stopped_) {
        auto conn = co_await coordinator(deadline);
        if (!conn) {
            co_return conn.error();
        }
        auto r = co_await conn.value()->call(
            [&](int32_t id) {
                return client::encode_offset_commit(id, config_.client_id, me, entries);
            },
            cluster_.request_timeout());
        auto a =
            r ? client::decode_offset_commit(r.value()) : result<client::commit_answer>(r.error());
        if (!a) {
            coordinator_id_ = -1;
            last = a.error();
            co_await client::sleep_for(std::chrono::milliseconds(config_.retry_backoff_ms));
            continue;
        }
        errc first = a.value().error;
        for (const auto& p : a.value().partitions) {
            if (first == errc::none) {
                first = p.error;
            }
        }
        if (coordinator_error(first)) {
            last = make_error_code(first);
            co_await client::sleep_for(std::chrono::milliseconds(config_.retry_backoff_ms));
            continue;
        }
        if (first == errc::rebalance_in_progress || first == errc::illegal_generation ||
            first == errc::unknown_member_id) {
            // Only if the member is still in the generation it committed from: a commit that
            // outlived a rejoin says nothing about the new generation.
            rejoin_ =
                rejoin_ || (in_group && generation_ == me.generation && member_id_ == me.member_id);
            wake_loop();
        }
        co_return first == errc::none ? std::error_code{} : make_error_code(first);
    }
    co_return last;
}

awaitable<result<std::vector<client::committed_meta>>> group_member::committed(
    client::partition_map partitions, clock::time_point deadline) {
    std::error_code last = make_error_code(client_errc::timed_out);
    const std::optional<client::partition_map> which(std::move(partitions));
    while (clock::now() < deadline && !stopped_) {
        auto conn = co_await coordinator(deadline);
        if (!conn) {
            co_return conn.error();
        }
        auto r = co_await conn.value()->call(
            [&](int32_t id) {
                return client::encode_offset_fetch(id, config_.client_id, config_.group_id, which);
            },
            cluster_.request_timeout());
        auto a = r ? client::decode_offset_fetch(r.value())
                   : result<client::offset_fetch_answer>(r.error());
        if (!a) {
            coordinator_id_ = -1;
            last = a.error();
        } else if (coordinator_error(a.value().error)) {
            last = make_error_code(a.value().error);
        } else if (a.value().error != errc::none) {
            co_return make_error_code(a.value().error);
        } else {
            co_return std::move(a.value().partitions);
        }
        co_await client::sleep_for(std::chrono::milliseconds(config_.retry_backoff_ms));
    }
    co_return last;
}

awaitable<void> group_member::leave() {
    if (!member_id_.empty() && !config_.group_instance_id && coordinator_id_ >= 0 &&
        coordinator_conn_ && !coordinator_conn_->is_closed()) {
        auto conn = coordinator_conn_;
        {
            const client::member_ref me{config_.group_id, generation_, member_id_, {}};
            (void)co_await conn->call(
                [&](int32_t id) {
                    return client::encode_leave_group(id, config_.client_id, me,
                                                      "the consumer is closing");
                },
                cluster_.request_timeout());
        }
    }
    member_id_.clear();
    generation_ = -1;
    owned_.clear();
    stop();
}

}  // namespace sluice::detail
