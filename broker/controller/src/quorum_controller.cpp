#include "sluice/controller/quorum_controller.h"

#include <fmt/format.h>

#include "sluice/core/logging.h"
#include "sluice/core/producer_id_blocks.h"
#include "sluice/raft/errc.h"

namespace sluice::controller {

namespace logging = broker::logging;
using broker::topic_result;

topic_result topic_answer(std::string name, const proposal_result& r) {
    switch (r.outcome) {
        case proposal_outcome::written:
            return {std::move(name), errc::none, {}};
        case proposal_outcome::refused:
            return {std::move(name), errc::unknown_server_error,
                    "the controller's decision did not fit the metadata: " + r.detail};
        case proposal_outcome::lost:
            return {std::move(name), errc::not_controller,
                    "the controller changed before the change was written; retry"};
        case proposal_outcome::unknown:
            return {std::move(name), errc::request_timed_out,
                    "the controller changed and the outcome is unknown; check and retry"};
        case proposal_outcome::rejected:
            break;
    }
    if (r.error == make_error_code(raft::errc::entry_too_large)) {
        return {std::move(name), errc::invalid_request,
                "the change is too large for one metadata log entry; make it in smaller steps"};
    }
    if (r.error == make_error_code(raft::errc::uncommitted_entries_max) ||
        r.error == make_error_code(raft::errc::uncommitted_bytes_max)) {
        return {std::move(name), errc::request_timed_out,
                "the controller has too many changes in flight; retry"};
    }
    return {std::move(name), errc::not_controller,
            "the controller could not take the change (" + r.detail + "); retry"};
}

quorum_controller::quorum_controller(metadata_log& log, options opts)
    : log_(log), opts_(std::move(opts)), timer_(log.executor()) {
    log_.on_image([this, alive = alive_](const metadata_log::image_ptr&) {
        if (*alive) {
            rebuild_working();
        }
    });
    log_.on_leadership([this, alive = alive_](const raft::leadership& l) {
        if (*alive) {
            on_leadership(l);
        }
    });
}

quorum_controller::~quorum_controller() {
    *alive_ = false;
}

void quorum_controller::start() {
    running_ = true;
    rebuild_working();
    arm();
}

void quorum_controller::stop() {
    running_ = false;
    active_ = false;
    timer_.cancel();
}

void quorum_controller::arm() {
    timer_.expires_after(opts_.check_interval);
    timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
        if (!*alive || ec || !running_) {
            return;
        }
        check_sessions();
        check_elections();
        arm();
    });
}

void quorum_controller::on_leadership(const raft::leadership& l) {
    leadership_ = l;
    if (l.role != raft::role::leader) {
        if (active_) {
            logging::info("controller: no longer active (term {}, leader {})", l.term, l.leader);
        }
        active_ = false;
        ready_at_.reset();
        return;
    }
    // Active once the image holds everything committed before this term: the leader's first
    // entry of the term (appended by now) is applied.
    ready_at_ = log_.node().log().end();
    rebuild_working();
}

void quorum_controller::rebuild_working() {
    const auto& committed = *log_.image();
    if (!active_ && ready_at_ && running_ && committed.end_offset() >= *ready_at_) {
        active_ = true;
        active_since_ = clock::now();
        last_rebalance_ = active_since_;
        last_heartbeat_.clear();
        logging::info("controller: active (term {}) at metadata offset {}", leadership_.term,
                      committed.end_offset());
    }
    working_ = committed;
    for (const auto& f : in_flight_) {
        auto r = apply_batch(working_, working_.end_offset(), f.records);
        working_ = std::move(r.image);
    }
}

void quorum_controller::propose(std::vector<metadata_record> records,
                                std::function<void(proposal_result)> done) {
    const uint64_t id = next_flight_++;
    in_flight_.push_back({id, records});
    working_ = apply_batch(working_, working_.end_offset(), records).image;
    log_.propose(records, [this, alive = alive_, id, done = std::move(done)](proposal_result r) {
        if (*alive) {
            std::erase_if(in_flight_, [id](const in_flight& f) { return f.id == id; });
            rebuild_working();
        }
        done(std::move(r));
    });
}

