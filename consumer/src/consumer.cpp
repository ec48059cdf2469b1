#include "sluice/consumer/consumer.h"

#include <fmt/format.h>

#include <set>

#include "consumer_limits.h"
#include "fetch_buffer.h"
#include "fetch_cursor.h"
#include "fetcher.h"
#include "group_member.h"
#include "sluice/client/internal/cluster.h"
#include "sluice/client/internal/co_try.h"
#include "sluice/client/internal/io_thread.h"
#include "sluice/client/internal/offsets.h"
#include "sluice/protocol/api.h"
#include "topic_pattern.h"

namespace sluice {
namespace detail {

using client::awaitable;
using client::clock;

// The consumer's state. Positions live here, on the caller's thread (consumer calls are
// single-threaded); the fetcher lives on the I/O thread and learns of assignments and seeks
// through posted calls; fetched data comes back through the fetch buffer, tagged with the seek
// generation it was fetched for, so that data from before a seek is dropped.
class consumer_impl {
  public:
    explicit consumer_impl(const consumer_config& config)
        : config_(config),
          cluster_(io_.context(), config_,
                   client::connection_options_for(config_, size_t(config_.fetch_max_bytes))),
          buffer_(size_t(config_.fetch_max_bytes),
                  [this] { client::asio::post(io_.context(), [this] { fetcher_.run(); }); }),
          fetcher_(cluster_, buffer_, config_) {
        if (!config_.group_id.empty()) {
            group_ = std::make_unique<group_member>(cluster_, config_, [this] { buffer_.wake(); });
        }
        io_.call([this] { cluster_.set_on_change([this] { fetcher_.run(); }); });
    }

    ~consumer_impl() { close(); }

    result<void> assign(const std::vector<topic_partition>& tps) {
        SLUICE_TRY(check_open());
        if (subscribed_) {
            return invalid("assign() cannot be used with subscribe(): unsubscribe() first");
        }
        return set_assignment(tps);
    }

    // The assignment is now `tps`: positions of the partitions kept stay.
    result<void> set_assignment(const std::vector<topic_partition>& tps) {
        std::map<topic_partition, assigned> next;
        for (const topic_partition& tp : tps) {
            if (tp.topic.empty() || tp.partition < 0) {
                return invalid(
                    fmt::format("cannot assign '{}' partition {}", tp.topic, tp.partition));
            }
            auto it = assigned_.find(tp);
            next[tp] = it == assigned_.end() ? assigned{} : it->second;
        }
        assigned_ = std::move(next);
        std::erase_if(paused_, [&](const topic_partition& tp) { return !assigned_.contains(tp); });
        if (cursor_ && !assigned_.contains(cursor_->fetch().tp)) {
            drop_cursor();
        }
        update_fetcher();
        return success();
    }

    // The fetcher fetches the assigned partitions that are not paused.
    void update_fetcher() {
        std::vector<topic_partition> active;
        for (const auto& [tp, a] : assigned_) {
            if (!paused_.contains(tp)) {
                active.push_back(tp);
            }
        }
        client::asio::post(io_.context(), [this, active] { fetcher_.assign(active); });
    }

    result<void> subscribe(std::vector<std::string> topics, std::optional<std::string> pattern,
                           rebalance_listener* listener) {
        SLUICE_TRY(check_open());
        if (!group_) {
            return invalid("subscribe() needs group.id: the group the consumer joins");
        }
        if (!subscribed_ && !assigned_.empty()) {
            return invalid("subscribe() cannot be used with assign(): assign({}) first");
        }
        if (pattern) {
            SLUICE_TRY(topic_pattern::compile(*pattern));
        } else if (topics.empty()) {
            return unsubscribe();
        }
        for (const auto& t : topics) {
            if (t.empty()) {
                return invalid("subscribe() to a topic with an empty name");
            }
        }
        subscribed_ = true;
        listener_ = listener;
        next_auto_commit_ =
            clock::now() + std::chrono::milliseconds(config_.auto_commit_interval_ms);
        client::asio::post(io_.context(),
                           [this, topics, pattern] { group_->subscribe(topics, pattern); });
        return success();
    }

