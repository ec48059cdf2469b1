#include "sluice/group/coordinator.h"

#include <algorithm>
#include <random>
#include <variant>

#include <fmt/format.h>
#include <boost/asio/detached.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>

#include "sluice/core/logging.h"
#include "sluice/protocol/api.h"
#include "sluice/protocol/record_batch.h"

namespace sluice::broker {

using groups::group;
using groups::group_effects;
using groups::group_state;
using groups::record_to_write;

namespace {

// How long a parked JoinGroup or SyncGroup waits beyond its rebalance timeout before it gives up
// (the group answers it by then unless this broker stopped coordinating it).
constexpr std::chrono::milliseconds park_grace{5000};
constexpr std::chrono::milliseconds tick_interval{100};
// The most bytes one load reads per fetch of the offsets partition.
constexpr size_t load_read_bytes = 4u << 20;

std::string topic_name() {
    return std::string(consumer_offsets_topic);
}

// A parked JoinGroup's or SyncGroup's answer; REBALANCE_IN_PROGRESS (`why`) if none came.
template <typename Result>
Result or_rejoin(std::optional<Result> answer, std::string_view why) {
    if (answer) {
        return std::move(*answer);
    }
    Result late;
    late.error = errc::rebalance_in_progress;
    late.message = std::string(why);
    return late;
}

errc write_error(errc e) {
    switch (e) {
        case errc::none:
            return errc::none;
        case errc::not_leader_or_follower:
        case errc::log_closed:
            return errc::not_coordinator;
        case errc::message_too_large:
        case errc::record_list_too_large:
        case errc::invalid_record:
            return errc::invalid_commit_offset_size;
        case errc::unknown_topic_or_partition:
        case errc::not_enough_replicas:
        case errc::not_enough_replicas_after_append:
        case errc::request_timed_out:
        case errc::kafka_storage_error:
            return errc::coordinator_not_available;
        default:
            return errc::unknown_server_error;
    }
}

}  // namespace

struct group_coordinator::waiter {
    std::shared_ptr<async_event> ev;
    uint64_t token = 0;  // while parked
    join_group_result join;
    sync_group_result sync;
};

struct group_coordinator::shard {
    enum class status { loading, loaded };
    status st = status::loading;
    leader_epoch_t epoch{-1};
    std::map<std::string, std::unique_ptr<group>, std::less<>> groups;
};

struct group_coordinator::route {
    errc error = errc::none;
    std::string message;
    int32_t partition = -1;
    shard* s = nullptr;

    group* find(const std::string& id) const {
        auto it = s->groups.find(id);
        return it == s->groups.end() ? nullptr : it->second.get();
    }
};

group_coordinator::group_coordinator(boost::asio::io_context& io, group_coordinator_config config,
                                     partition_service& replicas, topic_admin& admin,
                                     const cluster_view& cluster, executor blocking,
                                     storage::clock& time)
    : config_(config),
      replicas_(replicas),
      admin_(admin),
      cluster_(cluster),
      blocking_(std::move(blocking)),
      time_(time),
      strand_(boost::asio::make_strand(io)),
      timer_(strand_) {}

group_coordinator::~group_coordinator() = default;

void group_coordinator::start() {
    boost::asio::co_spawn(strand_, tick_loop(), boost::asio::detached);
}

void group_coordinator::stop() {
    boost::asio::post(strand_, [this] {
        stopped_ = true;
        timer_.cancel();
        for (auto& [p, s] : shards_) {
            unload(*s);
        }
        shards_.clear();
    });
}

std::string group_coordinator::new_member_id(const std::string& client_id) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    return fmt::format("{}-{:016x}{:04x}", client_id.empty() ? "member" : client_id, rng(),
                       ++member_counter_ & 0xffff);
}