std::string quorum_controller::not_controller() const {
    if (leadership_.leader == raft::no_node || leadership_.leader == log_.node().id()) {
        return "no controller is active yet; retry";
    }
    return fmt::format("the active controller is node {}", leadership_.leader);
}

void quorum_controller::register_broker(broker_registration r,
                                        std::function<void(registration_result)> done) {
    if (!active_) {
        return done({errc::not_controller, not_controller(), -1});
    }
    const bool endpoints_ok =
        !r.endpoints.empty() && r.endpoints.size() <= 16 && r.rack.size() <= 1024 &&
        std::all_of(r.endpoints.begin(), r.endpoints.end(), [](const endpoint& e) {
            return !e.listener.empty() && e.listener.size() <= 256 && e.host.size() <= 1024 &&
                   e.port > 0 && e.port <= 65535;
        });
    if (r.id.value() < 0 || !endpoints_ok || r.incarnation.is_zero()) {
        return done({errc::invalid_request,
                     "a registration needs a broker id, an incarnation and valid endpoints", -1});
    }
    const broker_info* committed = log_.image()->broker(r.id);
    const broker_info* planned = working_.broker(r.id);
    if (committed != nullptr && committed->incarnation == r.incarnation) {
        last_heartbeat_[r.id] = clock::now();
        return done({errc::none, {}, committed->epoch});
    }
    if (planned != nullptr && planned->incarnation == r.incarnation) {
        return done({errc::request_timed_out, "the registration is being written; retry", -1});
    }
    if (committed != nullptr && !committed->fenced) {
        auto it = last_heartbeat_.find(r.id);
        if (it != last_heartbeat_.end() && clock::now() - it->second < opts_.session_timeout) {
            return done({errc::duplicate_broker_registration,
                         fmt::format("node.id={} is registered by another process whose session "
                                     "is alive (it heartbeat {} ms ago); give each broker its own "
                                     "node.id, or wait {} ms after a crash",
                                     r.id,
                                     std::chrono::duration_cast<std::chrono::milliseconds>(
                                         clock::now() - it->second)
                                         .count(),
                                     opts_.session_timeout.count()),
                         -1});
        }
    }
    auto records = plan_register(working_, r.id, r.incarnation, std::move(r.endpoints),
                                 std::move(r.rack), r.clean_shutdown);
    const node_id_t id = r.id;
    propose(std::move(records),
            [this, alive = alive_, id, done = std::move(done)](proposal_result p) {
                if (p.outcome != proposal_outcome::written) {
                    auto a = topic_answer({}, p);
                    return done({a.error, a.message, -1});
                }
                if (*alive) {
                    last_heartbeat_[id] = clock::now();
                }
                logging::info("controller: broker {} registered with epoch {}", id, p.offset);
                done({errc::none, {}, p.offset.value()});
            });
}

void quorum_controller::heartbeat(broker_heartbeat h, std::function<void(heartbeat_result)> done) {
    if (!active_) {
        return done({errc::not_controller, not_controller(), true, false});
    }
    // Held: a proposal below may commit at once (one voter) and replace the log's image.
    const metadata_log::image_ptr committed = log_.image();
    const broker_info* b = committed->broker(h.id);
    if (b == nullptr) {
        return done({errc::broker_id_not_registered,
                     fmt::format("broker {} is not registered; register first", h.id), true,
                     false});
    }
    if (b->epoch != h.broker_epoch) {
        return done({errc::stale_broker_epoch,
                     fmt::format("broker {} is registered with epoch {}, not {}; register again",
                                 h.id, b->epoch, h.broker_epoch),
                     true, false});
    }
    last_heartbeat_[h.id] = clock::now();
    const broker_info* w = working_.broker(h.id);
    const bool busy = busy_.contains(h.id);
    if (!busy && w != nullptr) {
        std::vector<metadata_record> change;
        if (h.want_shutdown) {
            change = plan_move_leaders_away(working_, h.id);
            if (change.empty()) {
                change = plan_fence(working_, h.id);
            }
        } else if (w->fenced && h.applied > offset_t{b->epoch}) {
            // Caught up: it has applied its own registration at least.
            change = plan_unfence(working_, h.id);
        }
        if (!change.empty()) {
            busy_.insert(h.id);
            propose(std::move(change), [this, alive = alive_, id = h.id](proposal_result p) {
                if (*alive) {
                    busy_.erase(id);
                }
                if (p.outcome != proposal_outcome::written) {
                    logging::warn("controller: a change of broker {} was not written: {}", id,
                                  outcome_name(p.outcome));
                }
            });
        }
    }
    const bool fenced = b->fenced;
    bool leads = false;
    for (const auto& [name, t] : committed->topics()) {
        for (const auto& p : t->partitions) {
            leads = leads || p.leader == h.id;
        }
    }
    done({errc::none, {}, fenced, h.want_shutdown && fenced && !leads});
}