    result<void> unsubscribe() {
        SLUICE_TRY(check_open());
        if (!subscribed_) {
            return success();
        }
        give_up_all(true);
        subscribed_ = false;
        io_.run<void>([this]() -> client::awaitable<void> { co_await group_->leave(); });
        // The old member's loop may still be ending on the I/O thread: it is kept until close()
        // has joined that thread.
        retired_.push_back(std::move(group_));
        group_ = std::make_unique<group_member>(cluster_, config_, [this] { buffer_.wake(); });
        return success();
    }

    std::vector<topic_partition> assignment_list() const { return assigned_list(); }

    result<void> commit_sync(std::optional<std::map<topic_partition, int64_t>> offsets) {
        SLUICE_TRY(check_open());
        run_async_callbacks();
        if (!group_) {
            return invalid("commits need group.id: the group whose offsets they are");
        }
        auto entries = offsets ? entries_of(*offsets) : entries_of(current_positions());
        const auto deadline = clock::now() + cluster_.request_timeout();
        std::error_code ec = io_.run<std::error_code>([&]() -> client::awaitable<std::error_code> {
            co_return co_await group_->commit(std::move(entries), deadline);
        });
        if (ec) {
            return ec;
        }
        return success();
    }

    void commit_async(std::function<void(std::error_code)> done) {
        if (closed_ || !group_) {
            if (done) {
                done(closed_ ? make_error_code(client_errc::closed)
                             : invalid("commits need group.id: the group whose offsets they are"));
            }
            return;
        }
        auto entries = entries_of(current_positions());
        const auto deadline = clock::now() + cluster_.request_timeout();
        auto finish = [this, done = std::move(done)](std::error_code ec) {
            if (done) {
                std::lock_guard lock(async_mutex_);
                async_done_.emplace_back(done, ec);
            }
        };
        client::asio::co_spawn(
            io_.context(),
            [this, entries = std::move(entries), deadline,
             finish = std::move(finish)]() mutable -> client::awaitable<void> {
                finish(co_await group_->commit(std::move(entries), deadline));
            },
            client::asio::detached);
    }

    result<std::map<topic_partition, int64_t>> committed(const std::vector<topic_partition>& tps) {
        SLUICE_TRY(check_open());
        if (!group_) {
            return invalid("committed offsets need group.id: the group whose offsets they are");
        }
        SLUICE_TRY(auto found, fetch_committed(tps));
        std::map<topic_partition, int64_t> out;
        for (const auto& tp : tps) {
            auto it = found.find(tp);
            out[tp] = it == found.end() ? -1 : it->second;
        }
        return out;
    }

    result<void> pause(const std::vector<topic_partition>& tps, bool stop) {
        SLUICE_TRY(check_open());
        for (const auto& tp : tps) {
            SLUICE_TRY(find(tp));
        }
        for (const auto& tp : tps) {
            if (stop) {
                paused_.insert(tp);
                if (cursor_ && cursor_->fetch().tp == tp) {
                    drop_cursor();
                }
            } else if (paused_.erase(tp) > 0) {
                assigned& a = assigned_.at(tp);
                update_fetcher();
                if (a.position >= 0) {
                    seek_to(tp, a, a.position);  // fetching resumes from the position
                }
            }
        }
        if (stop) {
            update_fetcher();
        }
        return success();
    }

    std::vector<topic_partition> paused_list() const {
        return std::vector<topic_partition>(paused_.begin(), paused_.end());
    }

    result<std::vector<int32_t>> partitions_for(const std::string& topic) {
        SLUICE_TRY(check_open());
        return io_.run<result<std::vector<int32_t>>>(
            [&]() -> awaitable<result<std::vector<int32_t>>> {
                client::metadata_request req;
                req.topics.push_back(topic);
                SLUICE_CO_TRY(client::metadata_answer m, co_await cluster_.refresh(std::move(req)));
                for (const client::topic_meta& t : m.topics) {
                    if (t.name != topic) {
                        continue;
                    }
                    if (t.error != errc::none) {
                        co_return make_error_code(t.error);
                    }
                    std::vector<int32_t> ids;
                    for (const client::partition_meta& p : t.partitions) {
                        ids.push_back(p.partition);
                    }
                    co_return ids;
                }
                co_return make_error_code(errc::unknown_topic_or_partition);
            });
    }

