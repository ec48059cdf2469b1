#include "sluice/controller/raft_storage.h"

#include <fmt/format.h>

#include "sluice/controller/quorum_state.h"
#include "sluice/protocol/byte_order.h"
#include "sluice/protocol/crc32c.h"
#include "sluice/protocol/errc.h"
#include "sluice/protocol/record_batch.h"
#include "sluice/storage/log.h"

namespace sluice::controller {
namespace {

// ---- entries as record batches: one record, key = kind (1 byte) and term (8 bytes, big
// endian), value = the data (data entries), the voter ids as 4-byte big-endian ints (voters
// entries) or null (leader change). The batch's leader epoch is the term where it fits.

constexpr size_t entry_key_size = 9;

// ---- the snapshot file:
//   "SLSN" | u32 version (1) | i64 end offset | i64 term | u32 voter count | i32 voters... |
//   u64 data length | data | u32 CRC-32C of everything before it
constexpr std::string_view snapshot_magic = "SLSN";
constexpr uint32_t snapshot_version = 1;
constexpr size_t snapshot_fixed_bytes = 4 + 4 + 8 + 8 + 4 + 8 + 4;

template <typename T>
void put_be(std::vector<std::byte>& out, T v) {
    const size_t at = out.size();
    out.resize(at + sizeof(T));
    store_be<T>(out.data() + at, v);
}

std::vector<std::byte> encode_snapshot(const raft::snapshot& s) {
    std::vector<std::byte> out;
    out.reserve(snapshot_fixed_bytes + 4 * s.voters.size() + s.data.size());
    for (char c : snapshot_magic) {
        out.push_back(std::byte(c));
    }
    put_be<uint32_t>(out, snapshot_version);
    put_be<int64_t>(out, s.id.end_offset.value());
    put_be<int64_t>(out, s.id.term.value());
    put_be<uint32_t>(out, uint32_t(s.voters.size()));
    for (node_id_t v : s.voters) {
        put_be<int32_t>(out, v.value());
    }
    put_be<uint64_t>(out, s.data.size());
    const auto* data = reinterpret_cast<const std::byte*>(s.data.data());
    out.insert(out.end(), data, data + s.data.size());
    put_be<uint32_t>(out, crc32c::value(out));
    return out;
}

// The snapshot in `bytes`, or nullopt with `why`.
std::optional<raft::snapshot> decode_snapshot(std::span<const std::byte> bytes,
                                              std::string_view& why) {
    if (bytes.size() < snapshot_fixed_bytes ||
        std::string_view(reinterpret_cast<const char*>(bytes.data()), 4) != snapshot_magic) {
        why = "too short or bad magic";
        return std::nullopt;
    }
    const size_t body = bytes.size() - 4;
    if (load_be<uint32_t>(bytes.data() + body) != crc32c::value(bytes.first(body))) {
        why = "bad CRC";
        return std::nullopt;
    }
    if (load_be<uint32_t>(bytes.data() + 4) != snapshot_version) {
        why = "unknown version";
        return std::nullopt;
    }
    raft::snapshot s;
    s.id.end_offset = offset_t(load_be<int64_t>(bytes.data() + 8));
    s.id.term = term_t(load_be<int64_t>(bytes.data() + 16));
    const uint64_t voters = load_be<uint32_t>(bytes.data() + 24);
    size_t at = 28;
    if (voters > (body - at) / 4) {
        why = "voter count past the end";
        return std::nullopt;
    }
    for (uint64_t i = 0; i < voters; ++i, at += 4) {
        s.voters.push_back(node_id_t(load_be<int32_t>(bytes.data() + at)));
    }
    if (body - at < 8) {
        why = "data length past the end";
        return std::nullopt;
    }
    const uint64_t data = load_be<uint64_t>(bytes.data() + at);
    at += 8;
    if (data != body - at) {
        why = "data length does not match the file";
        return std::nullopt;
    }
    s.data.assign(reinterpret_cast<const char*>(bytes.data() + at), size_t(data));
    if (s.id.end_offset < offset_t(0) || s.id.term < term_t(0)) {
        why = "negative offset or term";
        return std::nullopt;
    }
    return s;
}

// Replaces the snapshot file: a temporary file, fsynced, renamed, the directory fsynced.
result<void> save_snapshot(storage::file_system& fs, const std::filesystem::path& dir,
                           const raft::snapshot& s) {
    const auto path = dir / raft_snapshot_file;
    auto tmp = path;
    tmp += ".tmp";
    SLUICE_TRY(fs.remove(tmp));
    {
        SLUICE_TRY(auto f, fs.open(tmp, storage::open_mode::read_write));
        size_t written = 0;  // a short file is refused at open: no need to cut it here
        SLUICE_TRY(storage::append_all(*f, encode_snapshot(s), written));
        SLUICE_TRY(f->sync());
    }
    SLUICE_TRY(fs.rename(tmp, path));
    return fs.sync_directory(dir);
}

struct snapshot_load {
    std::optional<raft::snapshot> snap;
    std::string problem;
};

result<snapshot_load> load_snapshot(storage::file_system& fs, const std::filesystem::path& dir) {
    const auto path = dir / raft_snapshot_file;
    SLUICE_TRY(bool present, fs.exists(path));
    if (!present) {
        return snapshot_load{};
    }
    SLUICE_TRY(auto f, fs.open(path, storage::open_mode::read_only));
    SLUICE_TRY(uint64_t size, f->size());
    std::vector<std::byte> bytes(static_cast<size_t>(size));
    SLUICE_TRY(size_t got, f->read_at(0, bytes));
    bytes.resize(got);
    std::string_view why;
    auto snap = decode_snapshot(bytes, why);
    if (!snap) {
        return snapshot_load{
            {},
            fmt::format("{} is damaged ({}): the entries it replaced are gone from the log; "
                        "restore the file, or remove this node's metadata directory so that it "
                        "starts as a new, empty replica",
                        path.string(), why)};
    }
    return snapshot_load{std::move(snap), {}};
}

// A voter set as the core writes one: ids ascending without repeats, none negative.
bool voters_ok(const std::vector<node_id_t>& v) {
    for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] < node_id_t(0) || (i > 0 && v[i] <= v[i - 1])) {
            return false;
        }
    }
    return true;
}

