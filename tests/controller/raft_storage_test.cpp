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
                s.data = std::string(rng() % 5000, char('a' + rng() % 26));
                rd.snap = s;
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

TEST_CASE("a damaged snapshot or a log batch that is no entry stops the node") {
    testing::temp_dir dir;
    {
        auto opened = open_dir(dir.path());
        raft::ready rd;
        rd.entries_offset = offset_t(0);
        rd.entries = {data_entry(1, "a"), data_entry(1, "b"), data_entry(2, "c")};
        REQUIRE(opened.storage->persist(rd));
        raft::ready snap;
        snap.snap = raft::snapshot{{offset_t(2), term_t(1)}, {node_id_t(1)}, "state"};
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
        snap.snap = raft::snapshot{{offset_t(10), term_t(2)}, {node_id_t(1)}, "state"};
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
        snap.snap = raft::snapshot{{offset_t(10), term_t(2)}, {node_id_t(1)}, "state"};
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