    result<void> seek(const topic_partition& tp, int64_t offset) {
        SLUICE_TRY(check_open());
        SLUICE_TRY(assigned * a, find(tp));
        if (offset < 0) {
            return invalid(fmt::format("seek to negative offset {}", offset));
        }
        seek_to(tp, *a, offset);
        return success();
    }

    result<void> seek_to(const std::vector<topic_partition>& tps, int64_t timestamp) {
        SLUICE_TRY(check_open());
        const std::vector<topic_partition> list = tps.empty() ? assigned_list() : tps;
        for (const topic_partition& tp : list) {
            SLUICE_TRY(find(tp));
        }
        SLUICE_TRY(auto offsets, list_offsets(list, timestamp));
        for (size_t i = 0; i < list.size(); ++i) {
            seek_to(list[i], assigned_.at(list[i]), offsets[i].offset);
        }
        return success();
    }

    result<void> seek_to_timestamp(const topic_partition& tp, int64_t timestamp_ms) {
        SLUICE_TRY(check_open());
        SLUICE_TRY(assigned * a, find(tp));
        SLUICE_TRY(auto found, list_offsets({tp}, timestamp_ms));
        int64_t offset = found[0].offset;
        if (offset < 0) {
            SLUICE_TRY(auto end, list_offsets({tp}, api::latest_timestamp));
            offset = end[0].offset;
        }
        seek_to(tp, *a, offset);
        return success();
    }

    result<int64_t> position(const topic_partition& tp) {
        SLUICE_TRY(check_open());
        SLUICE_TRY(assigned * a, find(tp));
        if (a->position < 0) {
            if (a->awaiting_committed) {
                SLUICE_TRY(resolve_committed());
            }
            SLUICE_TRY(resolve_positions());
            if (a->position < 0) {
                if (a->error) {
                    return a->error;
                }
                return make_client_error(
                    client_errc::timed_out,
                    fmt::format("{}-{}: its committed offset is not known yet (no answer from the "
                                "group's coordinator): try again",
                                tp.topic, tp.partition));
            }
        }
        return a->position;
    }

    result<std::map<topic_partition, int64_t>> offsets(const std::vector<topic_partition>& tps,
                                                       int64_t timestamp) {
        SLUICE_TRY(check_open());
        SLUICE_TRY(auto found, list_offsets(tps, timestamp));
        std::map<topic_partition, int64_t> out;
        for (size_t i = 0; i < tps.size(); ++i) {
            out[tps[i]] = found[i].offset;
        }
        return out;
    }

    // Records up to max.poll.records into `out`; an error only when `out` is empty.
    result<void> poll(std::chrono::milliseconds timeout, records_builder& out);

    void close() {
        if (closed_) {
            return;
        }
        if (subscribed_) {
            give_up_all(true);
            io_.run<void>([this]() -> client::awaitable<void> { co_await group_->leave(); });
        }
        run_async_callbacks();
        closed_ = true;
        io_.call([this] {
            if (group_) {
                group_->stop();
            }
            fetcher_.stop();
            cluster_.close(make_error_code(client_errc::closed));
        });
        io_.join();
        cursor_.reset();
        buffer_.clear();
    }

  private:
    struct assigned {
        int64_t position = -1;  // the next offset poll() returns; -1: not known yet
        uint64_t generation = 0;
        std::error_code error;  // returned by poll() until the next seek
        // Assigned by the group: its position comes from the committed offset, once known.
        bool awaiting_committed = false;
    };

    static std::error_code invalid(std::string detail) {
        return make_client_error(client_errc::invalid_config, detail);
    }

    result<void> check_open() const {
        if (closed_) {
            return make_error_code(client_errc::closed);
        }
        return success();
    }

    result<assigned*> find(const topic_partition& tp) {
        auto it = assigned_.find(tp);
        if (it == assigned_.end()) {
            return invalid(fmt::format("{}-{} is not assigned", tp.topic, tp.partition));
        }
        return &it->second;
    }

    std::vector<topic_partition> assigned_list() const {
        std::vector<topic_partition> out;
        for (const auto& [tp, a] : assigned_) {
            out.push_back(tp);
        }
        return out;
    }

