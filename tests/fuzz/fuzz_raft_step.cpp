// Fuzz target: one Raft node (broker/raft) driven by the input: ticks, proposals, campaigns,
// compactions, crashes and restarts, and messages from peers with any field values, well formed
// or not (the core decodes no bytes: a peer's message reaches it as structs, and a broken or
// hostile peer can put anything in them).
//
// Checks that no input aborts the node (every SLUICE_RAFT_CHECK is an abort here), that a
// message invalid_reason() rejects changes nothing, and that the node keeps the ready contract
// (entries land at the durable log end, the commit point never passes it).
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "../support/raft_disk.h"
#include "require.h"
#include "sluice/raft/node.h"

namespace {

using namespace sluice;
using namespace sluice::raft;

using fuzz::require;

class input {
  public:
    explicit input(std::span<const uint8_t> b) : b_(b) {}
    bool empty() const { return at_ >= b_.size(); }
    uint8_t byte() { return at_ < b_.size() ? b_[at_++] : 0; }
    // A small value in [lo, lo + span), edge values included.
    int64_t small(int64_t lo, int64_t span) { return lo + int64_t(byte() % uint64_t(span)); }
    // Mostly small values, now and then one at the edge of the type.
    int64_t edge(int64_t lo, int64_t span) {
        const uint8_t b = byte();
        if (b >= 250) {
            constexpr int64_t edges[] = {INT64_MAX,        INT64_MAX - 1,          INT64_MIN,
                                         int64_t{1} << 62, (int64_t{1} << 62) + 1, INT32_MAX};
            return edges[b - 250];
        }
        return lo + int64_t(b % uint64_t(span));
    }
    term_t term() { return term_t{edge(-1, 8)}; }
    offset_t offset() { return offset_t{edge(-2, 24)}; }
    node_id_t node() { return node_id_t{static_cast<int32_t>(small(-2, 6))}; }
    bool flag() { return (byte() & 1) != 0; }
    // Unknown, the right one of node 1, 2 or 3 (node_config), or another.
    directory_id directory() { return directory_id{uint64_t(small(0, 5)), 7}; }
    std::string text() { return std::string(size_t(small(0, 12)), char('a' + small(0, 26))); }
    std::vector<node_id_t> voters() {
        std::vector<node_id_t> v(size_t(small(0, 5)));
        for (auto& n : v) {
            n = node();
        }
        return v;
    }
    entry any_entry() {
        entry e;
        e.term = term();
        e.kind = static_cast<entry_kind>(small(0, 4));
        if (e.kind == entry_kind::voters) {
            e.voters = voters();
        } else if (e.kind == entry_kind::data) {
            e.data = text();
        }
        return e;
    }

