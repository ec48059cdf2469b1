#include "checker.h"

#include <cstdlib>

#include <algorithm>

#include <fmt/format.h>

#include "rng.h"

namespace sluice::raft::sim {
namespace {

// Parses "<end>:<chain hex>:" at the front of a snapshot's bytes.
bool decode_snapshot(const std::string& data, app_state& out) {
    const char* p = data.c_str();
    char* rest = nullptr;
    const long long end = std::strtoll(p, &rest, 10);
    if (rest == p || *rest != ':') {
        return false;
    }
    p = rest + 1;
    const unsigned long long chain = std::strtoull(p, &rest, 16);
    if (rest == p || *rest != ':') {
        return false;
    }
    out.applied_end = offset_t{end};
    out.chain = chain;
    return true;
}

[[noreturn]] void throw_check(const char* file, int line, const char* condition) {
    throw core_check_failed(fmt::format("core check failed at {}:{}: {}", file, line, condition));
}

}  // namespace

throw_on_core_check::throw_on_core_check() : previous_(set_invariant_handler(&throw_check)) {}

throw_on_core_check::~throw_on_core_check() {
    set_invariant_handler(previous_);
}

checker::checker() {
    chains_.push_back(chain_seed());
}

void checker::fail(std::string what) {
    if (!failure_) {
        failure_ = std::move(what);
    }
}

uint64_t checker::chain_seed() {
    return 0x5eed5eed5eed5eedull;
}

uint64_t checker::chain_step(uint64_t chain, const entry& e) {
    hasher d;
    d.add(chain);
    d.add(static_cast<uint64_t>(e.term.value()));
    d.add(static_cast<uint64_t>(e.kind));
    d.add_bytes(e.data.data(), e.data.size());
    for (node_id_t v : e.voters) {
        d.add(static_cast<uint64_t>(v.value()));
    }
    return d.value();
}

std::string checker::encode_snapshot(const app_state& app, size_t padding_bytes) {
    return fmt::format("{}:{:016x}:", app.applied_end, app.chain) + std::string(padding_bytes, '.');
}

void checker::restore(node_id_t id, app_state& app, const snapshot& s, const std::string& file) {
    app_state loaded;
    if (!decode_snapshot(file, loaded)) {
        return fail(fmt::format("node {}: snapshot bytes unreadable", id));
    }
    const offset_t end = s.id.end_offset;
    if (loaded.applied_end != end) {
        return fail(
            fmt::format("node {}: snapshot {} holds the state at {}", id, end, loaded.applied_end));
    }
    if (end > committed_end()) {
        return fail(fmt::format("node {}: snapshot at {} is past the committed history {}", id, end,
                                committed_end()));
    }
    std::vector<node_id_t> voters = initial_voters_;
    for (offset_t o{0}; o < end; ++o) {
        if (history_[static_cast<size_t>(o.value())].kind == entry_kind::voters) {
            voters = history_[static_cast<size_t>(o.value())].voters;
        }
    }
    if (s.voters != voters) {
        return fail(fmt::format("node {}: snapshot at {} carries voters {} but the history has {}",
                                id, end, fmt::join(s.voters, ","), fmt::join(voters, ",")));
    }
    if (loaded.chain != chain_at(end) ||
        (end > offset_t{0} && history_[static_cast<size_t>(end.value() - 1)].term != s.id.term)) {
        return fail(
            fmt::format("node {}: snapshot at {} differs from the committed history", id, end));
    }
    app = loaded;
}

void checker::apply(node_id_t id, app_state& app, offset_t at, const entry& e) {
    if (at != app.applied_end) {
        return fail(fmt::format("node {}: applies offset {} but its state is at {}", id, at,
                                app.applied_end));
    }
    if (at >= committed_end()) {
        return fail(fmt::format("node {}: applies offset {} past the committed history {}", id, at,
                                committed_end()));
    }
    const auto i = static_cast<size_t>(at.value());
    if (e != history_[i] || app.chain != chains_[i]) {
        return fail(fmt::format("node {}: applies at {} an entry of term {}, committed: term {}",
                                id, at, e.term, history_[i].term));
    }
    app.chain = chain_step(app.chain, e);
    app.applied_end = at + 1;
}

void checker::started(node_id_t id, const node& n, const disk_state& disk) {
    life& l = lives_[id];
    if (n.term() < disk.hard.term || n.high_watermark() < disk.hard.commit) {
        return fail(fmt::format("node {}: restarted at term {} hw {} below its disk's {} / {}", id,
                                n.term(), n.high_watermark(), disk.hard.term, disk.hard.commit));
    }
    if (n.high_watermark() > committed_end()) {
        return fail(fmt::format("node {}: restarted with hw {} past the committed history {}", id,
                                n.high_watermark(), committed_end()));
    }
    l.term = n.term();
    l.high_watermark = n.high_watermark();
    check_disk(id, disk);
}

void checker::disk_changed(node_id_t id, const disk_state& disk) {
    life& l = lives_[id];
    if (disk.hard.term < l.durable_term || disk.hard.commit < l.durable_commit) {
        return fail(fmt::format("node {}: durable term/commit went back from {}/{} to {}/{}", id,
                                l.durable_term, l.durable_commit, disk.hard.term,
                                disk.hard.commit));
    }
    l.durable_term = disk.hard.term;
    l.durable_commit = disk.hard.commit;
}

void checker::check_disk(node_id_t id, const disk_state& disk) {
    if (disk.snap) {
        app_state scratch;
        restore(id, scratch, *disk.snap, disk.snap_file);
    }
    const offset_t end = std::min(disk.end(), disk.hard.commit);
    for (offset_t o = disk.start; o < end; ++o) {
        if (o >= committed_end() || *disk.find(o) != history_[static_cast<size_t>(o.value())]) {
            return fail(
                fmt::format("node {}: durable committed entry at {} differs from history", id, o));
        }
    }
}

void checker::observe(const node& n, const disk_lookup& disks) {
    if (!ok()) {
        return;
    }
    life& l = lives_[n.id()];
    if (n.term() < l.term) {
        return fail(fmt::format("node {}: term went back from {} to {}", n.id(), l.term, n.term()));
    }
    l.term = n.term();
    if (n.current_role() == role::leader) {
        auto [it, added] = leader_of_term_.emplace(n.term().value(), n.id());
        if (!added && it->second != n.id()) {
            return fail(
                fmt::format("two leaders in term {}: {} and {}", n.term(), it->second, n.id()));
        }
        // A leader's term and its vote for itself are on its disk: else a crash could let it
        // lead the same term again, with other entries at the same offsets.
        const disk_state* d = disks(n.id());
        if (d != nullptr && (d->hard.term != n.term() || d->hard.vote != n.id())) {
            return fail(fmt::format("node {} leads term {} with {}/{} on disk", n.id(), n.term(),
                                    d->hard.term, d->hard.vote));
        }
    }
    if (n.high_watermark() < l.high_watermark) {
        return fail(fmt::format("node {}: high watermark went back from {} to {}", n.id(),
                                l.high_watermark, n.high_watermark()));
    }
    if (n.high_watermark() > l.high_watermark) {
        record_commit(n, l.high_watermark, n.high_watermark(), disks);
        l.high_watermark = n.high_watermark();
    }
}

void checker::record_commit(const node& n, offset_t from, offset_t to, const disk_lookup& disks) {
    const raft_log& log = n.log();
    for (offset_t o = from; o < to && ok(); ++o) {
        if (o < log.start()) {
            if (o >= committed_end()) {
                fail(fmt::format("node {}: commits {} inside its snapshot before any node did",
                                 n.id(), o));
            }
            continue;
        }
        const entry& e = log.at(o);
        const auto i = static_cast<size_t>(o.value());
        if (o < committed_end()) {
            if (e != history_[i]) {
                fail(fmt::format("node {}: committed entry at {} has term {}, history has term {}",
                                 n.id(), o, e.term, history_[i].term));
            }
            continue;
        }
        if (o != committed_end()) {
            fail(fmt::format("node {}: commits {} with a gap before it", n.id(), o));
            continue;
        }
        auto holds = [&](const disk_state& d) {
            const entry* held = d.find(o);
            return (held != nullptr && *held == e) || (d.snap && d.snap->id.end_offset > o);
        };
        size_t durable = 0;
        for (node_id_t v : n.voters()) {
            const disk_state* d = disks(v);
            if (d == nullptr) {
                continue;
            }
            const auto lost = lost_disks_.find(v);
            if (holds(*d) || (lost != lost_disks_.end() &&
                              std::any_of(lost->second.begin(), lost->second.end(), holds))) {
                ++durable;
            }
        }
        if (durable < n.voters().size() / 2 + 1) {
            fail(fmt::format("node {}: entry {} committed while on {} durable disks of {} voters",
                             n.id(), o, durable, n.voters().size()));
            continue;
        }
        history_.push_back(e);
        chains_.push_back(chain_step(chains_.back(), e));
    }
}

void checker::sent(node_id_t from, const message& m, const disk_state& disk) {
    if (!ok()) {
        return;
    }
    if (const auto* v = std::get_if<vote_response>(&m.body); v != nullptr && v->granted) {
        const auto [it, first] = votes_.emplace(std::pair{from.value(), v->term.value()}, m.to);
        if (!first && it->second != m.to) {
            return fail(fmt::format("node {} granted its vote in term {} to {} and to {}", from,
                                    v->term, it->second, m.to));
        }
        // A later durable term also holds: the node can never vote in this term again.
        if (disk.hard.term < v->term || (disk.hard.term == v->term && disk.hard.vote != m.to)) {
            return fail(fmt::format("node {} granted its vote in term {} to {} with {}/{} on disk",
                                    from, v->term, m.to, disk.hard.term, disk.hard.vote));
        }
    }
    if (const auto* r = std::get_if<vote_request>(&m.body)) {
        if (disk.hard.term < r->term || (disk.hard.term == r->term && disk.hard.vote != from)) {
            return fail(fmt::format("node {} asked for votes in term {} with {}/{} on disk", from,
                                    r->term, disk.hard.term, disk.hard.vote));
        }
    }
    // Every message but a pre-vote's speaks for a term its sender holds durably.
    if (!std::holds_alternative<pre_vote_request>(m.body) &&
        !std::holds_alternative<pre_vote_response>(m.body) && term_of(m) > disk.hard.term) {
        return fail(fmt::format("node {} sent a message of term {} with term {} on disk: {}", from,
                                term_of(m), disk.hard.term, describe(m)));
    }
    // A fetch says where the sender's log ends: the leader counts what it names as replicated,
    // so it must be on the sender's disk, with the epoch named.
    if (const auto* f = std::get_if<fetch_request>(&m.body)) {
        const bool held =
            f->fetch_offset <= disk.end() &&
            (f->fetch_offset == disk.start
                 ? f->last_fetched_epoch == (disk.snap ? disk.snap->id.term : term_t{0})
                 : f->fetch_offset < disk.start ||
                       disk.find(f->fetch_offset - 1)->term == f->last_fetched_epoch);
        if (!held) {
            return fail(fmt::format("node {} fetched at {} (epoch {}) with its disk at {}..{}",
                                    from, f->fetch_offset, f->last_fetched_epoch, disk.start,
                                    disk.end()));
        }
    }
}

}  // namespace sluice::raft::sim