group_coordinator::route group_coordinator::locate(const std::string& group_id) {
    route r;
    if (group_id.empty() || group_id.size() > groups::key_string_max) {
        r.error = errc::invalid_group_id;
        r.message = group_id.empty() ? "the group id is empty"
                                     : fmt::format("the group id is {} bytes long, more than {}",
                                                   group_id.size(), groups::key_string_max);
        return r;
    }
    if (stopped_) {
        r.error = errc::not_coordinator;
        r.message = "this broker is stopping";
        return r;
    }
    auto parts = cluster_.partitions(consumer_offsets_topic);
    if (!parts || parts->empty()) {
        r.error = errc::coordinator_not_available;
        r.message =
            fmt::format("{} does not exist yet: ask FindCoordinator", consumer_offsets_topic);
        return r;
    }
    r.partition = groups::partition_for(group_id, int32_t(parts->size()));
    auto image = replicas_.snapshot();
    partition* p = image->find(consumer_offsets_topic, partition_id_t{r.partition});
    if (p == nullptr || !p->is_leader()) {
        r.error = errc::not_coordinator;
        r.message = fmt::format(
            "broker does not lead {}-{}, which holds group {}: find its "
            "coordinator again",
            consumer_offsets_topic, r.partition, group_id);
        if (auto it = shards_.find(r.partition); it != shards_.end()) {
            unload(*it->second);
            shards_.erase(it);
        }
        return r;
    }
    const leader_epoch_t epoch = p->leader_epoch();
    auto it = shards_.find(r.partition);
    if (it != shards_.end() && it->second->epoch != epoch) {
        unload(*it->second);
        shards_.erase(it);
        it = shards_.end();
    }
    if (it == shards_.end()) {
        auto s = std::make_unique<shard>();
        s->epoch = epoch;
        shards_.emplace(r.partition, std::move(s));
        boost::asio::co_spawn(strand_, load(r.partition, epoch), boost::asio::detached);
        r.error = errc::coordinator_load_in_progress;
        r.message = fmt::format("loading the groups of {}-{}", consumer_offsets_topic, r.partition);
        return r;
    }
    if (it->second->st == shard::status::loading) {
        r.error = errc::coordinator_load_in_progress;
        r.message = fmt::format("loading the groups of {}-{}", consumer_offsets_topic, r.partition);
        return r;
    }
    r.s = it->second.get();
    return r;
}

// What a load has replayed so far: the latest group record and offsets of every group (none: a
// tombstone), and counts for the log line.
struct group_log_replay {
    std::map<std::string, std::optional<groups::group_record>> metas;
    std::map<std::string, std::map<topic_partition_id, std::optional<groups::offset_value>>> offs;
    size_t records = 0;
    size_t unreadable = 0;
};

namespace {

// Replays the whole batches in `bytes`; the offset after the last one, or why the bytes are
// unreadable.
std::variant<offset_t, std::string> replay(std::span<const std::byte> bytes, offset_t from,
                                           group_log_replay& out) {
    batch_reader reader(bytes, false, offset_rule::compacted);
    offset_t next = from;
    while (true) {
        auto b = reader.next();
        if (!b) {
            return fmt::format("a batch at or after offset {} is unreadable: {}", next.value(),
                               b.error().message());
        }
        if (!b.value()) {
            return next;
        }
        const batch_view& batch = *b.value();
        next = batch.header().next_offset();
        if (batch.header().is_control()) {
            continue;
        }
        auto it = batch.records();
        record_view rec;
        while (it.next(rec)) {
            ++out.records;
            auto key = rec.key ? groups::decode_key(*rec.key) : std::nullopt;
            if (!key) {
                ++out.unreadable;
                continue;
            }
            if (key->kind == groups::record_kind::group) {
                if (!rec.value) {
                    out.metas[key->group_id] = std::nullopt;
                    out.offs.erase(key->group_id);
                } else if (auto v = groups::decode_group_value(*rec.value)) {
                    out.metas[key->group_id] = std::move(*v);
                } else {
                    ++out.unreadable;
                }
            } else if (!rec.value) {
                out.offs[key->group_id][key->tp] = std::nullopt;
            } else if (auto v = groups::decode_offset_value(*rec.value)) {
                out.offs[key->group_id][key->tp] = *v;
            } else {
                ++out.unreadable;
            }
        }
    }
}

// The bytes of `ranges`, read whole (on the blocking pool).
std::error_code read_ranges(const std::vector<storage::file_range>& ranges,
                            std::vector<std::byte>& bytes) {
    size_t at = 0;
    for (const auto& range : ranges) {
        size_t done = 0;
        while (done < range.length) {
            auto n = range.f->read_at(range.position + done,
                                      std::span(bytes).subspan(at + done, range.length - done));
            if (!n) {
                return n.error();
            }
            if (n.value() == 0) {
                return std::make_error_code(std::errc::io_error);
            }
            done += n.value();
        }
        at += range.length;
    }
    return {};
}

}  // namespace