  private:
    std::span<const uint8_t> b_;
    size_t at_ = 0;
};

message any_message(input& in) {
    message m;
    m.from = in.node();
    m.to = in.flag() ? node_id_t{1} : in.node();
    switch (in.small(0, 9)) {
        case 0:
            m.body =
                pre_vote_request{in.term(), in.offset(), in.term(), in.directory(), in.directory()};
            break;
        case 1:
            m.body = pre_vote_response{in.term(), in.flag(), in.node(), in.directory()};
            break;
        case 2:
            m.body =
                vote_request{in.term(), in.offset(), in.term(), in.directory(), in.directory()};
            break;
        case 3:
            m.body = vote_response{in.term(), in.flag(), in.node(), in.directory()};
            break;
        case 4:
            m.body = begin_epoch{in.term()};
            break;
        case 5:
            m.body = fetch_request{in.term(), in.offset(), in.term(), in.offset()};
            break;
        case 6: {
            fetch_response r{in.term(),   in.node(), static_cast<fetch_error>(in.small(0, 4)),
                             in.offset(), in.term(), in.offset()};
            switch (in.small(0, 4)) {
                case 0:
                    break;
                case 1:
                    for (int64_t i = in.small(1, 4); i > 0; --i) {
                        r.entries.push_back(in.any_entry());
                    }
                    break;
                case 2:
                    r.diverging = epoch_end{in.term(), in.offset()};
                    break;
                default:
                    r.snapshot = snapshot_id{in.offset(), in.term()};
                    break;
            }
            m.body = std::move(r);
            break;
        }
        case 7:
            m.body = fetch_snapshot_request{in.term(), snapshot_id{in.offset(), in.term()},
                                            in.small(-1, 12)};
            break;
        default:
            m.body = fetch_snapshot_response{
                in.term(),   in.node(),        snapshot_id{in.offset(), in.term()},
                in.flag(),   in.small(-1, 12), in.small(-1, 12),
                in.voters(), in.text()};
            break;
    }
    return m;
}

// The same on every node of a quorum (invalid_reason).
constexpr int32_t voters_max = 5;

config node_config(uint64_t seed) {
    config c;
    c.id = node_id_t{1};
    c.bootstrap_voters = {node_id_t{1}, node_id_t{2}, node_id_t{3}};
    c.directory = directory_id{1, 7};
    c.voter_directories = {{node_id_t{1}, directory_id{1, 7}},
                           {node_id_t{2}, directory_id{2, 7}},
                           {node_id_t{3}, directory_id{3, 7}}};
    c.random_seed = seed;
    c.election_timeout_ticks = 3;
    c.fetch_interval_ticks = 1;
    c.fetch_entries_max = 4;
    c.fetch_bytes_max = 64;
    c.entry_bytes_max = 16;
    c.uncommitted_entries_max = 8;
    c.uncommitted_bytes_max = 128;
    c.apply_entries_max = 4;
    c.messages_max = 32;
    c.snapshot_chunk_bytes_max = 5;
    c.observers_max = 2;
    c.voters_max = voters_max;
    return c;
}

// The state a message must leave alone if it is rejected.
struct shape {
    term_t term;
    node_id_t vote;
    role r;
    offset_t end;
    offset_t commit;
    friend bool operator==(const shape&, const shape&) = default;
};
shape shape_of(const node& n) {
    return {n.term(), n.vote(), n.current_role(), n.log().end(), n.high_watermark()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    input in(std::span(data, size));
    testing::raft_disk d;
    uint64_t seed = in.byte();
    auto n = std::make_unique<node>(node_config(seed), d.state);
    int steps = 0;
    while (!in.empty() && ++steps < 2000) {
        switch (in.small(0, 10)) {
            case 0:
                n->tick();
                break;
            case 1:
                n->campaign();
                break;
            case 2:
                (void)n->propose(in.text());
                break;
            case 3: {
                const offset_t a = n->applied();
                if (a > n->log().start()) {
                    if (auto t = n->log().term_at(a - 1)) {
                        (void)n->compact(snapshot_id{a, *t},
                                         static_cast<int64_t>(in.text().size()));
                    }
                }
                break;
            }
            case 4:  // a crash: what reached the disk is all that is left
                n = std::make_unique<node>(node_config(++seed), d.state);
                break;
            case 5:
            case 6:
                if (n->has_ready()) {
                    ready rd = n->get_ready();
                    require(d.persist(rd));
                    n->advance(rd);
                    if (rd.snap_received) {
                        // The file checks if it is whole, and the input says so.
                        n->snapshot_checked(
                            rd.snap_received->id,
                            d.check_received(*rd.snap_received) && in.byte() % 4 != 0);
                    }
                }
                break;
            default: {
                const message m = any_message(in);
                const bool invalid = invalid_reason(m, voters_max).has_value();
                const shape before = shape_of(*n);
                const uint64_t counted = n->messages_invalid();
                n->step(m);
                if (invalid) {
                    require(shape_of(*n) == before);
                    require(m.to != n->id() || m.from == n->id() ||
                            n->messages_invalid() == counted + 1);
                }
                break;
            }
        }
        require(n->high_watermark() <= n->log().end());
        require(n->stable_end() <= n->log().end());
    }
    return 0;
}