// Once the log holds no entry at or past the snapshot's end, it restarts there, empty: the
// entries below are the snapshot's, and some may be from a history the leader replaced, whose
// terms must not hold back the next appends.
result<bool> restart_if_covered(storage::partition_log& log, offset_t snap_end) {
    if (log.end_offset() > snap_end ||
        (log.start_offset() == snap_end && log.end_offset() == snap_end)) {
        return false;
    }
    SLUICE_TRY(log.restart_at(snap_end));
    return true;
}

storage::log_options log_options_for(storage::file_system& fs, const std::filesystem::path& dir) {
    storage::log_options o;
    o.dir = dir;
    o.fs = &fs;
    // Entries leave the log only below a snapshot: never by size or age.
    o.config.retention_bytes = -1;
    o.config.retention_ms = -1;
    o.config.segment_ms = INT64_MAX;
    return o;
}

}  // namespace

std::vector<std::byte> encode_entry_batch(const raft::entry& e, offset_t offset) {
    std::byte key[entry_key_size];
    key[0] = std::byte(e.kind);
    store_be<int64_t>(key + 1, e.term.value());
    std::vector<std::byte> voters;
    std::optional<bytes_view> value;
    switch (e.kind) {
        case raft::entry_kind::data:
            value = as_bytes(e.data);
            break;
        case raft::entry_kind::voters:
            for (node_id_t v : e.voters) {
                put_be<int32_t>(voters, v.value());
            }
            value = bytes_view(voters);
            break;
        case raft::entry_kind::leader_change:
            break;
    }
    batch_builder b;
    b.add(record_input{bytes_view(key, entry_key_size), value, timestamp_ms_t(0), {}});
    auto batch = b.finish();
    set_base_offset(batch, offset);
    set_leader_epoch(
        batch, leader_epoch_t(e.term.value() <= INT32_MAX ? int32_t(e.term.value()) : INT32_MAX));
    return batch;
}