awaitable<std::optional<std::string>> group_coordinator::read_log(int32_t partition, int64_t start,
                                                                  int64_t end,
                                                                  group_log_replay& out) {
    offset_t from{start};
    while (from.value() < end) {
        fetch_request fr;
        fetch_partition fp;
        fp.topic = consumer_offsets_topic;
        fp.partition = partition_id_t{partition};
        fp.fetch_offset = from;
        fp.partition_max_bytes = load_read_bytes;
        fr.partitions.push_back(fp);
        fr.min_bytes = 0;
        fr.max_bytes = load_read_bytes;
        fr.deadline = steady_clock::now();
        auto got = co_await replicas_.fetch(fr);
        if (got.empty() || got[0].error != errc::none) {
            co_return std::string(got.empty() ? "no answer" : errc_name(got[0].error));
        }
        std::vector<std::byte> bytes(got[0].bytes);
        auto read = [&bytes, &got] { return read_ranges(got[0].ranges, bytes); };
        if (auto ec = co_await run_on(blocking_, read)) {
            co_return ec.message();
        }
        if (bytes.empty()) {
            break;  // nothing below the high watermark from here
        }
        auto next = replay(bytes, from, out);
        if (auto* why = std::get_if<std::string>(&next)) {
            co_return *why;
        }
        if (std::get<offset_t>(next) <= from) {
            break;
        }
        from = std::get<offset_t>(next);
    }
    co_return std::nullopt;
}

void group_coordinator::install(int32_t partition, leader_epoch_t epoch, group_log_replay& r) {
    auto it = shards_.find(partition);
    if (it == shards_.end() || it->second->epoch != epoch ||
        it->second->st != shard::status::loading) {
        return;  // leadership moved on meanwhile
    }
    shard& s = *it->second;
    const int64_t now = now_ms();
    for (auto& [id, meta] : r.metas) {
        if (!meta) {
            continue;
        }
        auto g = std::make_unique<group>(id, config_.limits);
        g->load(*meta, now);
        s.groups[id] = std::move(g);
    }
    for (auto& [id, m] : r.offs) {
        auto& g = s.groups[id];
        for (auto& [tp, v] : m) {
            if (!v) {
                continue;
            }
            if (!g) {
                g = std::make_unique<group>(id, config_.limits);
            }
            g->load_offset(tp, *v);
        }
        if (!g) {
            s.groups.erase(id);
        }
    }
    s.st = shard::status::loaded;
    logging::info("{}-{}: coordinating {} groups at leader epoch {} ({} records read{})",
                  consumer_offsets_topic, partition, s.groups.size(), epoch.value(), r.records,
                  r.unreadable ? fmt::format(", {} unreadable and skipped", r.unreadable) : "");
}

awaitable<void> group_coordinator::load(int32_t partition, leader_epoch_t epoch) {
    const std::string topic = topic_name();
    auto forget = [this, partition, epoch] {
        auto it = shards_.find(partition);
        if (it != shards_.end() && it->second->epoch == epoch &&
            it->second->st == shard::status::loading) {
            shards_.erase(it);  // the next request starts a new load
        }
    };
    // The high watermark must have reached this leader's epoch start (KIP-207: OFFSET_NOT_AVAILABLE
    // until then): what the previous leader acknowledged is then all below it.
    auto not_yet = [&](errc e) {
        forget();
        if (e != errc::offset_not_available) {
            logging::warn("{}-{}: cannot load its groups yet: {}", topic, partition, errc_name(e));
        }
    };
    auto end =
        co_await replicas_.list_offset(topic, partition_id_t{partition}, api::latest_timestamp);
    if (end.error != errc::none) {
        not_yet(end.error);  // the usual answer until then: no need to ask for the start
        co_return;
    }
    auto start =
        co_await replicas_.list_offset(topic, partition_id_t{partition}, api::earliest_timestamp);
    if (start.error != errc::none) {
        not_yet(start.error);
        co_return;
    }
    group_log_replay r;
    if (auto why = co_await read_log(partition, start.offset, end.offset, r)) {
        forget();
        logging::warn("{}-{}: cannot load its groups yet: {}", topic, partition, *why);
        co_return;
    }
    install(partition, epoch, r);
}

awaitable<group_answer> group_coordinator::append(int32_t partition,
                                                  std::vector<record_to_write> records) {
    auto batch = groups::build_batch(records, now_ms());
    produce_request pr;
    pr.acks = required_acks::all;
    pr.deadline = steady_clock::now() + std::chrono::milliseconds(config_.commit_timeout_ms);
    produce_partition pp;
    pp.topic = consumer_offsets_topic;
    pp.partition = partition_id_t{partition};
    pp.batches = batch;
    pr.partitions.push_back(pp);
    auto out = co_await replicas_.produce(pr);
    if (out.empty()) {
        co_return group_answer{errc::coordinator_not_available, "no answer from the log"};
    }
    const errc e = write_error(out[0].error);
    if (e == errc::none) {
        co_return group_answer{};
    }
    co_return group_answer{e, fmt::format("writing to {}-{} failed: {}{}{}", consumer_offsets_topic,
                                          partition, errc_name(out[0].error),
                                          out[0].message.empty() ? "" : ": ", out[0].message)};
}

