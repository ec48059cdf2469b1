// A controller's durable Raft state: entries as record batches, the snapshot file and the
// quorum-state file. Random readies, persisted and reopened, read back exactly as the model disk
// (tests/support/raft_disk.h) holds them; damaged files stop the node with a reason.
#include <doctest/doctest.h>

#include <fstream>
#include <random>

#include "../support/raft_disk.h"
#include "../support/temp_dir.h"
#include "sluice/controller/raft_storage.h"
#include "sluice/protocol/errc.h"
#include "sluice/protocol/record_batch.h"
#include "sluice/storage/log.h"

using namespace sluice;
using namespace sluice::controller;

namespace {

storage::file_system& fs() {
    return storage::posix_file_system();
}

raft_storage::opened open_dir(const std::filesystem::path& dir) {
    auto r = raft_storage::open(fs(), dir, node_id_t(1));
    REQUIRE(r);
    return std::move(r).value();
}

raft::entry data_entry(int64_t term, std::string data) {
    return raft::entry{term_t(term), raft::entry_kind::data, std::move(data), {}};
}

// The application takes a snapshot holding `data` on `storage`: its file, written in two chunks.
raft::snapshot take_snapshot(raft_storage& storage, raft::snapshot_id id,
                             std::vector<node_id_t> voters, std::string_view data) {
    auto w = storage.begin_snapshot(id);
    REQUIRE(w);
    const auto bytes = std::as_bytes(std::span(data));
    REQUIRE(w.value()->append(bytes.first(bytes.size() / 2)));
    REQUIRE(w.value()->append(bytes.subspan(bytes.size() / 2)));
    auto size = w.value()->finish(id, voters);
    REQUIRE(size);
    return raft::snapshot{id, std::move(voters), size.value()};
}

// The bytes of the file of snapshot `id` holding `data`, as a leader serves them.
std::string snapshot_file_bytes(raft::snapshot_id id, const std::vector<node_id_t>& voters,
                                std::string_view data) {
    testing::temp_dir dir;
    auto opened = open_dir(dir.path());
    REQUIRE(opened.storage);
    const raft::snapshot s = take_snapshot(*opened.storage, id, voters, data);
    raft::ready rd;
    rd.snap = s;
    REQUIRE(opened.storage->persist(rd));
    auto bytes = opened.storage->read_snapshot(id, 0, s.size_bytes);
    REQUIRE(bytes);
    REQUIRE(bytes.value());
    return std::move(*bytes.value());
}

}  // namespace

TEST_CASE("an entry of each kind is one record batch and back") {
    const std::vector<raft::entry> entries{
        data_entry(3, "topic created"),
        data_entry(3, ""),
        raft::entry{term_t(4), raft::entry_kind::leader_change, {}, {}},
        raft::entry{term_t(5), raft::entry_kind::voters, {}, {node_id_t(1), node_id_t(3)}},
        raft::entry{term_t(int64_t(1) << 40), raft::entry_kind::voters, {}, {}},
    };
    for (const raft::entry& e : entries) {
        const auto batch = encode_entry_batch(e, offset_t(42));
        auto view = batch_view::parse(batch);
        REQUIRE(view);
        CHECK(view.value().header().base_offset == offset_t(42));
        std::string_view why;
        auto back = decode_entry_batch(batch, why);
        REQUIRE(back);
        CHECK(*back == e);
    }
    // A batch that is not an entry: two records.
    batch_builder b;
    const std::string v = "x";
    b.add(record_input{as_bytes(v), as_bytes(v), timestamp_ms_t(0), {}});
    b.add(record_input{as_bytes(v), as_bytes(v), timestamp_ms_t(0), {}});
    std::string_view why;
    CHECK_FALSE(decode_entry_batch(b.finish(), why));
    CHECK(why == "a batch of more than one record");
    b.add(record_input{as_bytes(v), as_bytes(v), timestamp_ms_t(0), {}});
    CHECK_FALSE(decode_entry_batch(b.finish(), why));
    CHECK(why == "a record without an entry key");
}