void quorum_controller::alter_partition(alter_partition_request r,
                                        std::function<void(alter_partition_result)> done) {
    if (!active_) {
        return done({errc::not_controller, not_controller()});
    }
    const metadata_log::image_ptr committed = log_.image();
    const broker_info* b = committed->broker(r.change.leader);
    if (b == nullptr || b->epoch != r.broker_epoch) {
        return done({errc::stale_broker_epoch,
                     fmt::format("broker {} is not registered with epoch {}; register again",
                                 r.change.leader, r.broker_epoch)});
    }
    auto plan = plan_isr_change(working_, r.change);
    if (plan.error != errc::none) {
        return done({plan.error, std::move(plan.message)});
    }
    alter_partition_result ok{
        errc::none, {}, r.change.leader_epoch, r.change.partition_epoch, r.change.isr};
    if (plan.records.empty()) {
        return done(std::move(ok));
    }
    ok.partition_epoch += 1;
    propose(std::move(plan.records), [done, ok](proposal_result p) mutable {
        if (p.outcome == proposal_outcome::written) {
            return done(std::move(ok));
        }
        // Not known written: the leader learns the outcome from the image, or asks again.
        done({p.outcome == proposal_outcome::refused ? errc::invalid_update_version
                                                     : errc::request_timed_out,
              fmt::format("the ISR change was not written: {}", outcome_name(p.outcome))});
    });
}

void quorum_controller::allocate_producer_ids(producer_ids_request r,
                                              std::function<void(producer_ids_result)> done) {
    if (!active_) {
        return done({errc::not_controller, not_controller()});
    }
    const metadata_log::image_ptr committed = log_.image();
    const broker_info* b = committed->broker(r.id);
    if (b == nullptr || b->epoch != r.broker_epoch) {
        return done({errc::stale_broker_epoch,
                     fmt::format("broker {} is not registered with epoch {}; register again", r.id,
                                 r.broker_epoch)});
    }
    // The working image: blocks proposed and not yet written are not handed out again.
    const int64_t first = working_.next_producer_id();
    constexpr int32_t count = broker::producer_id_block_size;
    if (first > INT64_MAX - count) {
        return done({errc::unknown_server_error, "every producer id has been handed out"});
    }
    propose({records::producer_ids{r.id, r.broker_epoch, first + count}}, [done, first](
                                                                              proposal_result p) {
        if (p.outcome == proposal_outcome::written) {
            return done({errc::none, {}, first, count});
        }
        // Perhaps written: the block is then never used, which costs only ids.
        done({errc::request_timed_out,
              fmt::format("the producer id block was not written: {}", outcome_name(p.outcome))});
    });
}

void quorum_controller::check_sessions() {
    if (!active_) {
        return;
    }
    const auto now = clock::now();
    // Collected first: each fence changes working_, which this would otherwise iterate.
    std::vector<node_id_t> expired;
    for (const auto& [id, b] : working_.brokers()) {
        if (b.fenced || busy_.contains(id)) {
            continue;
        }
        auto it = last_heartbeat_.find(id);
        const auto last =
            it == last_heartbeat_.end() ? active_since_ : std::max(it->second, active_since_);
        if (now - last >= opts_.session_timeout) {
            expired.push_back(id);
        }
    }
    for (node_id_t id : expired) {
        logging::warn("controller: broker {} missed its session ({} ms); fencing it", id,
                      opts_.session_timeout.count());
        busy_.insert(id);
        propose(plan_fence(working_, id), [this, alive = alive_, id](proposal_result p) {
            if (*alive) {
                busy_.erase(id);
            }
            if (p.outcome != proposal_outcome::written) {
                logging::warn("controller: the fence of broker {} was not written: {}", id,
                              outcome_name(p.outcome));
            }
        });
    }
}