void group_coordinator::answer_parked(group_effects& fx) {
    for (auto& [token, res] : fx.joins) {
        if (auto it = parked_.find(token); it != parked_.end()) {
            it->second->join = std::move(res);
            it->second->ev->set();
            parked_.erase(it);
        }
    }
    for (auto& [token, res] : fx.syncs) {
        if (auto it = parked_.find(token); it != parked_.end()) {
            it->second->sync = std::move(res);
            it->second->ev->set();
            parked_.erase(it);
        }
    }
}

void group_coordinator::apply(int32_t partition, group& g, group_effects& fx) {
    answer_parked(fx);
    if (fx.write_metadata) {
        boost::asio::co_spawn(strand_, write_metadata(partition, g.id()), boost::asio::detached);
    }
    fx = group_effects{};
}

awaitable<void> group_coordinator::write_metadata(int32_t partition, std::string group_id) {
    auto it = shards_.find(partition);
    if (it == shards_.end() || it->second->st != shard::status::loaded) {
        co_return;
    }
    const leader_epoch_t epoch = it->second->epoch;
    auto git = it->second->groups.find(group_id);
    if (git == it->second->groups.end()) {
        co_return;
    }
    const int32_t generation = git->second->generation();
    std::vector<record_to_write> recs;
    recs.push_back(
        {groups::group_key(group_id), groups::encode_group_value(git->second->metadata_record())});
    auto written = co_await append(partition, std::move(recs));
    if (written.error != errc::none) {
        logging::warn("group {}: its record was not written: {}", group_id, written.message);
    }
    it = shards_.find(partition);
    if (it == shards_.end() || it->second->epoch != epoch) {
        co_return;
    }
    git = it->second->groups.find(group_id);
    if (git == it->second->groups.end()) {
        co_return;
    }
    group_effects fx;
    git->second->metadata_written(generation, written.error == errc::none, now_ms(), fx);
    apply(partition, *git->second, fx);
}

void group_coordinator::unload(shard& s) {
    for (auto& [id, g] : s.groups) {
        group_effects fx;
        g->unload(fx);
        answer_parked(fx);
    }
    s.groups.clear();
}

awaitable<coordinator_answer> group_coordinator::find_coordinator(std::string&& group_id) {
    coordinator_answer a;
    if (group_id.empty() || group_id.size() > groups::key_string_max) {
        a.error = errc::invalid_group_id;
        a.message = group_id.empty() ? "the group id is empty" : "the group id is too long";
        co_return a;
    }
    auto parts = cluster_.partitions(consumer_offsets_topic);
    if (!parts || parts->empty()) {
        auto start_creating = [this] {
            if (creating_topic_) {
                return false;
            }
            creating_topic_ = true;
            return true;
        };
        if (co_await run_on(strand_, start_creating)) {
            const auto brokers = cluster_.brokers();
            const int16_t rf = int16_t(std::clamp<int>(config_.offsets_replication, 1,
                                                       std::max<int>(1, int(brokers.size()))));
            if (rf < config_.offsets_replication) {
                logging::warn(
                    "{}: offsets.topic.replication.factor is {} but {} brokers are up: "
                    "creating it with replication factor {}",
                    consumer_offsets_topic, config_.offsets_replication, brokers.size(), rf);
            }
            create_topic_request t;
            t.name = topic_name();
            t.partitions = config_.offsets_partitions;
            t.replication_factor = rf;
            t.configs["cleanup.policy"] = "compact";
            t.configs["segment.bytes"] = std::to_string(config_.offsets_segment_bytes);
            t.configs["preallocate"] = "false";
            std::vector<create_topic_request> ts{std::move(t)};
            auto res = co_await admin_.create_topics(std::move(ts), false);
            if (!res.empty() && res[0].error != errc::none &&
                res[0].error != errc::topic_already_exists) {
                logging::warn("cannot create {}: {}: {}", consumer_offsets_topic,
                              errc_name(res[0].error), res[0].message);
            } else {
                logging::info("created {} with {} partitions, replication factor {}",
                              consumer_offsets_topic, config_.offsets_partitions, rf);
            }
            auto done = [this] {
                creating_topic_ = false;
                return true;
            };
            co_await run_on(strand_, done);
        }
        a.error = errc::coordinator_not_available;
        a.message = fmt::format("creating {}: ask again shortly", consumer_offsets_topic);
        co_return a;
    }
    const int32_t p = groups::partition_for(group_id, int32_t(parts->size()));
    const partition_view& pv = (*parts)[size_t(p)];
    if (pv.leader < node_id_t{0}) {
        a.error = errc::coordinator_not_available;
        a.message = fmt::format("{}-{} has no leader now", consumer_offsets_topic, p);
        co_return a;
    }
    for (const auto& b : cluster_.brokers()) {
        if (b.id == pv.leader) {
            a.node_id = b.id.value();
            a.host = b.host;
            a.port = b.port;
            co_return a;
        }
    }
    a.error = errc::coordinator_not_available;
    a.message = fmt::format("the leader of {}-{}, broker {}, is not available",
                            consumer_offsets_topic, p, pv.leader.value());
    co_return a;
}