TEST_CASE("random readies persist and reopen exactly as the model disk holds them") {
    for (uint64_t seed = 1; seed <= 6; ++seed) {
        CAPTURE(seed);
        testing::temp_dir dir;
        std::mt19937_64 rng(seed);
        testing::raft_disk model;
        auto opened = open_dir(dir.path());
        REQUIRE(opened.problem.empty());
        REQUIRE(opened.storage);
        CHECK(opened.state.entries.empty());
        auto storage = std::move(opened.storage);
        int64_t term = 1;
        for (int step = 0; step < 60; ++step) {
            raft::ready rd;
            const int64_t start = model.start().value();
            const int64_t end = model.end().value();
            if (end > start && rng() % 5 == 0) {
                rd.truncate_to = offset_t(start + int64_t(rng() % uint64_t(end - start + 1)));
            }
            if (rng() % 7 == 0) {
                // Anywhere from the current start to a little past the end (a leader's
                // snapshot ahead of this log).
                raft::snapshot s;
                s.id.end_offset = offset_t(start + int64_t(rng() % uint64_t(end - start + 4)));
                // The term of the entry before its end, as in a real log; past the end, the
                // leader's own (at least every term here).
                const int64_t last = s.id.end_offset.value() - 1;
                if (last >= start && last < end) {
                    s.id.term = model.state.entries[size_t(last - start)].term;
                } else if (last == start - 1) {
                    s.id.term = model.state.snap ? model.state.snap->id.term : term_t(0);
                } else {
                    s.id.term = term_t(term);
                }
                s.voters = {node_id_t(1), node_id_t(2), node_id_t(3)};
                const std::string data(rng() % 5000, char('a' + rng() % 26));
                if (rng() % 2 == 0) {
                    rd.snap = take_snapshot(*storage, s.id, s.voters, data);
                } else {
                    // Downloaded from a leader in chunks, in readies of their own; the file
                    // received is checked, then installed.
                    const std::string file = snapshot_file_bytes(s.id, s.voters, data);
                    const size_t chunk = 1 + rng() % 3000;
                    for (size_t at = 0; at < file.size(); at += chunk) {
                        raft::ready part;
                        part.snap_chunk =
                            raft::snapshot_chunk{s.id, int64_t(at), file.substr(at, chunk)};
                        part.entries_offset = model.end();
                        REQUIRE(model.persist(part));
                        REQUIRE(storage->persist(part));
                    }
                    s.size_bytes = int64_t(file.size());
                    auto checked = storage->check_received(s);
                    REQUIRE(checked);
                    REQUIRE(checked.value());
                    rd.snap = s;
                    rd.restore_snapshot = true;
                }
            }
            // What the model's log end will be once the truncation and snapshot are applied.
            testing::raft_disk probe = model;
            raft::ready head;
            head.truncate_to = rd.truncate_to;
            head.snap = rd.snap;
            head.entries_offset = offset_t(-1);
            (void)probe.persist(head);  // refuses the entries part only: nothing to append
            rd.entries_offset = probe.end();
            if (rd.truncate_to) {
                // As a follower that lost a failed leader's entries: the next ones may carry a
                // lower term than the cut ones, as low as the last kept entry's.
                term = !probe.state.entries.empty() ? probe.state.entries.back().term.value()
                       : probe.state.snap           ? probe.state.snap->id.term.value()
                                                    : 1;
            }
            const size_t n = rng() % 6;
            for (size_t i = 0; i < n; ++i) {
                if (rng() % 4 == 0) {
                    ++term;
                }
                switch (rng() % 6) {
                    case 0:
                        rd.entries.push_back(
                            raft::entry{term_t(term), raft::entry_kind::leader_change, {}, {}});
                        break;
                    case 1:
                        rd.entries.push_back(raft::entry{term_t(term),
                                                         raft::entry_kind::voters,
                                                         {},
                                                         {node_id_t(1), node_id_t(2)}});
                        break;
                    default:
                        rd.entries.push_back(data_entry(term, std::string(rng() % 300, 'd')));
                }
            }
            if (rng() % 2 == 0) {
                rd.hard = raft::hard_state{term_t(term), node_id_t(int32_t(rng() % 3)),
                                           offset_t(int64_t(rng() % 3))};
            }
            REQUIRE(model.persist(rd));
            REQUIRE(storage->persist(rd));
            CHECK(storage->end_offset() == model.end());
            if (rd.snap) {
                // The application reads back what it wrote (the file's bytes come first).
                REQUIRE(storage->snapshot());
                CHECK(storage->snapshot()->snap == *rd.snap);
            }
            if (rng() % 4 == 0 || step == 59) {
                storage.reset();
                auto again = open_dir(dir.path());
                REQUIRE_MESSAGE(again.problem.empty(), again.problem);
                CHECK(again.state.hard == model.state.hard);
                CHECK(again.state.snap == model.state.snap);
                REQUIRE(again.state.entries.size() == model.state.entries.size());
                CHECK(again.state.entries == model.state.entries);
                storage = std::move(again.storage);
                CHECK(storage->start_offset() == model.start());
                CHECK(storage->end_offset() == model.end());
            }
        }
    }
}