std::optional<raft::entry> decode_entry_batch(std::span<const std::byte> batch,
                                              std::string_view& why) {
    auto parsed = batch_view::parse(batch);
    if (!parsed) {
        why = "not a valid record batch";
        return std::nullopt;
    }
    const batch_view& v = parsed.value();
    if (v.header().record_count != 1) {
        why = "a batch of more than one record";
        return std::nullopt;
    }
    auto it = v.records();
    record_view r;
    if (!it.next(r) || !r.key || r.key->size() != entry_key_size) {
        why = "a record without an entry key";
        return std::nullopt;
    }
    const auto kind = uint8_t(r.key->front());
    if (kind > uint8_t(raft::entry_kind::voters)) {
        why = "an entry of unknown kind";
        return std::nullopt;
    }
    raft::entry e;
    e.kind = raft::entry_kind(kind);
    e.term = term_t(load_be<int64_t>(r.key->data() + 1));
    switch (e.kind) {
        case raft::entry_kind::data:
            if (!r.value) {
                why = "a data entry without a value";
                return std::nullopt;
            }
            e.data = std::string(as_string(*r.value));
            break;
        case raft::entry_kind::voters:
            if (!r.value || r.value->size() % 4 != 0) {
                why = "a voters entry whose value is not a list of ids";
                return std::nullopt;
            }
            for (size_t at = 0; at < r.value->size(); at += 4) {
                e.voters.push_back(node_id_t(load_be<int32_t>(r.value->data() + at)));
            }
            break;
        case raft::entry_kind::leader_change:
            if (r.value) {
                why = "a leader change entry with a value";
                return std::nullopt;
            }
            break;
    }
    return e;
}

raft_storage::raft_storage(storage::file_system& fs, std::filesystem::path dir, node_id_t self,
                           std::unique_ptr<storage::partition_log> log,
                           std::optional<raft::snapshot_id> snap)
    : fs_(fs), dir_(std::move(dir)), self_(self), log_(std::move(log)), snap_(snap) {}

raft_storage::~raft_storage() {
    if (log_) {
        (void)log_->close();
    }
}