template <typename Result, typename Start>
awaitable<std::optional<Result>> group_coordinator::answer_or_wait(
    Start start, Result waiter::*answer, std::shared_ptr<cancel_token> cancel) {
    auto w = std::make_shared<waiter>();
    w->ev = std::make_shared<async_event>(co_await boost::asio::this_coro::executor);
    std::chrono::milliseconds wait{0};
    auto opened = [&]() -> std::optional<Result> {
        // Parked before the group sees it: the call itself may answer it (the last member's
        // join completes the rebalance).
        w->token = next_token_++;
        parked_[w->token] = w;
        auto now = start(w->token, wait);
        if (now) {
            parked_.erase(w->token);
        }
        return now;
    };
    if (auto now = co_await run_on(strand_, opened)) {
        co_return std::move(*now);
    }
    if (cancel) {
        cancel->add(w->ev);
    }
    co_await w->ev->wait_until(steady_clock::now() + wait + park_grace);
    auto take = [this, &w, answer]() -> std::optional<Result> {
        // Still parked: no answer came (the wait ran out, or the connection closed).
        if (parked_.erase(w->token) > 0) {
            return std::nullopt;
        }
        return std::move((*w).*answer);
    };
    co_return co_await run_on(strand_, take);
}

awaitable<join_group_result> group_coordinator::join_group(join_group_request&& req,
                                                           std::shared_ptr<cancel_token> cancel) {
    auto start = [this, &req](uint64_t token,
                              std::chrono::milliseconds& wait) -> std::optional<join_group_result> {
        route r = locate(req.group_id);
        if (r.error != errc::none) {
            join_group_result res;
            res.error = r.error;
            res.message = r.message;
            return res;
        }
        auto& slot = r.s->groups[req.group_id];
        const bool created = !slot;
        if (created) {
            slot = std::make_unique<group>(req.group_id, config_.limits);
        }
        wait =
            std::chrono::milliseconds(std::max(req.rebalance_timeout_ms, req.session_timeout_ms));
        group_effects fx;
        auto res = slot->join(req, token, new_member_id(req.client_id), now_ms(), fx);
        apply(r.partition, *slot, fx);
        if (created && slot->state() == group_state::empty && slot->offsets().empty() &&
            !commits_writing_.contains(req.group_id)) {
            // A refused join leaves no group behind. (Only one it created: a group with a
            // record in the log goes by expiry, which writes its tombstone.)
            r.s->groups.erase(req.group_id);
        }
        return res;
    };
    co_return or_rejoin(co_await answer_or_wait(start, &waiter::join, std::move(cancel)),
                        "the rebalance did not complete in time: join again");
}

awaitable<sync_group_result> group_coordinator::sync_group(sync_group_request&& req,
                                                           std::shared_ptr<cancel_token> cancel) {
    auto start = [this, &req](uint64_t token,
                              std::chrono::milliseconds& wait) -> std::optional<sync_group_result> {
        route r = locate(req.group_id);
        sync_group_result res;
        if (r.error != errc::none) {
            res.error = r.error;
            res.message = r.message;
            return res;
        }
        group* g = r.find(req.group_id);
        if (g == nullptr) {
            res.error = errc::unknown_member_id;
            res.message = fmt::format("group {} has no members", req.group_id);
            return res;
        }
        if (auto m = g->members().find(req.member_id); m != g->members().end()) {
            wait = std::chrono::milliseconds(
                std::max(m->second.session_timeout_ms, m->second.rebalance_timeout_ms));
        }
        group_effects fx;
        auto out = g->sync(req, token, now_ms(), fx);
        apply(r.partition, *g, fx);
        return out;
    };
    co_return or_rejoin(co_await answer_or_wait(start, &waiter::sync, std::move(cancel)),
                        "the assignment did not come in time: join again");
}

awaitable<group_answer> group_coordinator::heartbeat(heartbeat_request&& req) {
    auto f = [this, &req]() -> group_answer {
        route r = locate(req.group_id);
        if (r.error != errc::none) {
            return group_answer{r.error, r.message};
        }
        group* g = r.find(req.group_id);
        if (g == nullptr) {
            return group_answer{errc::unknown_member_id,
                                fmt::format("group {} has no members", req.group_id)};
        }
        return g->heartbeat(req, now_ms());
    };
    co_return co_await run_on(strand_, f);
}