TEST_CASE("entries that do not start at the durable end are refused, nothing written") {
    testing::temp_dir dir;
    auto opened = open_dir(dir.path());
    raft::ready rd;
    rd.entries_offset = offset_t(0);
    rd.entries = {data_entry(1, "a"), data_entry(1, "b")};
    REQUIRE(opened.storage->persist(rd));
    rd.entries_offset = offset_t(5);
    auto r = opened.storage->persist(rd);
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::offset_out_of_range);
    CHECK(opened.storage->end_offset() == offset_t(2));
}

TEST_CASE("snapshot files go in and out in chunks; a damaged download is refused") {
    testing::temp_dir dir;
    auto opened = open_dir(dir.path());
    raft_storage& storage = *opened.storage;
    const std::vector<node_id_t> voters{node_id_t(1), node_id_t(2), node_id_t(3)};
    // Several MiB of state, more than one read buffer and many chunks.
    std::string data(3 << 20, '\0');
    std::mt19937_64 rng(7);
    for (char& c : data) {
        c = char(rng());
    }
    const raft::snapshot_id first{offset_t(5), term_t(1)};
    raft::ready rd;
    rd.snap = take_snapshot(storage, first, voters, data);
    REQUIRE(storage.persist(rd));
    auto part = storage.read_snapshot_data(1 << 20, 10);
    REQUIRE(part);
    CHECK(part.value() == data.substr(1 << 20, 10));
    part = storage.read_snapshot_data(int64_t(data.size()) - 3, 10);  // fewer at the end
    REQUIRE(part);
    CHECK(part.value() == data.substr(data.size() - 3));
    auto chunk = storage.read_snapshot(first, 0, 4);
    REQUIRE(chunk);
    REQUIRE(chunk.value());
    CHECK(*chunk.value() == data.substr(0, 4));
    chunk = storage.read_snapshot(first, rd.snap->size_bytes + 1, 4);  // past the end
    REQUIRE(chunk);
    CHECK_FALSE(chunk.value());
    chunk = storage.read_snapshot(raft::snapshot_id{offset_t(4), term_t(1)}, 0, 4);
    REQUIRE(chunk);
    CHECK_FALSE(chunk.value());  // not the snapshot on disk: the leader answers "not found"

    // A chunk that does not continue the file being received breaks the contract.
    const raft::snapshot_id second{offset_t(9), term_t(2)};
    std::string file = snapshot_file_bytes(second, voters, data);
    raft::ready gap;
    gap.snap_chunk = raft::snapshot_chunk{second, 10, file.substr(10, 10)};
    auto r = storage.persist(gap);
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::offset_out_of_range);

    // One bit flipped on the way from the leader: the file does not check, nothing installs
    // (and installing it anyway breaks the contract).
    file[file.size() / 3] ^= 4;
    raft::ready all;
    all.snap_chunk = raft::snapshot_chunk{second, 0, file};
    REQUIRE(storage.persist(all));
    const raft::snapshot named{second, voters, int64_t(file.size())};
    auto checked = storage.check_received(named);
    REQUIRE(checked);
    CHECK_FALSE(checked.value());
    CHECK_FALSE(std::filesystem::exists(dir.path() / raft_snapshot_download_file));
    raft::ready install;
    install.snap = named;
    install.restore_snapshot = true;
    r = storage.persist(install);
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::offset_out_of_range);
    REQUIRE(storage.snapshot());
    CHECK(storage.snapshot()->snap.id == first);
    // Sent again undamaged, it checks; a chunk of another snapshot can not continue it.
    file[file.size() / 3] ^= 4;
    all.snap_chunk = raft::snapshot_chunk{second, 0, file.substr(0, 100)};
    REQUIRE(storage.persist(all));
    raft::ready other;
    other.snap_chunk = raft::snapshot_chunk{first, 100, file.substr(100, 10)};
    r = storage.persist(other);
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::offset_out_of_range);
    all.snap_chunk = raft::snapshot_chunk{second, 0, file};
    REQUIRE(storage.persist(all));
    checked = storage.check_received(named);
    REQUIRE(checked);
    CHECK(checked.value());
    all.snap_chunk = raft::snapshot_chunk{second, 0, file.substr(0, 100)};  // a next download
    REQUIRE(storage.persist(all));

    // Files never taken (a crash before the ready that names them) are gone after a restart,
    // and the snapshot on disk is still the first.
    REQUIRE(storage.begin_snapshot(raft::snapshot_id{offset_t(7), term_t(1)}));
    CHECK(std::filesystem::exists(dir.path() / raft_snapshot_download_file));
    CHECK(std::filesystem::exists(dir.path() / "raft-snapshot.7-1.tmp"));
    opened.storage.reset();
    auto again = open_dir(dir.path());
    REQUIRE_MESSAGE(again.problem.empty(), again.problem);
    REQUIRE(again.state.snap);
    CHECK(again.state.snap->id == first);
    CHECK(again.state.snap->size_bytes == rd.snap->size_bytes);
    CHECK_FALSE(std::filesystem::exists(dir.path() / raft_snapshot_download_file));
    CHECK_FALSE(std::filesystem::exists(dir.path() / "raft-snapshot.7-1.tmp"));
}

