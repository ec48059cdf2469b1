#include "cluster.h"

#include "sluice/raft/errc.h"

namespace sluice::raft::sim {
namespace {

uint64_t u(int64_t v) {
    return static_cast<uint64_t>(v);
}

// A cheap fingerprint of a message for the run digest.
void fingerprint(hasher& d, const message& m) {
    d.add(m.body.index());
    d.add(u(m.from.value()));
    d.add(u(m.to.value()));
    d.add(u(term_of(m).value()));
    if (const auto* r = std::get_if<fetch_request>(&m.body)) {
        d.add(u(r->fetch_offset.value()));
    } else if (const auto* s = std::get_if<fetch_response>(&m.body)) {
        d.add(u(s->fetch_offset.value()) ^ (u(s->high_watermark.value()) << 20) ^
              (s->entries.size() << 40));
    } else if (const auto* p = std::get_if<vote_response>(&m.body)) {
        d.add(p->granted);
    } else if (const auto* q = std::get_if<pre_vote_response>(&m.body)) {
        d.add(q->granted);
    }
}

}  // namespace

cluster::cluster(cluster_options o)
    : options_(std::move(o)), rng_(options_.seed), net_(options_.net) {
    const int total = options_.voters + options_.observers;
    for (int i = 1; i <= total; ++i) {
        ids_.push_back(node_id_t{i});
        if (i <= options_.voters) {
            bootstrap_voters_.push_back(node_id_t{i});
        }
    }
    checker_.set_initial_voters(bootstrap_voters_);
    nodes_.resize(static_cast<size_t>(total));
    rng clocks(options_.seed ^ 0xc10c4ull);  // its own stream: the run's other draws stay put
    constexpr int32_t rates[][2] = {{3, 4}, {1, 1}, {4, 3}};
    for (int i = 0; i < total; ++i) {
        sim_node& n = nodes_[static_cast<size_t>(i)];
        n.id = ids_[static_cast<size_t>(i)];
        if (options_.skewed_clocks) {
            const auto& r = rates[clocks.below(std::size(rates))];
            n.rate_num = r[0];
            n.rate_den = r[1];
        }
        if (options_.directories) {
            n.directory = directory_id{clocks.next() | 1, clocks.next()};
            voter_directories_.emplace_back(n.id, n.directory);
        }
    }
    for (sim_node& n : nodes_) {
        start(n);
    }
}

void cluster::start(sim_node& n) {
    config c = options_.node_config;
    c.id = n.id;
    c.bootstrap_voters = bootstrap_voters_;
    c.directory = n.directory;
    c.voter_directories = voter_directories_;
    c.random_seed = options_.seed * 0x9e3779b97f4a7c15ull + u(n.id.value()) * 1000 + u(n.restarts);
    n.core = std::make_unique<node>(c, n.disk.load());
    n.out.reset();
    n.leader = n.core->current_leadership();
    n.app = app_state{offset_t{0}, checker::chain_seed()};
    if (const auto& snap = n.disk.durable().snap) {
        checker_.restore(n.id, n.app, *snap, n.disk.durable().snap_file);
    }
    checker_.started(n.id, *n.core, n.disk.durable());
    observe(n);
}

void cluster::observe(const sim_node& n) {
    checker_.observe(*n.core, [this](node_id_t id) -> const disk_state* {
        if (id.value() < 1 || id.value() > static_cast<int64_t>(nodes_.size())) {
            return nullptr;
        }
        return &at(id).disk.durable();
    });
}

void cluster::tick() {
    ++now_;
    digest_.add(u(now_));
    for (sim_node& n : nodes_) {
        if (n.core) {
            for (n.clock += n.rate_num; n.clock >= n.rate_den && n.core; n.clock -= n.rate_den) {
                n.core->tick();
                observe(n);
            }
        }
    }
    message m;
    bool corrupted = false;
    while (net_.pop_due(now_, m, corrupted)) {
        deliver(m, corrupted);
    }
    for (sim_node& n : nodes_) {
        if (n.core) {
            pump(n);
        }
    }
}

void cluster::deliver(const message& m, bool corrupted) {
    sim_node& n = at(m.to);
    if (!n.core) {
        return;
    }
    fingerprint(digest_, m);
    if (options_.verbose) {
        fmt::print("{:>6} deliver {}{}\n", now_, corrupted ? "(corrupted) " : "", describe(m));
    }
    const uint64_t invalid_before = n.core->messages_invalid();
    if (corrupted) {
        // Refused on its face, and nothing about the node moves.
        const auto before =
            std::tuple(n.core->current_leadership(), n.core->vote(), n.core->high_watermark(),
                       n.core->log().end(), n.core->has_ready());
        n.core->step(m);
        if (n.core->messages_invalid() != invalid_before + 1 ||
            before != std::tuple(n.core->current_leadership(), n.core->vote(),
                                 n.core->high_watermark(), n.core->log().end(),
                                 n.core->has_ready())) {
            checker_.fail(
                fmt::format("node {} acted on a corrupted message: {}", m.to, describe(m)));
        }
        return;
    }
    n.core->step(m);
    if (n.core->messages_invalid() != invalid_before) {
        // The simulated peers are all correct: a message they sent must never look broken.
        checker_.fail(fmt::format("node {} took a correct message for an invalid one: {}", m.to,
                                  describe(m)));
    }
    observe(n);
}

void cluster::pump(sim_node& n) {
    if (n.out && now_ >= n.flush_at) {
        finish(n);
    }
    while (!n.out && n.core->has_ready()) {
        ready rd = n.core->get_ready();
        if (rd.leader) {
            n.leader = *rd.leader;
        }
        if (n.leader != n.core->current_leadership()) {
            checker_.fail(
                fmt::format("node {}: the readies did not tell a change of leadership", n.id));
        }
        if (auto err = n.disk.write(rd)) {
            checker_.fail(
                fmt::format("node {}: ready breaks the storage contract: {}", n.id, *err));
        }
        event(
            {7, u(n.id.value()), rd.entries.size(), rd.committed.size(), rd.messages.size()}, [&] {
                return fmt::format(
                    "ready node={} hard={} truncate={} snap={} entries={}@{} committed={}@{} "
                    "msgs={}",
                    n.id,
                    rd.hard ? fmt::format("{}/{}/{}", rd.hard->term, rd.hard->vote, rd.hard->commit)
                            : "-",
                    rd.truncate_to ? fmt::format("{}", *rd.truncate_to) : "-",
                    rd.snap ? fmt::format("{}{}", rd.snap->id.end_offset,
                                          rd.restore_snapshot ? "R" : "")
                            : "-",
                    rd.entries.size(), rd.entries_offset, rd.committed.size(), rd.committed_offset,
                    rd.messages.size());
            });
        n.out = std::move(rd);
        n.flush_at =
            now_ + rng_.between(options_.flush_delay_min_ticks, options_.flush_delay_max_ticks);
        if (options_.stall_max_ticks > options_.flush_delay_max_ticks &&
            rng_.chance_ppm(options_.stall_ppm)) {
            n.flush_at =
                now_ + rng_.between(options_.flush_delay_max_ticks, options_.stall_max_ticks);
        }
        if (n.flush_at > now_) {
            break;
        }
        finish(n);
    }
}

void cluster::finish(sim_node& n) {
    ready& rd = *n.out;
    n.disk.flush();
    checker_.disk_changed(n.id, n.disk.durable());
    for (message& m : rd.messages) {
        fill_snapshot_chunk(n, m);
        checker_.sent(n.id, m, n.disk.durable());
        net_.send(std::move(m), now_, rng_);
    }
    if (rd.snap && rd.restore_snapshot) {
        checker_.restore(n.id, n.app, *rd.snap, n.disk.durable().snap_file);
        ++stats_.snapshots_restored;
    }
    for (size_t i = 0; i < rd.committed.size(); ++i) {
        checker_.apply(n.id, n.app, rd.committed_offset + static_cast<int64_t>(i), rd.committed[i]);
    }
    n.core->advance(rd);
    if (rd.snap_received) {
        // Correct leaders send whole, undamaged files: every check must pass.
        const bool ok = n.disk.check_received(*rd.snap_received);
        if (!ok) {
            checker_.fail(fmt::format("node {}: the snapshot file received for {} is not whole",
                                      n.id, rd.snap_received->id.end_offset));
        }
        n.core->snapshot_checked(rd.snap_received->id, ok);
    }
    n.out.reset();
    observe(n);
}

void cluster::fill_snapshot_chunk(const sim_node& n, message& m) const {
    auto* r = std::get_if<fetch_snapshot_response>(&m.body);
    if (r == nullptr || !r->found) {
        return;
    }
    // What the shell does (ready.h): the chunk comes from the snapshot file on disk.
    auto bytes = n.disk.read_snapshot(r->id, r->position_bytes,
                                      options_.node_config.snapshot_chunk_bytes_max);
    if (bytes) {
        r->chunk = std::move(*bytes);
    } else {
        *r = fetch_snapshot_response{r->term, r->leader, r->id, false};
    }
}

void cluster::run(int64_t ticks) {
    for (int64_t i = 0; i < ticks; ++i) {
        tick();
    }
}

bool cluster::run_until(const std::function<bool()>& pred, int64_t max_ticks) {
    for (int64_t i = 0; i < max_ticks; ++i) {
        if (pred()) {
            return true;
        }
        tick();
    }
    return pred();
}

node_id_t cluster::leader() const {
    node_id_t best = no_node;
    term_t best_term{-1};
    for (const sim_node& n : nodes_) {
        if (n.core && n.core->current_role() == role::leader && n.core->term() > best_term) {
            best = n.id;
            best_term = n.core->term();
        }
    }
    return best;
}

void cluster::crash(node_id_t id, bool lose_all_unflushed) {
    sim_node& n = at(id);
    if (!n.core) {
        return;
    }
    n.core.reset();
    n.out.reset();
    const int64_t lost = n.disk.crash(rng_, lose_all_unflushed, options_.reordered_writes);
    stats_.entries_lost += static_cast<uint64_t>(lost);
    ++stats_.crashes;
    checker_.disk_changed(id, n.disk.durable());
    event({1, u(id.value()), u(lost)},
          [&] { return fmt::format("crash node={} lost_entries={}", id, lost); });
}

void cluster::wipe(node_id_t id) {
    crash(id, true);
    sim_node& n = at(id);
    checker_.wiped(id, n.disk.durable());
    n.disk = storage{};
    if (options_.directories) {
        n.directory = directory_id{rng_.next() | 1, rng_.next()};
    }
    ++stats_.wipes;
    event({12, u(id.value())}, [&] { return fmt::format("wipe node={}", id); });
}

void cluster::restart(node_id_t id) {
    sim_node& n = at(id);
    if (n.core) {
        return;
    }
    ++n.restarts;
    ++stats_.restarts;
    event({2, u(id.value())}, [&] { return fmt::format("restart node={}", id); });
    start(n);
}

void cluster::partition(const std::vector<std::vector<node_id_t>>& groups) {
    std::map<node_id_t, int> g;
    std::string text;
    for (size_t i = 0; i < groups.size(); ++i) {
        text += " {";
        for (node_id_t id : groups[i]) {
            g[id] = static_cast<int>(i) + 1;
            digest_.add(u(id.value()) * 16 + i);
            text += fmt::format(" {}", id);
        }
        text += " }";
    }
    net_.partition(std::move(g));
    event({3}, [&] { return fmt::format("partition{}", text); });
}

void cluster::cut(node_id_t from, node_id_t to) {
    net_.cut(from, to);
    digest_.add(u(from.value()) * 1024 + u(to.value()));
    event({11}, [&] { return fmt::format("cut {} -> {}", from, to); });
}

void cluster::heal() {
    net_.heal();
    event({4}, [&] { return fmt::format("heal"); });
}

result<proposal> cluster::propose(node_id_t id, std::string data) {
    sim_node& n = at(id);
    if (!n.core) {
        return errc::not_leader;
    }
    auto r = n.core->propose(data);
    event({5, u(id.value()), r ? u(r.value().offset.value()) : ~0ull}, [&] {
        return fmt::format("propose node={} {} -> {}", id, data,
                           r ? fmt::format("offset {} term {}", r.value().offset, r.value().term)
                             : r.error().message());
    });
    if (r) {
        ++stats_.proposals_accepted;
        proposals_.push_back({r.value(), data, id});
    }
    observe(n);
    return r;
}

result<proposal> cluster::add_voter(node_id_t at_id, node_id_t id) {
    sim_node& n = at(at_id);
    if (!n.core) {
        return errc::not_leader;
    }
    auto r = n.core->propose_add_voter(id);
    event({6, u(at_id.value()), u(id.value()), r ? 1u : 0u}, [&] {
        return fmt::format("add_voter node={} voter={} -> {}", at_id, id,
                           r ? "ok" : r.error().message());
    });
    stats_.voter_changes_accepted += r ? 1 : 0;
    observe(n);
    return r;
}

result<proposal> cluster::remove_voter(node_id_t at_id, node_id_t id) {
    sim_node& n = at(at_id);
    if (!n.core) {
        return errc::not_leader;
    }
    auto r = n.core->propose_remove_voter(id);
    event({8, u(at_id.value()), u(id.value()), r ? 1u : 0u}, [&] {
        return fmt::format("remove_voter node={} voter={} -> {}", at_id, id,
                           r ? "ok" : r.error().message());
    });
    stats_.voter_changes_accepted += r ? 1 : 0;
    observe(n);
    return r;
}

result<void> cluster::take_snapshot(node_id_t id) {
    sim_node& n = at(id);
    if (!n.core) {
        return errc::snapshot_out_of_range;
    }
    const offset_t end = n.app.applied_end;
    const term_t term = n.core->log().term_at(end - 1).value_or(term_t{0});
    std::string file = checker::encode_snapshot(n.app, options_.snapshot_padding_bytes);
    const auto size = static_cast<int64_t>(file.size());
    n.disk.write_local_snapshot(std::move(file));
    auto r = n.core->compact(snapshot_id{end, term}, size);
    event({9, u(id.value()), u(end.value()), r ? 1u : 0u}, [&] {
        return fmt::format("snapshot node={} at={} -> {}", id, end, r ? "ok" : r.error().message());
    });
    stats_.snapshots_taken += r ? 1 : 0;
    observe(n);
    return r;
}

void cluster::campaign(node_id_t id) {
    sim_node& n = at(id);
    if (n.core) {
        n.core->campaign();
        event({10, u(id.value())}, [&] { return fmt::format("campaign node={}", id); });
        observe(n);
    }
}

void cluster::final_checks() {
    for (const sim_node& n : nodes_) {
        checker_.check_disk(n.id, n.disk.durable());
    }
    const auto& history = checker_.committed();
    for (const auto& [p, data, by] : proposals_) {
        if (p.offset >= checker_.committed_end()) {
            continue;  // not decided yet
        }
        const entry& e = history[static_cast<size_t>(p.offset.value())];
        if ((e.term == p.term) != (e.data == data)) {
            checker_.fail(
                fmt::format("proposal '{}' at offset {} term {}: committed there is "
                            "term {} '{}'",
                            data, p.offset, p.term, e.term, e.data));
            break;
        }
    }
    digest_.add(u(checker_.committed_end().value()));
    digest_.add(checker_.chain_at(checker_.committed_end()));
}

}  // namespace sluice::raft::sim