awaitable<leave_group_result> group_coordinator::leave_group(leave_group_request&& req) {
    auto f = [this, &req]() -> leave_group_result {
        leave_group_result out;
        route r = locate(req.group_id);
        if (r.error != errc::none) {
            out.error = r.error;
            out.message = r.message;
            return out;
        }
        group* g = r.find(req.group_id);
        for (const auto& m : req.members) {
            if (g == nullptr) {
                out.members.push_back(
                    left_member{m.member_id, m.instance_id, errc::unknown_member_id});
                continue;
            }
            group_effects fx;
            out.members.push_back(g->leave(m, now_ms(), fx));
            if (out.members.back().error == errc::none) {
                logging::info("group {}: member {} left{}{}", req.group_id,
                              out.members.back().member_id, m.reason.empty() ? "" : ": ", m.reason);
            }
            apply(r.partition, *g, fx);
        }
        return out;
    };
    co_return co_await run_on(strand_, f);
}

awaitable<offset_commit_result> group_coordinator::commit_offsets(offset_commit_request&& req) {
    auto work = [this, &req]() -> awaitable<offset_commit_result> {
        offset_commit_result out;
        out.errors.assign(req.offsets.size(), errc::none);
        auto fail_all = [&](errc e, std::string message) {
            out.error = e;
            out.message = std::move(message);
            std::fill(out.errors.begin(), out.errors.end(), e);
            return out;
        };
        route r = locate(req.group_id);
        if (r.error != errc::none) {
            co_return fail_all(r.error, r.message);
        }
        group* g = r.find(req.group_id);
        if (g == nullptr) {
            if (req.generation >= 0 || !req.member_id.empty()) {
                co_return fail_all(errc::illegal_generation,
                                   fmt::format("group {} has no generation {}: join again",
                                               req.group_id, req.generation));
            }
            auto& slot = r.s->groups[req.group_id];
            slot = std::make_unique<group>(req.group_id, config_.limits);
            g = slot.get();
        }
        if (auto ok = g->check_commit(req, now_ms()); ok.error != errc::none) {
            co_return fail_all(ok.error, ok.message);
        }
        std::vector<record_to_write> recs;
        const int64_t now = now_ms();
        for (size_t i = 0; i < req.offsets.size(); ++i) {
            const auto& o = req.offsets[i];
            if (o.topic.empty() || o.topic.size() > groups::key_string_max || o.partition < 0) {
                out.errors[i] = errc::unknown_topic_or_partition;
                continue;
            }
            if (o.offset < 0) {
                out.errors[i] = errc::offset_out_of_range;
                continue;
            }
            recs.push_back(
                {groups::offset_key(req.group_id, {o.topic, o.partition}),
                 groups::encode_offset_value({o.offset, o.leader_epoch, o.metadata, now})});
        }
        if (recs.empty()) {
            co_return out;
        }
        const leader_epoch_t epoch = r.s->epoch;
        const int32_t partition = r.partition;
        ++commits_writing_[req.group_id];
        auto written = co_await append(partition, std::move(recs));
        if (auto w = commits_writing_.find(req.group_id); --w->second == 0) {
            commits_writing_.erase(w);
        }
        if (written.error != errc::none) {
            for (auto& e : out.errors) {
                if (e == errc::none) {
                    e = written.error;
                }
            }
            out.error = written.error;
            out.message = written.message;
            co_return out;
        }
        auto it = shards_.find(partition);
        if (it == shards_.end() || it->second->epoch != epoch) {
            co_return out;  // written; the next coordinator reads it from the log
        }
        auto git = it->second->groups.find(req.group_id);
        if (git == it->second->groups.end()) {
            co_return out;
        }
        for (size_t i = 0; i < req.offsets.size(); ++i) {
            if (out.errors[i] == errc::none) {
                git->second->commit(req.offsets[i], now);
            }
        }
        co_return out;
    };
    co_return co_await boost::asio::co_spawn(strand_, work, boost::asio::use_awaitable);
}

awaitable<offset_fetch_result> group_coordinator::fetch_offsets(offset_fetch_request&& req) {
    auto f = [this, &req]() -> offset_fetch_result {
        offset_fetch_result out;
        route r = locate(req.group_id);
        if (r.error != errc::none) {
            out.error = r.error;
            out.message = r.message;
            return out;
        }
        group* g = r.find(req.group_id);
        if (req.partitions) {
            for (const auto& tp : *req.partitions) {
                committed_offset c;
                c.topic = tp.topic;
                c.partition = tp.partition;
                if (g != nullptr) {
                    if (auto it = g->offsets().find(tp); it != g->offsets().end()) {
                        c.offset = it->second.offset;
                        c.leader_epoch = it->second.leader_epoch;
                        c.metadata = it->second.metadata;
                    }
                }
                out.offsets.push_back(std::move(c));
            }
        } else if (g != nullptr) {
            for (const auto& [tp, v] : g->offsets()) {
                out.offsets.push_back(
                    committed_offset{tp.topic, tp.partition, v.offset, v.leader_epoch, v.metadata});
            }
        }
        return out;
    };
    co_return co_await run_on(strand_, f);
}