    void seek_to(const topic_partition& tp, assigned& a, int64_t offset) {
        a.position = offset;
        a.generation = ++generations_;
        a.error = {};
        if (cursor_ && cursor_->fetch().tp == tp) {
            drop_cursor();
        }
        client::asio::post(io_.context(),
                           [this, tp, offset, g = a.generation] { fetcher_.seek(tp, offset, g); });
    }

    void drop_cursor() {
        buffer_.release(cursor_->fetch().records.size());
        cursor_.reset();
    }

    result<std::vector<client::offset_answer>> list_offsets(const std::vector<topic_partition>& tps,
                                                            int64_t timestamp) {
        std::vector<client::offset_query> queries;
        for (const topic_partition& tp : tps) {
            queries.push_back({tp.topic, tp.partition, timestamp});
        }
        const auto deadline = clock::now() + cluster_.request_timeout();
        return io_.run<result<std::vector<client::offset_answer>>>(
            [&]() -> awaitable<result<std::vector<client::offset_answer>>> {
                co_return co_await client::list_offsets(cluster_, std::move(queries), deadline);
            });
    }

    // Sets unknown positions by auto.offset.reset.
    result<void> resolve_positions();
    // Handles a partition error from the fetcher; false if poll() must return it.
    bool on_fetch_error(const topic_partition& tp, assigned& a, std::error_code ec);

    const consumer_config config_;
    client::io_thread io_;
    client::cluster cluster_;
    fetch_buffer buffer_;
    fetcher fetcher_;
    std::map<topic_partition, assigned> assigned_;
    std::set<topic_partition> paused_;
    std::optional<fetch_cursor> cursor_;
    uint64_t generations_ = 0;
    bool closed_ = false;
    // Consumer groups (null without group.id).
    std::unique_ptr<group_member> group_;
    std::vector<std::unique_ptr<group_member>> retired_;  // unsubscribed; freed after close()
    bool subscribed_ = false;
    rebalance_listener* listener_ = nullptr;
    clock::time_point next_auto_commit_{};
    std::mutex async_mutex_;
    std::vector<std::pair<std::function<void(std::error_code)>, std::error_code>> async_done_;

