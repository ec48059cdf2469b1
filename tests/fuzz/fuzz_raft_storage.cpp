// Fuzz target: a controller's metadata directory opened by raft_storage::open, from an in-memory
// file system. The input is a bundle (bundle.h) of three files:
//   0 raft-snapshot                  the snapshot file
//   1 00000000000000000000.log       the log's first segment (entries as record batches)
//   2 quorum-state                   the hard state
//
// Checks its contract: the directory opens to a state or to a problem that says why the node
// must not start, never both or neither; a snapshot's metadata image loads or says why not. An
// opened state is one a Raft node starts from without aborting, is consistent (entries follow the
// snapshot, offsets match the storage's), and persisted again into a fresh directory (the snapshot
// file sent over as a leader's chunk and checked on arrival, then the rest as one ready) opens back
// to the same state.
#include <cstdint>
#include <cstdlib>

#include "bundle.h"
#include "memory_fs.h"
#include "require.h"
#include "sluice/controller/metadata_log.h"
#include "sluice/controller/quorum_state.h"
#include "sluice/controller/raft_storage.h"
#include "sluice/raft/node.h"

namespace {

using namespace sluice;

using fuzz::require;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto files = fuzz::split_bundle({reinterpret_cast<const std::byte*>(data), size}, 3);
    const std::filesystem::path dir = "/meta";
    fuzz::memory_fs fs;
    require(fs.create_directories(dir).has_value());
    fs.put_if_any(dir / controller::raft_snapshot_file, files[0]);
    fs.put_if_any(dir / "00000000000000000000.log", files[1]);
    fs.put_if_any(dir / controller::quorum_state_file, files[2]);

    const node_id_t self(1);
    auto opened = controller::raft_storage::open(fs, dir, self);
    require(opened.has_value());  // the memory file system has no I/O errors
    auto& o = opened.value();
    require((o.storage != nullptr) != !o.problem.empty());
    if (!o.storage) {
        return 0;
    }
    {
        // The core takes whatever opened without aborting.
        raft::config cfg;
        cfg.id = self;
        cfg.bootstrap_voters = {self};
        raft::node n(cfg, o.state);
    }
    if (o.state.snap) {
        // The metadata image the snapshot holds loads, or says why not, a batch at a time.
        auto [image, problem] = controller::load_snapshot_image(*o.storage, *o.state.snap);
        require((image != nullptr) != !problem.empty());
    }
    const offset_t start = o.state.snap ? o.state.snap->id.end_offset : offset_t(0);
    require(o.storage->start_offset() == start);
    require(o.storage->end_offset() == start + int64_t(o.state.entries.size()));

    // The same state written afresh opens back the same.
    const std::filesystem::path copy = "/copy";
    require(fs.create_directories(copy).has_value());
    auto fresh = controller::raft_storage::open(fs, copy, self);
    require(fresh.has_value() && fresh.value().storage != nullptr);
    raft::ready rd;
    rd.hard = o.state.hard;
    rd.snap = o.state.snap;
    if (o.state.snap) {
        // The snapshot file goes over as a leader sends it, and must check on arrival.
        auto file = o.storage->read_snapshot(o.state.snap->id, 0, o.state.snap->size_bytes);
        require(file.has_value() && file.value().has_value());
        raft::ready chunk;
        chunk.snap_chunk = raft::snapshot_chunk{o.state.snap->id, 0, std::move(*file.value())};
        require(fresh.value().storage->persist(chunk).has_value());
        auto checked = fresh.value().storage->check_received(*o.state.snap);
        require(checked.has_value() && checked.value());
        rd.restore_snapshot = true;
    }
    rd.entries_offset = start;
    rd.entries = o.state.entries;
    require(fresh.value().storage->persist(rd).has_value());
    fresh.value().storage.reset();
    auto again = controller::raft_storage::open(fs, copy, self);
    require(again.has_value() && again.value().problem.empty());
    const auto& s = again.value().state;
    require(s.hard == o.state.hard && s.snap == o.state.snap && s.entries == o.state.entries);
    return 0;
}