TEST_CASE("a snapshot frees the log's segments wholly below it; the tail reopens") {
    testing::temp_dir dir;
    auto count_segments = [&] {
        size_t n = 0;
        for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
            n += e.path().extension() == ".log" ? 1 : 0;
        }
        return n;
    };
    auto opened = raft_storage::open(fs(), dir.path(), node_id_t(1), 4096);
    REQUIRE(opened);
    raft_storage& storage = *opened.value().storage;
    raft::ready rd;
    rd.entries_offset = offset_t(0);
    for (int i = 0; i < 100; ++i) {
        rd.entries.push_back(data_entry(1, std::string(500, char('a' + i % 26))));
    }
    REQUIRE(storage.persist(rd));
    const size_t before = count_segments();
    REQUIRE(before > 5);
    raft::ready snap;
    snap.snap = take_snapshot(storage, {offset_t(80), term_t(1)}, {node_id_t(1)}, "state");
    snap.entries_offset = offset_t(100);
    REQUIRE(storage.persist(snap));
    const size_t after = count_segments();
    CHECK(after < before);
    CHECK(after >= 1);
    opened.value().storage.reset();
    auto again = raft_storage::open(fs(), dir.path(), node_id_t(1), 4096);
    REQUIRE(again);
    REQUIRE_MESSAGE(again.value().problem.empty(), again.value().problem);
    REQUIRE(again.value().state.entries.size() == 20);
    CHECK(again.value().state.entries.front() == rd.entries[80]);
    CHECK(again.value().storage->start_offset() == offset_t(80));
    CHECK(again.value().storage->end_offset() == offset_t(100));
}

TEST_CASE("a damaged snapshot or a log batch that is no entry stops the node") {
    testing::temp_dir dir;
    {
        auto opened = open_dir(dir.path());
        raft::ready rd;
        rd.entries_offset = offset_t(0);
        rd.entries = {data_entry(1, "a"), data_entry(1, "b"), data_entry(2, "c")};
        REQUIRE(opened.storage->persist(rd));
        raft::ready snap;
        snap.snap =
            take_snapshot(*opened.storage, {offset_t(2), term_t(1)}, {node_id_t(1)}, "state");
        snap.entries_offset = offset_t(3);
        REQUIRE(opened.storage->persist(snap));
    }
    const auto snap_path = dir.path() / raft_snapshot_file;
    std::vector<char> good;
    {
        std::ifstream in(snap_path, std::ios::binary);
        good.assign(std::istreambuf_iterator<char>(in), {});
    }
    {
        auto bad = good;
        bad[bad.size() / 2] ^= 1;
        std::ofstream(snap_path, std::ios::binary | std::ios::trunc)
            .write(bad.data(), std::streamsize(bad.size()));
        auto opened = open_dir(dir.path());
        CHECK_FALSE(opened.storage);
        CHECK(opened.problem.find("raft-snapshot is damaged (bad CRC)") != std::string::npos);
    }
    std::ofstream(snap_path, std::ios::binary | std::ios::trunc)
        .write(good.data(), std::streamsize(good.size()));
    {
        auto opened = open_dir(dir.path());
        REQUIRE(opened.problem.empty());
        CHECK(opened.state.entries.size() == 1);  // the snapshot covers offsets 0 and 1
    }
    {
        // A batch that is not an entry, appended to the log behind the controller's back.
        storage::log_options o;
        o.dir = dir.path();
        auto log = storage::partition_log::open(o);
        REQUIRE(log);
        batch_builder b;
        const std::string v = "not an entry";
        b.add(record_input{as_bytes(v), as_bytes(v), timestamp_ms_t(0), {}});
        auto batch = b.finish();
        set_leader_epoch(batch, leader_epoch_t(5));  // the log refuses epochs going back
        auto appended = log.value()->append(batch);
        REQUIRE_MESSAGE(appended, appended.error().message());
        REQUIRE(log.value()->close());
    }
    auto opened = open_dir(dir.path());
    CHECK_FALSE(opened.storage);
    CHECK(opened.problem.find("the log at offset 3 is not an entry (a record without an entry "
                              "key)") != std::string::npos);
}

