#include "sluice/controller/raft_storage.h"

#include <fmt/format.h>

#include "sluice/controller/quorum_state.h"
#include "sluice/core/logging.h"
#include "sluice/protocol/byte_order.h"
#include "sluice/protocol/errc.h"
#include "sluice/protocol/record_batch.h"
#include "sluice/storage/log.h"

namespace sluice::controller {

namespace logging = broker::logging;

namespace {

// ---- entries as record batches: one record, key = kind (1 byte) and term (8 bytes, big
// endian), value = the data (data entries), the voter ids as 4-byte big-endian ints (voters
// entries) or null (leader change). The batch's leader epoch is the term where it fits.

constexpr size_t entry_key_size = 9;

struct snapshot_load {
    std::optional<snapshot_file_info> snap;
    std::string problem;
};

result<snapshot_load> load_snapshot(storage::file_system& fs, const std::filesystem::path& dir) {
    const auto path = dir / raft_snapshot_file;
    SLUICE_TRY(bool present, fs.exists(path));
    if (!present) {
        return snapshot_load{};
    }
    SLUICE_TRY(auto f, fs.open(path, storage::open_mode::read_only));
    std::string why;
    SLUICE_TRY(auto info, inspect_snapshot_file(*f, why));
    if (!info) {
        return snapshot_load{
            {},
            fmt::format("{} is damaged ({}): the entries it replaced are gone from the log; "
                        "restore the file, or remove this node's metadata directory so that it "
                        "starts as a new, empty replica",
                        path.string(), why)};
    }
    return snapshot_load{std::move(info), {}};
}

// Where the application writes the snapshot `id` before the core takes it.
std::filesystem::path local_snapshot_path(const std::filesystem::path& dir,
                                          const raft::snapshot_id& id) {
    return dir / fmt::format("{}.{}-{}.tmp", raft_snapshot_file, id.end_offset, id.term);
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

storage::log_options log_options_for(storage::file_system& fs, const std::filesystem::path& dir,
                                     uint64_t segment_bytes) {
    storage::log_options o;
    o.dir = dir;
    o.fs = &fs;
    o.config.segment_bytes = segment_bytes;
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
                           std::optional<snapshot_file_info> snap)
    : fs_(fs), dir_(std::move(dir)), self_(self), log_(std::move(log)), snap_(std::move(snap)) {}

raft_storage::~raft_storage() {
    if (log_) {
        (void)log_->close();
    }
}

result<raft_storage::opened> raft_storage::open(storage::file_system& fs,
                                                const std::filesystem::path& dir, node_id_t self,
                                                uint64_t segment_bytes) {
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
    // Snapshot files that were never taken: a crash before the ready that names them.
    SLUICE_TRY(auto names, fs.list(dir));
    for (const std::string& name : names) {
        if (name == raft_snapshot_download_file ||
            (name.starts_with(std::string(raft_snapshot_file) + ".") && name.ends_with(".tmp"))) {
            SLUICE_TRY(fs.remove(dir / name));
        }
    }
    SLUICE_TRY(auto loaded, load_snapshot(fs, dir));
    if (!loaded.problem.empty()) {
        out.problem = std::move(loaded.problem);
        return out;
    }
    std::optional<raft::snapshot> snapshot;
    if (loaded.snap) {
        snapshot = loaded.snap->snap;
    }
    SLUICE_TRY(auto log, storage::partition_log::open(log_options_for(fs, dir, segment_bytes)));
    const offset_t snap_end = snapshot ? snapshot->id.end_offset : offset_t(0);
    if (log->start_offset() > snap_end) {
        out.problem = fmt::format(
            "{}: the log starts at offset {}, but {}: the entries before it are lost; remove "
            "this node's metadata directory so that it starts as a new, empty replica",
            dir.string(), log->start_offset().value(),
            snapshot ? fmt::format("the snapshot ends at {}", snap_end.value())
                     : std::string("there is no snapshot"));
        return out;
    }
    if (snapshot) {
        // A crash after the snapshot was written and before the log restarted at its end, or
        // before the segments below it were deleted.
        SLUICE_TRY(bool restarted, restart_if_covered(*log, snap_end));
        if (restarted) {
            SLUICE_TRY(log->flush());
        }
        SLUICE_TRY(log->delete_segments_below(snap_end));
        if (!voters_ok(snapshot->voters)) {
            out.problem = fmt::format(
                "{}: the snapshot's voter set is not one the core writes; "
                "remove this node's metadata directory so that it starts "
                "as a new, empty replica",
                dir.string());
            return out;
        }
    }
    // Terms never fall along a log, and the core relies on it.
    term_t last_term = snapshot ? snapshot->id.term : term_t(0);
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
    out.state.snap = std::move(snapshot);
    out.storage.reset(new raft_storage(fs, dir, self, std::move(log), std::move(loaded.snap)));
    return out;
}

result<void> raft_storage::persist(const raft::ready& rd) {
    bool log_changed = false;
    if (rd.truncate_to && *rd.truncate_to < log_->end_offset()) {
        SLUICE_TRY(log_->truncate_to(std::max(*rd.truncate_to, start_offset())));
        log_changed = true;
    }
    if (rd.snap_chunk) {
        SLUICE_TRY(write_chunk(*rd.snap_chunk));
    }
    if (rd.snap) {
        SLUICE_TRY(install(*rd.snap, rd.restore_snapshot));
    }
    if (snap_ && (rd.snap || rd.truncate_to)) {
        SLUICE_TRY(bool restarted, restart_if_covered(*log_, snap_->snap.id.end_offset));
        log_changed = log_changed || restarted;
    }
    if (rd.snap) {
        // The snapshot is durable: the segments it replaced whole are not needed again.
        SLUICE_TRY(log_->delete_segments_below(snap_->snap.id.end_offset));
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

result<void> raft_storage::write_chunk(const raft::snapshot_chunk& c) {
    if (c.position == 0) {
        download_.reset();
        received_.reset();
        const auto path = dir_ / raft_snapshot_download_file;
        SLUICE_TRY(fs_.remove(path));
        SLUICE_TRY(download_, fs_.open(path, storage::open_mode::read_write));
        download_id_ = c.id;
        download_bytes_ = 0;
    }
    if (!download_ || download_id_ != c.id || c.position != download_bytes_) {
        return make_error_code(errc::offset_out_of_range);
    }
    size_t written = 0;
    auto appended = storage::append_all(*download_, as_bytes(c.bytes), written);
    download_bytes_ += int64_t(written);
    return appended;
}

result<bool> raft_storage::check_received(const raft::snapshot& s) {
    received_.reset();
    if (!download_ || download_id_ != s.id) {
        return false;
    }
    SLUICE_TRY(download_->sync());
    download_.reset();
    const auto path = dir_ / raft_snapshot_download_file;
    SLUICE_TRY(auto f, fs_.open(path, storage::open_mode::read_only));
    std::string why;
    SLUICE_TRY(auto info, inspect_snapshot_file(*f, why));
    if (!info || info->snap != s) {
        logging::error(
            "{}: the snapshot ending at offset {} (term {}) received from the leader does not "
            "check ({}); it is fetched again",
            dir_.string(), s.id.end_offset, s.id.term, info ? "not the snapshot named" : why);
        SLUICE_TRY(fs_.remove(path));
        return false;
    }
    received_ = std::move(info);
    return true;
}

result<void> raft_storage::install(const raft::snapshot& s, bool downloaded) {
    const auto from =
        downloaded ? dir_ / raft_snapshot_download_file : local_snapshot_path(dir_, s.id);
    std::optional<snapshot_file_info> info;
    if (downloaded) {
        // Checked (and synced) by check_received(), before the core installs it.
        if (!received_ || received_->snap != s) {
            return make_error_code(errc::offset_out_of_range);
        }
        info = std::move(received_);
        received_.reset();
    } else {
        SLUICE_TRY(auto f, fs_.open(from, storage::open_mode::read_only));
        std::string why;
        SLUICE_TRY(info, inspect_snapshot_file(*f, why));
        if (!info || info->snap != s) {
            logging::error(
                "{}: the snapshot ending at offset {} (term {}) written here does "
                "not check: {}",
                dir_.string(), s.id.end_offset, s.id.term, info ? "not the snapshot named" : why);
            return make_error_code(errc::corrupt_message);
        }
    }
    snap_reader_.reset();
    SLUICE_TRY(fs_.rename(from, dir_ / raft_snapshot_file));
    if (from == local_) {
        local_.clear();
    }
    SLUICE_TRY(fs_.sync_directory(dir_));
    snap_ = std::move(info);
    return success();
}

result<std::unique_ptr<snapshot_writer>> raft_storage::begin_snapshot(const raft::snapshot_id& id) {
    if (!local_.empty()) {
        SLUICE_TRY(fs_.remove(local_));  // one begun before and never taken
    }
    local_ = local_snapshot_path(dir_, id);
    return snapshot_writer::create(fs_, local_);
}

result<std::optional<std::string>> raft_storage::read_snapshot(const raft::snapshot_id& id,
                                                               int64_t position, int64_t length) {
    if (!snap_ || snap_->snap.id != id || position < 0 || position > snap_->snap.size_bytes ||
        length < 0) {
        return std::optional<std::string>{};
    }
    const int64_t n = std::min(length, snap_->snap.size_bytes - position);
    if (!snap_reader_) {
        SLUICE_TRY(snap_reader_,
                   fs_.open(dir_ / raft_snapshot_file, storage::open_mode::read_only));
    }
    std::string out(size_t(n), '\0');
    SLUICE_TRY(size_t got,
               snap_reader_->read_at(uint64_t(position), std::as_writable_bytes(std::span(out))));
    if (got != out.size()) {
        return make_error_code(errc::corrupt_message);  // the file shrank under us
    }
    return std::optional<std::string>(std::move(out));
}

result<std::string> raft_storage::read_snapshot_data(int64_t position, int64_t length) {
    if (!snap_ || position < 0 || length < 0 || position > snap_->data_bytes) {
        return make_error_code(errc::offset_out_of_range);
    }
    SLUICE_TRY(auto bytes, read_snapshot(snap_->snap.id, position,
                                         std::min(length, snap_->data_bytes - position)));
    return std::move(*bytes);
}

offset_t raft_storage::start_offset() const {
    return snap_ ? snap_->snap.id.end_offset : log_->start_offset();
}

offset_t raft_storage::end_offset() const {
    return log_->end_offset();
}

}  // namespace sluice::controller