awaitable<list_groups_result> group_coordinator::list_groups(std::vector<std::string>&& states) {
    auto f = [this, &states]() -> list_groups_result {
        list_groups_result out;
        for (const auto& [p, s] : shards_) {
            if (s->st != shard::status::loaded) {
                continue;
            }
            for (const auto& [id, g] : s->groups) {
                const std::string state(groups::state_name(g->state()));
                if (g->state() == group_state::dead ||
                    (!states.empty() &&
                     std::find(states.begin(), states.end(), state) == states.end())) {
                    continue;
                }
                out.groups.push_back(group_listing{id, g->protocol_type(), state});
            }
        }
        return out;
    };
    co_return co_await run_on(strand_, f);
}

awaitable<std::vector<group_description>> group_coordinator::describe_groups(
    std::vector<std::string>&& ids) {
    auto f = [this, &ids]() -> std::vector<group_description> {
        std::vector<group_description> out;
        for (const auto& id : ids) {
            group_description d;
            d.group_id = id;
            route r = locate(id);
            if (r.error != errc::none) {
                d.error = r.error;
                d.message = r.message;
                out.push_back(std::move(d));
                continue;
            }
            group* g = r.find(id);
            if (g == nullptr) {
                d.state = std::string(groups::state_name(group_state::dead));
                out.push_back(std::move(d));
                continue;
            }
            d.state = std::string(groups::state_name(g->state()));
            d.protocol_type = g->protocol_type();
            d.protocol_name = g->protocol_name();
            d.generation = g->generation();
            for (const auto& [mid, m] : g->members()) {
                const std::string* md = m.metadata_for(g->protocol_name());
                d.members.push_back(described_member{mid, m.instance_id, m.client_id, m.client_host,
                                                     md ? *md : "", m.assignment});
            }
            out.push_back(std::move(d));
        }
        return out;
    };
    co_return co_await run_on(strand_, f);
}

awaitable<std::vector<deleted_group>> group_coordinator::delete_groups(
    std::vector<std::string>&& ids) {
    auto work = [this, &ids]() -> awaitable<std::vector<deleted_group>> {
        std::vector<deleted_group> out;
        for (const auto& id : ids) {
            deleted_group d{id, errc::none, ""};
            route r = locate(id);
            group* g = r.error == errc::none ? r.find(id) : nullptr;
            if (r.error != errc::none) {
                d.error = r.error;
                d.message = r.message;
            } else if (g == nullptr) {
                d.error = errc::group_id_not_found;
                d.message = fmt::format("group {} does not exist", id);
            } else if (auto ok = g->check_delete(); ok.error != errc::none) {
                d.error = ok.error;
                d.message = ok.message;
            } else if (commits_writing_.contains(id)) {
                d.error = errc::coordinator_load_in_progress;
                d.message = fmt::format("a commit to group {} is being written: try again", id);
            } else {
                std::vector<record_to_write> recs;
                for (const auto& [tp, v] : g->offsets()) {
                    recs.push_back({groups::offset_key(id, tp), std::nullopt});
                }
                recs.push_back({groups::group_key(id), std::nullopt});
                // Dead while the tombstones are written (joins and commits are refused); as it
                // was if they could not be.
                auto before = std::make_unique<group>(*g);
                g->mark_dead();
                const int32_t partition = r.partition;
                const leader_epoch_t epoch = r.s->epoch;
                auto written = co_await append(partition, std::move(recs));
                d.error = written.error;
                d.message = written.message;
                if (auto it = shards_.find(partition);
                    it != shards_.end() && it->second->epoch == epoch) {
                    auto git = it->second->groups.find(id);
                    if (git != it->second->groups.end()) {
                        if (written.error == errc::none) {
                            it->second->groups.erase(git);
                        } else {
                            git->second = std::move(before);
                        }
                    }
                }
                if (written.error == errc::none) {
                    logging::info("group {}: deleted", id);
                }
            }
            out.push_back(std::move(d));
        }
        co_return out;
    };
    co_return co_await boost::asio::co_spawn(strand_, work, boost::asio::use_awaitable);
}