TEST_CASE("a crash between the snapshot and the log's restart is finished at open") {
    testing::temp_dir a;
    testing::temp_dir b;
    raft::ready entries;
    entries.entries_offset = offset_t(0);
    entries.entries = {data_entry(1, "a"), data_entry(1, "b")};
    {
        auto opened = open_dir(a.path());
        REQUIRE(opened.storage->persist(entries));
        raft::ready snap;
        snap.snap =
            take_snapshot(*opened.storage, {offset_t(10), term_t(2)}, {node_id_t(1)}, "state");
        snap.entries_offset = offset_t(10);
        REQUIRE(opened.storage->persist(snap));
    }
    {
        auto opened = open_dir(b.path());
        REQUIRE(opened.storage->persist(entries));
    }
    // b as a crash left it: the snapshot file written, the log not yet restarted at its end.
    std::filesystem::copy_file(a.path() / raft_snapshot_file, b.path() / raft_snapshot_file);
    auto opened = open_dir(b.path());
    REQUIRE_MESSAGE(opened.problem.empty(), opened.problem);
    CHECK(opened.state.entries.empty());
    REQUIRE(opened.state.snap);
    CHECK(opened.state.snap->id.end_offset == offset_t(10));
    CHECK(opened.storage->start_offset() == offset_t(10));
    CHECK(opened.storage->end_offset() == offset_t(10));
}

TEST_CASE("a log that starts past its snapshot, or with none, stops the node") {
    testing::temp_dir dir;
    {
        auto opened = open_dir(dir.path());
        raft::ready snap;
        snap.snap =
            take_snapshot(*opened.storage, {offset_t(10), term_t(2)}, {node_id_t(1)}, "state");
        REQUIRE(opened.storage->persist(snap));  // the log restarts at 10
    }
    std::filesystem::remove(dir.path() / raft_snapshot_file);
    auto opened = open_dir(dir.path());
    CHECK_FALSE(opened.storage);
    CHECK(opened.problem.find("the log starts at offset 10, but there is no snapshot") !=
          std::string::npos);
}

TEST_CASE("entries whose terms fall stop the node instead of the core") {
    testing::temp_dir dir;
    {
        auto opened = open_dir(dir.path());
        raft::ready rd;
        rd.entries_offset = offset_t(0);
        rd.entries = {data_entry(2, "a")};
        REQUIRE(opened.storage->persist(rd));
    }
    {
        // An entry of term 1 after one of term 2, its batch's epoch left high so the log takes it.
        storage::log_options o;
        o.dir = dir.path();
        auto log = storage::partition_log::open(o);
        REQUIRE(log);
        auto batch = encode_entry_batch(data_entry(1, "b"), offset_t(1));
        set_leader_epoch(batch, leader_epoch_t(2));
        REQUIRE(log.value()->append_replicated(batch));
        REQUIRE(log.value()->close());
    }
    auto opened = open_dir(dir.path());
    CHECK_FALSE(opened.storage);
    CHECK(opened.problem.find("the log at offset 1 is not an entry (its term is not positive or "
                              "falls)") != std::string::npos);
}