void quorum_controller::check_elections() {
    if (!active_) {
        return;
    }
    auto log_outcome = [](std::string what) {
        return [what = std::move(what)](proposal_result p) {
            if (p.outcome != proposal_outcome::written) {
                logging::warn("controller: {} was not written: {}", what, outcome_name(p.outcome));
            }
        };
    };
    if (auto unclean = plan_unclean_elections(working_, opts_.topics); !unclean.empty()) {
        for (const auto& r : unclean) {
            const auto& c = std::get<records::partition_change>(r);
            const topic_info* t = working_.topic(c.topic_id);
            logging::warn(
                "controller: unclean leader election: {}-{} gets broker {} as leader, which was "
                "not in its ISR (no ISR member is unfenced); what only the ISR held is lost",
                t != nullptr ? t->name : "?", c.index, c.leader.value_or(node_id_t{-1}));
        }
        propose(std::move(unclean), log_outcome("an unclean leader election"));
    }
    const auto now = clock::now();
    if (opts_.rebalance_interval && now - last_rebalance_ >= *opts_.rebalance_interval) {
        last_rebalance_ = now;
        if (auto moves = plan_rebalance(working_, opts_.imbalance); !moves.empty()) {
            logging::info(
                "controller: moving leadership of {} partitions back to their "
                "preferred replicas",
                moves.size());
            propose(std::move(moves), log_outcome("a leader rebalance"));
        }
    }
}

void quorum_controller::elect_preferred_leaders(
    std::vector<std::string> topics, std::function<void(std::vector<election_result>)> done) {
    if (!active_) {
        std::vector<election_result> out;
        for (auto& t : topics.empty() ? std::vector<std::string>{""} : topics) {
            out.push_back({std::move(t), -1, errc::not_controller, not_controller()});
        }
        return done(std::move(out));
    }
    auto plan = plan_preferred_elections(working_, topics);
    if (plan.records.empty()) {
        return done(std::move(plan.results));
    }
    propose(std::move(plan.records),
            [results = std::move(plan.results), done = std::move(done)](proposal_result p) mutable {
                if (p.outcome != proposal_outcome::written) {
                    const auto a = topic_answer({}, p);
                    for (auto& r : results) {
                        if (r.error == errc::none) {
                            r.error = a.error;
                            r.message = a.message;
                        }
                    }
                }
                done(std::move(results));
            });
}

void quorum_controller::propose_all(std::vector<planned_batch> plans,
                                    std::function<void(std::vector<topic_result>)> done) {
    struct gather {
        std::vector<topic_result> results;
        size_t waiting = 0;
        std::function<void(std::vector<topic_result>)> done;
    };
    auto g = std::make_shared<gather>();
    g->done = std::move(done);
    for (const auto& p : plans) {
        g->results.push_back(p.result);
        g->waiting += p.records.empty() ? 0 : 1;
    }
    if (g->waiting == 0) {
        return g->done(std::move(g->results));
    }
    for (size_t i = 0; i < plans.size(); ++i) {
        if (plans[i].records.empty()) {
            continue;
        }
        propose(std::move(plans[i].records), [g, i](proposal_result r) {
            g->results[i] = topic_answer(g->results[i].name, r);
            if (--g->waiting == 0) {
                g->done(std::move(g->results));
            }
        });
    }
}

std::vector<topic_result> quorum_controller::not_controller(std::vector<std::string> names) const {
    std::vector<topic_result> out;
    for (auto& n : names) {
        out.push_back({std::move(n), errc::not_controller, not_controller()});
    }
    return out;
}

void quorum_controller::create_topics(std::vector<broker::create_topic_request> topics,
                                      bool validate_only,
                                      std::function<void(std::vector<topic_result>)> done) {
    if (!active_) {
        std::vector<std::string> names;
        for (const auto& t : topics) {
            names.push_back(t.name);
        }
        return done(not_controller(std::move(names)));
    }
    propose_all(plan_create_topics(working_, topics, opts_.topics, validate_only, opts_.new_id),
                std::move(done));
}

void quorum_controller::delete_topics(std::vector<std::string> names,
                                      std::function<void(std::vector<topic_result>)> done) {
    if (!active_) {
        return done(not_controller(std::move(names)));
    }
    propose_all(plan_delete_topics(working_, names), std::move(done));
}

