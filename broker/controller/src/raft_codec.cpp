#include "sluice/controller/raft_codec.h"

#include "fb_ids.h"

#include "sluice/protocol/frame.h"

namespace sluice::controller {
namespace {

using fb = flatbuffers::FlatBufferBuilder;
template <typename T>
using off = flatbuffers::Offset<T>;

// ---- encoding

off<flatbuffers::Vector<uint8_t>> encode_bytes(fb& b, std::string_view s) {
    return b.CreateVector(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

fbs::RaftSnapshotId encode_id(const raft::snapshot_id& id) {
    return fbs::RaftSnapshotId(id.end_offset.value(), id.term.value());
}

off<fbs::RaftEntry> encode_entry(fb& b, const raft::entry& e) {
    const auto data = e.data.empty() ? 0 : encode_bytes(b, e.data);
    const auto voters = e.voters.empty() ? 0 : encode_ids(b, e.voters);
    return fbs::CreateRaftEntry(b, e.term.value(), uint8_t(e.kind), data, voters);
}

struct encoded_body {
    fbs::RaftBody type;
    off<void> body;
};

encoded_body encode_body(fb& b, const raft::pre_vote_request& m) {
    return {fbs::RaftBody::RaftPreVoteRequest,
            fbs::CreateRaftPreVoteRequest(
                b, m.term.value(), m.end_offset.value(), m.last_epoch.value(), m.voter_directory.hi,
                m.voter_directory.lo, m.candidate_directory.hi, m.candidate_directory.lo)
                .Union()};
}

encoded_body encode_body(fb& b, const raft::pre_vote_response& m) {
    return {fbs::RaftBody::RaftPreVoteResponse,
            fbs::CreateRaftPreVoteResponse(b, m.term.value(), m.granted, m.leader.value(),
                                           m.directory.hi, m.directory.lo)
                .Union()};
}

encoded_body encode_body(fb& b, const raft::vote_request& m) {
    return {fbs::RaftBody::RaftVoteRequest,
            fbs::CreateRaftVoteRequest(
                b, m.term.value(), m.end_offset.value(), m.last_epoch.value(), m.voter_directory.hi,
                m.voter_directory.lo, m.candidate_directory.hi, m.candidate_directory.lo)
                .Union()};
}

encoded_body encode_body(fb& b, const raft::vote_response& m) {
    return {fbs::RaftBody::RaftVoteResponse,
            fbs::CreateRaftVoteResponse(b, m.term.value(), m.granted, m.leader.value(),
                                        m.directory.hi, m.directory.lo)
                .Union()};
}

encoded_body encode_body(fb& b, const raft::begin_epoch& m) {
    return {fbs::RaftBody::RaftBeginEpoch, fbs::CreateRaftBeginEpoch(b, m.term.value()).Union()};
}

encoded_body encode_body(fb& b, const raft::fetch_request& m) {
    return {fbs::RaftBody::RaftFetchRequest,
            fbs::CreateRaftFetchRequest(b, m.term.value(), m.fetch_offset.value(),
                                        m.last_fetched_epoch.value(), m.high_watermark.value())
                .Union()};
}

encoded_body encode_body(fb& b, const raft::fetch_response& m) {
    off<flatbuffers::Vector<off<fbs::RaftEntry>>> entries = 0;
    if (!m.entries.empty()) {
        std::vector<off<fbs::RaftEntry>> list;
        list.reserve(m.entries.size());
        for (const raft::entry& e : m.entries) {
            list.push_back(encode_entry(b, e));
        }
        entries = b.CreateVector(list);
    }
    std::optional<fbs::RaftEpochEnd> diverging;
    if (m.diverging) {
        diverging.emplace(m.diverging->epoch.value(), m.diverging->end_offset.value());
    }
    std::optional<fbs::RaftSnapshotId> snapshot;
    if (m.snapshot) {
        snapshot = encode_id(*m.snapshot);
    }
    return {fbs::RaftBody::RaftFetchResponse,
            fbs::CreateRaftFetchResponse(
                b, m.term.value(), m.leader.value(), uint8_t(m.error), m.fetch_offset.value(),
                m.last_fetched_epoch.value(), m.high_watermark.value(), entries,
                diverging ? &*diverging : nullptr, snapshot ? &*snapshot : nullptr)
                .Union()};
}

encoded_body encode_body(fb& b, const raft::fetch_snapshot_request& m) {
    const fbs::RaftSnapshotId id = encode_id(m.id);
    return {fbs::RaftBody::RaftFetchSnapshotRequest,
            fbs::CreateRaftFetchSnapshotRequest(b, m.term.value(), &id, m.position_bytes).Union()};
}

encoded_body encode_body(fb& b, const raft::fetch_snapshot_response& m) {
    const auto voters = m.voters.empty() ? 0 : encode_ids(b, m.voters);
    const auto chunk = m.chunk.empty() ? 0 : encode_bytes(b, m.chunk);
    const fbs::RaftSnapshotId id = encode_id(m.id);
    return {fbs::RaftBody::RaftFetchSnapshotResponse,
            fbs::CreateRaftFetchSnapshotResponse(b, m.term.value(), m.leader.value(), &id, m.found,
                                                 m.position_bytes, m.size_bytes, voters, chunk)
                .Union()};
}

// ---- decoding: every function returns nullopt and sets `why` on a structural fault

std::vector<node_id_t> decode_ids(const flatbuffers::Vector<int32_t>* v) {
    std::vector<node_id_t> out;
    if (v != nullptr) {
        out.reserve(v->size());
        for (int32_t id : *v) {
            out.push_back(node_id_t(id));
        }
    }
    return out;
}

std::string decode_bytes(const flatbuffers::Vector<uint8_t>* v) {
    if (v == nullptr) {
        return {};
    }
    return std::string(reinterpret_cast<const char*>(v->data()), v->size());
}

raft::snapshot_id decode_id(const fbs::RaftSnapshotId& id) {
    return raft::snapshot_id{offset_t(id.end_offset()), term_t(id.term())};
}

bool known_kind(uint8_t k) {
    return k <= uint8_t(raft::entry_kind::voters);
}

bool known_fetch_error(uint8_t e) {
    return e <= uint8_t(raft::fetch_error::fenced_epoch);
}

std::optional<raft::message_body> decode_body(const fbs::RaftMessage& m, std::string_view& why) {
    switch (m.body_type()) {
        case fbs::RaftBody::RaftPreVoteRequest: {
            const auto* b = m.body_as_RaftPreVoteRequest();
            return raft::pre_vote_request{
                term_t(b->term()), offset_t(b->end_offset()), term_t(b->last_epoch()),
                raft::directory_id{b->voter_directory_hi(), b->voter_directory_lo()},
                raft::directory_id{b->candidate_directory_hi(), b->candidate_directory_lo()}};
        }
        case fbs::RaftBody::RaftPreVoteResponse: {
            const auto* b = m.body_as_RaftPreVoteResponse();
            return raft::pre_vote_response{
                term_t(b->term()), b->granted(), node_id_t(b->leader()),
                raft::directory_id{b->directory_hi(), b->directory_lo()}};
        }
        case fbs::RaftBody::RaftVoteRequest: {
            const auto* b = m.body_as_RaftVoteRequest();
            return raft::vote_request{
                term_t(b->term()), offset_t(b->end_offset()), term_t(b->last_epoch()),
                raft::directory_id{b->voter_directory_hi(), b->voter_directory_lo()},
                raft::directory_id{b->candidate_directory_hi(), b->candidate_directory_lo()}};
        }
        case fbs::RaftBody::RaftVoteResponse: {
            const auto* b = m.body_as_RaftVoteResponse();
            return raft::vote_response{term_t(b->term()), b->granted(), node_id_t(b->leader()),
                                       raft::directory_id{b->directory_hi(), b->directory_lo()}};
        }
        case fbs::RaftBody::RaftBeginEpoch:
            return raft::begin_epoch{term_t(m.body_as_RaftBeginEpoch()->term())};
        case fbs::RaftBody::RaftFetchRequest: {
            const auto* b = m.body_as_RaftFetchRequest();
            return raft::fetch_request{term_t(b->term()), offset_t(b->fetch_offset()),
                                       term_t(b->last_fetched_epoch()),
                                       offset_t(b->high_watermark())};
        }
        case fbs::RaftBody::RaftFetchResponse: {
            const auto* b = m.body_as_RaftFetchResponse();
            if (!known_fetch_error(b->error())) {
                why = "fetch_response with an unknown error";
                return std::nullopt;
            }
            raft::fetch_response r{term_t(b->term()),
                                   node_id_t(b->leader()),
                                   raft::fetch_error(b->error()),
                                   offset_t(b->fetch_offset()),
                                   term_t(b->last_fetched_epoch()),
                                   offset_t(b->high_watermark()),
                                   {},
                                   {},
                                   {}};
            if (const auto* entries = b->entries()) {
                r.entries.reserve(entries->size());
                for (const fbs::RaftEntry* e : *entries) {
                    if (!known_kind(e->kind())) {
                        why = "fetch_response with an entry of unknown kind";
                        return std::nullopt;
                    }
                    r.entries.push_back(raft::entry{term_t(e->term()), raft::entry_kind(e->kind()),
                                                    decode_bytes(e->data()),
                                                    decode_ids(e->voters())});
                }
            }
            if (const auto* d = b->diverging()) {
                r.diverging = raft::epoch_end{term_t(d->epoch()), offset_t(d->end_offset())};
            }
            if (const auto* s = b->snapshot()) {
                r.snapshot = decode_id(*s);
            }
            return r;
        }
        case fbs::RaftBody::RaftFetchSnapshotRequest: {
            const auto* b = m.body_as_RaftFetchSnapshotRequest();
            if (b->id() == nullptr) {
                why = "fetch_snapshot_request without a snapshot id";
                return std::nullopt;
            }
            return raft::fetch_snapshot_request{term_t(b->term()), decode_id(*b->id()),
                                                b->position_bytes()};
        }
        case fbs::RaftBody::RaftFetchSnapshotResponse: {
            const auto* b = m.body_as_RaftFetchSnapshotResponse();
            if (b->id() == nullptr) {
                why = "fetch_snapshot_response without a snapshot id";
                return std::nullopt;
            }
            return raft::fetch_snapshot_response{term_t(b->term()),       node_id_t(b->leader()),
                                                 decode_id(*b->id()),     b->found(),
                                                 b->position_bytes(),     b->size_bytes(),
                                                 decode_ids(b->voters()), decode_bytes(b->chunk())};
        }
        case fbs::RaftBody::NONE:
            break;
    }
    why = "a RaftMessage without a known body";
    return std::nullopt;
}

}  // namespace

std::vector<std::byte> encode_raft_frame(std::string_view cluster_id, const raft::message& m) {
    frame::writer w;
    fb& b = w.fbb();
    const encoded_body body = std::visit([&](const auto& x) { return encode_body(b, x); }, m.body);
    const auto cluster = b.CreateString(cluster_id.data(), cluster_id.size());
    const auto raft =
        fbs::CreateRaftMessage(b, cluster, m.from.value(), m.to.value(), body.type, body.body);
    w.finish(frame::make_envelope(b, fbs::ApiKey::RaftMessage, 0, 0, fbs::Body::RaftMessage,
                                  raft.Union()));
    return w.to_bytes();
}

std::optional<raft_frame> decode_raft_frame(std::span<const std::byte> bytes,
                                            std::string_view* why) {
    std::string_view reason;
    auto fail = [&](std::string_view r) -> std::optional<raft_frame> {
        if (why != nullptr) {
            *why = r;
        }
        return std::nullopt;
    };
    auto f = frame::parse(bytes);
    if (!f) {
        return fail("not a valid frame");
    }
    const fbs::Envelope* env = f.value().envelope;
    if (env->api_key() != fbs::ApiKey::RaftMessage) {
        return fail("not a RaftMessage frame");
    }
    const fbs::RaftMessage* m = env->body_as_RaftMessage();
    if (m == nullptr) {
        return fail("a RaftMessage frame without a RaftMessage body");
    }
    if (m->cluster_id() == nullptr) {
        return fail("a RaftMessage without a cluster id");
    }
    if (m->body() == nullptr) {
        // A body type without a body: every body_as_*() would hand out a null table.
        return fail("a RaftMessage without a known body");
    }
    auto body = decode_body(*m, reason);
    if (!body) {
        return fail(reason);
    }
    return raft_frame{m->cluster_id()->str(),
                      raft::message{node_id_t(m->from()), node_id_t(m->to()), std::move(*body)}};
}

}  // namespace sluice::controller