result<raft_storage::opened> raft_storage::open(storage::file_system& fs,
                                                const std::filesystem::path& dir, node_id_t self) {
    SLUICE_TRY(bool existed, fs.exists(dir));
    SLUICE_TRY(fs.create_directories(dir));
    if (!existed && dir.has_parent_path()) {
        // The directory's own entry must be durable before a vote is recorded inside it.
        SLUICE_TRY(fs.sync_directory(dir.parent_path()));
    }
    opened out;
    SLUICE_TRY(auto quorum, load_quorum_state(fs, dir, self));
    if (!quorum.problem.empty()) {
        out.problem = std::move(quorum.problem);
        return out;
    }
    SLUICE_TRY(auto snapshot, load_snapshot(fs, dir));
    if (!snapshot.problem.empty()) {
        out.problem = std::move(snapshot.problem);
        return out;
    }
    SLUICE_TRY(auto log, storage::partition_log::open(log_options_for(fs, dir)));
    const offset_t snap_end = snapshot.snap ? snapshot.snap->id.end_offset : offset_t(0);
    if (log->start_offset() > snap_end) {
        out.problem = fmt::format(
            "{}: the log starts at offset {}, but {}: the entries before it are lost; remove "
            "this node's metadata directory so that it starts as a new, empty replica",
            dir.string(), log->start_offset().value(),
            snapshot.snap ? fmt::format("the snapshot ends at {}", snap_end.value())
                          : std::string("there is no snapshot"));
        return out;
    }
    if (snapshot.snap) {
        // A crash after the snapshot was written and before the log restarted at its end.
        SLUICE_TRY(bool restarted, restart_if_covered(*log, snap_end));
        if (restarted) {
            SLUICE_TRY(log->flush());
        }
        if (!voters_ok(snapshot.snap->voters)) {
            out.problem = fmt::format(
                "{}: the snapshot's voter set is not one the core writes; "
                "remove this node's metadata directory so that it starts "
                "as a new, empty replica",
                dir.string());
            return out;
        }
    }
    // Terms never fall along a log, and the core relies on it.
    term_t last_term = snapshot.snap ? snapshot.snap->id.term : term_t(0);
    // The entries from the snapshot's end on; any below it are the snapshot's.
    offset_t at = snap_end;
    while (at < log->end_offset()) {
        SLUICE_TRY(auto read, log->read(at, 1u << 20));
        batch_reader reader(read.bytes);
        const offset_t before = at;
        std::string_view why = "an unreadable batch";
        while (true) {
            auto next = reader.next();
            if (!next || !next.value()) {
                break;
            }
            const batch_view& b = *next.value();
            auto e = decode_entry_batch(b.bytes(), why);
            if (!e) {
                break;
            }
            if (b.header().base_offset != at) {
                why = "offsets are not dense";
                break;
            }
            if (e->term <= term_t(0) || e->term < last_term) {
                why = "its term is not positive or falls";
                break;
            }
            if (e->kind == raft::entry_kind::voters && !voters_ok(e->voters)) {
                why = "a voter set the core does not write";
                break;
            }
            last_term = e->term;
            out.state.entries.push_back(std::move(*e));
            at = at + 1;
        }
        if (at == before || (at < read.next_offset && at < log->end_offset())) {
            out.problem = fmt::format(
                "{}: the log at offset {} is not an entry ({}); remove this node's metadata "
                "directory so that it starts as a new, empty replica",
                dir.string(), at.value(), why);
            return out;
        }
    }
    out.state.hard = quorum.state.value_or(raft::hard_state{});
    std::optional<raft::snapshot_id> id;
    if (snapshot.snap) {
        id = snapshot.snap->id;
    }
    out.state.snap = std::move(snapshot.snap);
    out.storage.reset(new raft_storage(fs, dir, self, std::move(log), id));
    return out;
}

result<void> raft_storage::persist(const raft::ready& rd) {
    bool log_changed = false;
    if (rd.truncate_to && *rd.truncate_to < log_->end_offset()) {
        SLUICE_TRY(log_->truncate_to(std::max(*rd.truncate_to, start_offset())));
        log_changed = true;
    }
    if (rd.snap) {
        SLUICE_TRY(save_snapshot(fs_, dir_, *rd.snap));
        snap_ = rd.snap->id;
    }
    if (snap_ && (rd.snap || rd.truncate_to)) {
        SLUICE_TRY(bool restarted, restart_if_covered(*log_, snap_->end_offset));
        log_changed = log_changed || restarted;
    }
    if (!rd.entries.empty()) {
        if (rd.entries_offset != end_offset()) {
            return make_error_code(errc::offset_out_of_range);
        }
        offset_t at = rd.entries_offset;
        for (const raft::entry& e : rd.entries) {
            SLUICE_TRY(log_->append_replicated(encode_entry_batch(e, at)));
            at = at + 1;
        }
        log_changed = true;
    }
    if (log_changed) {
        SLUICE_TRY(log_->flush());
    }
    if (rd.hard) {
        SLUICE_TRY(save_quorum_state(fs_, dir_, self_, *rd.hard));
    }
    return success();
}

offset_t raft_storage::start_offset() const {
    return snap_ ? snap_->end_offset : log_->start_offset();
}

offset_t raft_storage::end_offset() const {
    return log_->end_offset();
}

}  // namespace sluice::controller