awaitable<void> group_coordinator::tick_loop() {
    next_expiry_check_ =
        steady_clock::now() + std::chrono::milliseconds(config_.retention_check_ms);
    while (!stopped_) {
        co_await wait_timer(timer_, steady_clock::now() + tick_interval);
        if (stopped_) {
            break;
        }
        tick();
        if (steady_clock::now() >= next_expiry_check_ && !expiring_) {
            // Beside the ticks, not in their way: its writes take a while.
            next_expiry_check_ =
                steady_clock::now() + std::chrono::milliseconds(config_.retention_check_ms);
            expiring_ = true;
            boost::asio::co_spawn(strand_, expire_offsets(), boost::asio::detached);
        }
    }
}

void group_coordinator::tick() {
    auto image = replicas_.snapshot();
    const int64_t now = now_ms();
    for (auto it = shards_.begin(); it != shards_.end();) {
        shard& s = *it->second;
        partition* p = image->find(consumer_offsets_topic, partition_id_t{it->first});
        if (p == nullptr || !p->is_leader() || p->leader_epoch() != s.epoch) {
            if (s.st == shard::status::loaded) {
                logging::info("{}-{}: no longer coordinating its {} groups", consumer_offsets_topic,
                              it->first, s.groups.size());
            }
            unload(s);
            it = shards_.erase(it);
            continue;
        }
        if (s.st == shard::status::loaded) {
            for (auto& [id, g] : s.groups) {
                group_effects fx;
                g->tick(now, fx);
                apply(it->first, *g, fx);
            }
        }
        ++it;
    }
}

awaitable<void> group_coordinator::expire_offsets() {
    std::vector<int32_t> partitions;
    for (const auto& [p, s] : shards_) {
        if (s->st == shard::status::loaded) {
            partitions.push_back(p);
        }
    }
    for (int32_t p : partitions) {
        if (stopped_) {
            break;
        }
        co_await expire_partition(p);
    }
    expiring_ = false;
}

awaitable<void> group_coordinator::expire_partition(int32_t partition) {
    auto it = shards_.find(partition);
    if (it == shards_.end() || it->second->st != shard::status::loaded) {
        co_return;
    }
    const leader_epoch_t epoch = it->second->epoch;
    const int64_t now = now_ms();
    struct expiring {
        std::string id;
        std::vector<std::pair<topic_partition_id, groups::offset_value>> offsets;  // as they were
        std::unique_ptr<group> before;  // a group removed whole: as it was, should the write fail
    };
    std::vector<expiring> due;
    std::vector<record_to_write> recs;
    // Computed right before the append, on the strand: nothing changes in between. A group
    // with a commit being written is left for the next check (its tombstone could land after
    // that commit in the log while the commit is not yet in memory).
    for (auto& [id, g] : it->second->groups) {
        if (g->state() != group_state::empty || commits_writing_.contains(id)) {
            continue;
        }
        expiring e{id, {}, nullptr};
        for (const auto& tp : g->expired_offsets(now, config_.offsets_retention_ms)) {
            e.offsets.emplace_back(tp, g->offsets().at(tp));
            recs.push_back({groups::offset_key(id, tp), std::nullopt});
        }
        if (e.offsets.size() == g->offsets().size()) {
            // An empty group with no offsets left is gone, its record too (as in Kafka).
            recs.push_back({groups::group_key(id), std::nullopt});
            e.before = std::make_unique<group>(*g);
            g->mark_dead();  // joins and commits wait for the write (COORDINATOR_NOT_AVAILABLE)
        } else if (e.offsets.empty()) {
            continue;
        }
        due.push_back(std::move(e));
    }
    if (recs.empty()) {
        co_return;
    }
    auto written = co_await append(partition, std::move(recs));
    it = shards_.find(partition);
    if (it == shards_.end() || it->second->epoch != epoch) {
        co_return;  // the next coordinator reads what was written from the log
    }
    for (auto& e : due) {
        auto git = it->second->groups.find(e.id);
        if (git == it->second->groups.end()) {
            continue;
        }
        if (e.before) {
            if (written.error == errc::none) {
                logging::info("group {}: empty, {} committed offsets expired; removed", e.id,
                              e.offsets.size());
                it->second->groups.erase(git);
            } else {
                git->second = std::move(e.before);
            }
            continue;
        }
        if (written.error != errc::none) {
            continue;
        }
        // A commit made since the tombstone was appended comes after it in the log: it stays.
        size_t n = 0;
        for (const auto& [tp, was] : e.offsets) {
            auto o = git->second->offsets().find(tp);
            if (o != git->second->offsets().end() && o->second == was) {
                git->second->forget_offset(tp);
                ++n;
            }
        }
        logging::info("group {}: {} committed offsets expired (offsets.retention.minutes)", e.id,
                      n);
    }
    if (written.error != errc::none) {
        logging::warn("{}-{}: expired offsets not removed: {}", consumer_offsets_topic, partition,
                      written.message);
    }
}

}  // namespace sluice::broker