    // Commit entries for `offsets`.
    static std::vector<client::commit_entry> entries_of(
        const std::map<topic_partition, int64_t>& offsets) {
        std::vector<client::commit_entry> out;
        for (const auto& [tp, offset] : offsets) {
            out.push_back(client::commit_entry{tp.topic, tp.partition, offset, -1, ""});
        }
        return out;
    }
    // The positions of the assigned partitions that have one: what poll() has returned.
    std::map<topic_partition, int64_t> current_positions() const {
        std::map<topic_partition, int64_t> out;
        for (const auto& [tp, a] : assigned_) {
            if (a.position >= 0 && !a.awaiting_committed) {
                out[tp] = a.position;
            }
        }
        return out;
    }
    result<std::map<topic_partition, int64_t>> fetch_committed(
        const std::vector<topic_partition>& tps) {
        client::partition_map which;
        for (const auto& tp : tps) {
            which[tp.topic].push_back(tp.partition);
        }
        const auto deadline = clock::now() + cluster_.request_timeout();
        auto r = io_.run<result<std::vector<client::committed_meta>>>(
            [&]() -> client::awaitable<result<std::vector<client::committed_meta>>> {
                co_return co_await group_->committed(std::move(which), deadline);
            });
        if (!r) {
            return r.error();
        }
        std::map<topic_partition, int64_t> out;
        for (const auto& c : r.value()) {
            out[topic_partition{c.topic, c.partition}] = c.offset;
        }
        return out;
    }
    void run_async_callbacks() {
        std::vector<std::pair<std::function<void(std::error_code)>, std::error_code>> done;
        {
            std::lock_guard lock(async_mutex_);
            done.swap(async_done_);
        }
        for (auto& [f, ec] : done) {
            f(ec);
        }
    }
    // Revokes every assigned partition (committing first with enable.auto.commit).
    void give_up_all(bool commit) {
        auto all = assigned_list();
        if (commit && config_.enable_auto_commit && !all.empty()) {
            (void)commit_sync(std::nullopt);
        }
        if (listener_ != nullptr && !all.empty()) {
            listener_->on_partitions_revoked(all);
        }
        (void)set_assignment({});
    }
    // Acts on what the group member reported: revocations, losses, new assignments. A fatal
    // group error is returned.
    result<void> handle_group_events();
    // Those of `tps` that are assigned, sorted.
    std::vector<topic_partition> assigned_among(const std::vector<topic_partition>& tps) const;
    // The assignment without `sorted`; their positions are forgotten.
    void drop_partitions(const std::vector<topic_partition>& sorted);
    // Positions of partitions the group assigned: their committed offsets.
    result<void> resolve_committed();
    void maybe_auto_commit();
};

result<void> consumer_impl::resolve_positions() {
    std::vector<topic_partition> unknown;
    for (auto& [tp, a] : assigned_) {
        if (a.position >= 0 || a.error || a.awaiting_committed) {
            continue;
        }
        if (config_.auto_offset_reset == "none") {
            a.error = invalid(
                fmt::format("{}-{} has no position and auto.offset.reset is none: seek first",
                            tp.topic, tp.partition));
            continue;
        }
        unknown.push_back(tp);
    }
    if (unknown.empty()) {
        return success();
    }
    const int64_t ts =
        config_.auto_offset_reset == "earliest" ? api::earliest_timestamp : api::latest_timestamp;
    SLUICE_TRY(auto offsets, list_offsets(unknown, ts));
    for (size_t i = 0; i < unknown.size(); ++i) {
        seek_to(unknown[i], assigned_.at(unknown[i]), offsets[i].offset);
    }
    return success();
}

result<void> consumer_impl::handle_group_events() {
    if (!group_ || !subscribed_) {
        return success();
    }
    // Every event taken is acted on, even after a failure: a dropped revoke would leave the
    // member waiting for revoked() and a dropped loss would leave partitions fetched.
    std::error_code failed;
    for (auto& e : group_->take_events()) {
        switch (e.what) {
            case group_event::kind::revoke: {
                auto gone = assigned_among(e.partitions);
                if (config_.enable_auto_commit && !gone.empty()) {
                    std::map<topic_partition, int64_t> offsets;
                    for (const auto& [tp, off] : current_positions()) {
                        if (std::binary_search(gone.begin(), gone.end(), tp)) {
                            offsets[tp] = off;
                        }
                    }
                    (void)commit_sync(offsets);
                }
                if (listener_ != nullptr) {
                    listener_->on_partitions_revoked(gone);
                }
                drop_partitions(gone);
                client::asio::post(io_.context(),
                                   [m = group_.get(), id = e.revoke_id] { m->revoked(id); });
                break;
            }
            case group_event::kind::lose: {
                auto gone = assigned_among(e.partitions);
                if (listener_ != nullptr && !gone.empty()) {
                    listener_->on_partitions_lost(gone);
                }
                drop_partitions(gone);
                break;
            }
            case group_event::kind::assign: {
                if (auto r = set_assignment(e.assignment); !r) {
                    failed = r.error();
                    break;
                }
                for (const auto& tp : e.partitions) {
                    auto it = assigned_.find(tp);
                    if (it != assigned_.end() && it->second.position < 0) {
                        it->second.awaiting_committed = true;
                    }
                }
                // Positions from the committed offsets before the callback; if the coordinator
                // does not answer now, poll() asks again before it fetches those partitions.
                (void)resolve_committed();
                if (listener_ != nullptr) {
                    listener_->on_partitions_assigned(e.partitions);
                }
                break;
            }
            case group_event::kind::fail:
                failed = e.error;
                break;
        }
    }
    if (failed) {
        // No longer a member: whatever is still assigned is lost (no commit is possible).
        subscribed_ = false;
        auto all = assigned_list();
        if (listener_ != nullptr && !all.empty()) {
            listener_->on_partitions_lost(all);
        }
        (void)set_assignment({});
        return failed;
    }
    return success();
}

std::vector<topic_partition> consumer_impl::assigned_among(
    const std::vector<topic_partition>& tps) const {
    std::vector<topic_partition> out;
    for (const auto& tp : tps) {
        if (assigned_.contains(tp)) {
            out.push_back(tp);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

void consumer_impl::drop_partitions(const std::vector<topic_partition>& sorted) {
    std::vector<topic_partition> keep;
    for (const auto& [tp, a] : assigned_) {
        if (!std::binary_search(sorted.begin(), sorted.end(), tp)) {
            keep.push_back(tp);
        }
    }
    (void)set_assignment(keep);  // names taken from assigned_: valid
}

result<void> consumer_impl::resolve_committed() {
    std::vector<topic_partition> want;
    for (const auto& [tp, a] : assigned_) {
        if (a.awaiting_committed) {
            want.push_back(tp);
        }
    }
    if (want.empty()) {
        return success();
    }
    auto found = fetch_committed(want);
    if (!found) {
        return found.error();  // tried again at the next poll
    }
    for (const auto& tp : want) {
        assigned& a = assigned_.at(tp);
        a.awaiting_committed = false;
        auto it = found.value().find(tp);
        if (it != found.value().end() && it->second >= 0) {
            seek_to(tp, a, it->second);
        }
    }
    return success();
}

void consumer_impl::maybe_auto_commit() {
    if (!subscribed_ || !config_.enable_auto_commit || clock::now() < next_auto_commit_) {
        return;
    }
    next_auto_commit_ = clock::now() + std::chrono::milliseconds(config_.auto_commit_interval_ms);
    commit_async({});
}

bool consumer_impl::on_fetch_error(const topic_partition&, assigned& a, std::error_code ec) {
    if (ec == errc::offset_out_of_range && config_.auto_offset_reset != "none") {
        a.position = -1;  // reset by auto.offset.reset below
        return true;
    }
    a.error = ec;
    return false;
}

result<void> consumer_impl::poll(std::chrono::milliseconds timeout, records_builder& out) {
    SLUICE_TRY(check_open());
    run_async_callbacks();
    SLUICE_TRY(handle_group_events());
    maybe_auto_commit();
    if (auto r = resolve_committed(); !r && !is_retriable(r.error())) {
        return r.error();
    }
    const auto deadline = clock::now() + timeout;
    const size_t max = size_t(config_.max_poll_records);
    bool resolve = true;
    while (out.size() < max) {
        if (resolve) {
            resolve = false;
            auto r = resolve_positions();
            if (!r && !is_retriable(r.error())) {
                return r.error();  // retriable: the next poll tries again
            }
            for (const auto& [tp, a] : assigned_) {
                if (a.error && out.size() == 0) {
                    return a.error;
                }
            }
        }
        if (!cursor_) {
            auto f = buffer_.pop(out.size() == 0 ? deadline : clock::now());
            if (!f) {
                if (out.size() == 0 && group_ && subscribed_ && clock::now() < deadline) {
                    // Woken by the group: act on its news, then wait on.
                    SLUICE_TRY(handle_group_events());
                    if (auto r = resolve_committed(); !r && !is_retriable(r.error())) {
                        return r.error();
                    }
                    resolve = true;
                    continue;
                }
                break;
            }
            if (paused_.contains(f->tp)) {
                buffer_.release(f->records.size());
                continue;  // fetched before the pause
            }
            auto it = assigned_.find(f->tp);
            if (it == assigned_.end() || it->second.generation != f->generation) {
                buffer_.release(f->records.size());
                continue;  // unassigned or sought since it was fetched
            }
            if (f->truncated_to >= 0) {
                // The leader's log diverged (fetcher.h): records handed out from there on are
                // gone; the new ones at those offsets come next.
                it->second.position = std::min(it->second.position, f->truncated_to);
                continue;
            }
            if (f->error) {
                buffer_.release(f->records.size());
                if (on_fetch_error(f->tp, it->second, f->error)) {
                    resolve = true;
                    continue;
                }
                if (out.size() == 0) {
                    return f->error;
                }
                break;
            }
            cursor_.emplace(std::move(*f));
        }
        auto it = assigned_.find(cursor_->fetch().tp);
        if (it == assigned_.end() || it->second.generation != cursor_->fetch().generation) {
            drop_cursor();
            continue;
        }
        auto r = cursor_->read(it->second.position, max, out);
        if (!r) {
            it->second.error = r.error();
            drop_cursor();
            if (out.size() == 0) {
                return r.error();
            }
            break;
        }
        if (cursor_->done()) {
            drop_cursor();
        }
    }
    return success();
}

}  // namespace detail

result<std::unique_ptr<consumer>> consumer::create(consumer_config config) {
    SLUICE_TRY(detail::validate(config));
    return std::unique_ptr<consumer>(new consumer(std::make_unique<detail::consumer_impl>(config)));
}

consumer::consumer(std::unique_ptr<detail::consumer_impl> impl) : impl_(std::move(impl)) {}
consumer::~consumer() = default;

result<void> consumer::assign(const std::vector<topic_partition>& partitions) {
    return impl_->assign(partitions);
}
result<void> consumer::subscribe(const std::vector<std::string>& topics,
                                 rebalance_listener* listener) {
    return impl_->subscribe(topics, std::nullopt, listener);
}
result<void> consumer::subscribe_pattern(const std::string& regex, rebalance_listener* listener) {
    return impl_->subscribe({}, regex, listener);
}
result<void> consumer::unsubscribe() {
    return impl_->unsubscribe();
}
result<std::vector<topic_partition>> consumer::assignment() {
    return impl_->assignment_list();
}
result<void> consumer::commit_sync() {
    return impl_->commit_sync(std::nullopt);
}
result<void> consumer::commit_sync(const std::map<topic_partition, int64_t>& offsets) {
    return impl_->commit_sync(offsets);
}
void consumer::commit_async(std::function<void(std::error_code)> done) {
    impl_->commit_async(std::move(done));
}
result<std::map<topic_partition, int64_t>> consumer::committed(
    const std::vector<topic_partition>& tps) {
    return impl_->committed(tps);
}
result<void> consumer::pause(const std::vector<topic_partition>& tps) {
    return impl_->pause(tps, true);
}
result<void> consumer::resume(const std::vector<topic_partition>& tps) {
    return impl_->pause(tps, false);
}
std::vector<topic_partition> consumer::paused() {
    return impl_->paused_list();
}
result<std::vector<int32_t>> consumer::partitions_for(const std::string& topic) {
    return impl_->partitions_for(topic);
}
result<void> consumer::seek(const topic_partition& tp, int64_t offset) {
    return impl_->seek(tp, offset);
}
result<void> consumer::seek_to_beginning(const std::vector<topic_partition>& tps) {
    return impl_->seek_to(tps, api::earliest_timestamp);
}
result<void> consumer::seek_to_end(const std::vector<topic_partition>& tps) {
    return impl_->seek_to(tps, api::latest_timestamp);
}
result<void> consumer::seek_to_timestamp(const topic_partition& tp, int64_t timestamp_ms) {
    return impl_->seek_to_timestamp(tp, timestamp_ms);
}
result<int64_t> consumer::position(const topic_partition& tp) {
    return impl_->position(tp);
}
result<std::map<topic_partition, int64_t>> consumer::end_offsets(
    const std::vector<topic_partition>& tps) {
    return impl_->offsets(tps, api::latest_timestamp);
}
result<std::map<topic_partition, int64_t>> consumer::beginning_offsets(
    const std::vector<topic_partition>& tps) {
    return impl_->offsets(tps, api::earliest_timestamp);
}
result<std::vector<consumer_record>> consumer::poll(std::chrono::milliseconds timeout) {
    detail::records_builder b;
    SLUICE_TRY(impl_->poll(timeout, b));
    const consumer_records refs = std::move(b).finish();
    std::vector<consumer_record> out;
    out.reserve(refs.size());
    for (const consumer_record_ref& r : refs) {
        out.push_back(r.to_record());
    }
    return out;
}
result<consumer_records> consumer::poll_view(std::chrono::milliseconds timeout) {
    detail::records_builder b;
    SLUICE_TRY(impl_->poll(timeout, b));
    return std::move(b).finish();
}

consumer_record consumer_record_ref::to_record() const {
    consumer_record r{std::string(topic), partition, offset, timestamp_ms, {}, {}, {}};
    if (key) {
        r.key.emplace(*key);
    }
    if (value) {
        r.value.emplace(*value);
    }
    r.headers.reserve(headers.size());
    for (const header_ref& h : headers) {
        r.headers.push_back(
            header{std::string(h.key),
                   h.value ? std::optional<std::string>(std::string(*h.value)) : std::nullopt});
    }
    return r;
}
void consumer::close() {
    impl_->close();
}

}  // namespace sluice