void quorum_controller::import_topics(node_id_t id, std::vector<imported_topic> topics,
                                      std::function<void(topic_result)> done) {
    if (!active_) {
        return done({{}, errc::not_controller, not_controller()});
    }
    auto records = plan_import(working_, id, topics);
    if (records.empty()) {
        return done({{}, errc::none, {}});
    }
    propose(std::move(records),
            [done = std::move(done)](proposal_result r) { done(topic_answer({}, r)); });
}

namespace {

// The names of `topics` that appear more than once.
template <typename T>
std::set<std::string> named_twice(const std::vector<T>& topics) {
    std::set<std::string> seen;
    std::set<std::string> twice;
    for (const auto& t : topics) {
        if (!seen.insert(t.name).second) {
            twice.insert(t.name);
        }
    }
    return twice;
}

template <typename T>
std::vector<std::string> names_of(const std::vector<T>& topics) {
    std::vector<std::string> out;
    for (const auto& t : topics) {
        out.push_back(t.name);
    }
    return out;
}

planned_batch twice_refusal(const std::string& name) {
    return {{name, errc::invalid_request,
             fmt::format("topic '{}' is named more than once in the request", name)},
            {}};
}

}  // namespace

void quorum_controller::add_partitions(std::vector<broker::partition_count_request> topics,
                                       bool validate_only,
                                       std::function<void(std::vector<topic_result>)> done) {
    if (!active_) {
        return done(not_controller(names_of(topics)));
    }
    const auto twice = named_twice(topics);
    std::vector<planned_batch> plans;
    // Each topic's new partitions are placed, and counted against max.partitions, with the
    // ones planned before it in this request.
    metadata_image now = working_;
    for (const auto& t : topics) {
        plans.push_back(twice.contains(t.name) ? twice_refusal(t.name)
                                               : plan_add_partitions(now, t.name, t.total,
                                                                     opts_.topics, validate_only));
        if (!plans.back().records.empty()) {
            now = apply_batch(now, now.end_offset(), plans.back().records).image;
        }
    }
    propose_all(std::move(plans), std::move(done));
}

void quorum_controller::alter_configs(std::vector<broker::config_change_request> topics,
                                      bool validate_only,
                                      std::function<void(std::vector<topic_result>)> done) {
    if (!active_) {
        return done(not_controller(names_of(topics)));
    }
    const auto twice = named_twice(topics);
    std::vector<planned_batch> plans;
    for (const auto& t : topics) {
        if (twice.contains(t.name)) {
            plans.push_back(twice_refusal(t.name));
        } else if (!t.duplicate_key.empty()) {
            plans.push_back({{t.name, errc::invalid_request,
                              fmt::format("config '{}' is named more than once for topic '{}'",
                                          t.duplicate_key, t.name)},
                             {}});
        } else {
            plans.push_back(
                plan_alter_configs(working_, t.name, t.changes, opts_.topics, validate_only));
        }
    }
    propose_all(std::move(plans), std::move(done));
}

broker::quorum_status quorum_controller::describe_quorum() const {
    broker::quorum_status out;
    if (!active_) {
        out.error = errc::not_controller;
        out.message = not_controller();
        return out;
    }
    const raft::node& n = log_.node();
    out.leader = n.id();
    out.epoch = n.term().value();
    out.high_watermark = n.high_watermark();
    out.leader_log_end = n.stable_end();
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const auto tick = log_.tick_interval().count();
    auto at = [&](int64_t ticks_ago) {
        return ticks_ago < 0 ? int64_t{-1} : now - ticks_ago * tick;
    };
    if (n.is_voter()) {  // a leader removing itself leads without being a voter
        out.voters.push_back({n.id(), n.stable_end(), now, now});
    }
    for (const auto& r : n.replica_statuses()) {
        broker::quorum_replica q{r.id, r.ticks_since_fetch < 0 ? offset_t{-1} : r.match,
                                 at(r.ticks_since_fetch), at(r.ticks_since_caught_up)};
        (r.voter ? out.voters : out.observers).push_back(q);
    }
    std::sort(out.voters.begin(), out.voters.end(),
              [](const auto& a, const auto& b) { return a.id < b.id; });
    return out;
}

}  // namespace sluice::controller
