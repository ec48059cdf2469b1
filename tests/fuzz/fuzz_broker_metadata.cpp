// Fuzz target: the broker's own files in log.dirs (broker/src/metadata_store.h and
// sluice/core/leader_epochs.h; FlatBuffers tables inside storage checkpoints), read from an
// in-memory file system.
//
// Input: a bundle (bundle.h) of three files, placed as a broker would find them:
//   <log>/orders-0/topic.checkpoint, <log>/orders-0/leader-epoch.checkpoint, <log>/meta.checkpoint
// with orders-1/ holding a copy of the leader-epoch file (a second partition, or an orphan when
// the topic record says one partition). Runs read_topic_record, read_leader_epochs,
// load_broker_meta and scan_log_dir over them, and checks that what was read survives a write
// and a read unchanged.
#include <cstdint>
#include <cstdlib>

#include "bundle.h"
#include "memory_fs.h"
#include "metadata_store.h"
#include "require.h"
#include "sluice/core/leader_epochs.h"

namespace {

using namespace sluice;
using namespace sluice::broker;

using fuzz::require;

bool same(const topic_record& a, const topic_record& b) {
    return a.name == b.name && a.partitions == b.partitions &&
           a.replication_factor == b.replication_factor && a.configs == b.configs && a.id == b.id;
}

bool same(const std::vector<epoch_entry>& a, const std::vector<epoch_entry>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
        return x.epoch == y.epoch && x.start_offset == y.start_offset;
    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto files = fuzz::split_bundle({reinterpret_cast<const std::byte*>(data), size}, 3);
    const std::filesystem::path log = "/log";
    const auto p0 = partition_dir(log, "orders", 0);
    const auto p1 = partition_dir(log, "orders", 1);
    fuzz::memory_fs fs;
    fs.put(p0 / topic_record_file, files[0]);
    fs.put(p0 / leader_epoch_file, files[1]);
    fs.put(p1 / leader_epoch_file, files[1]);
    fs.put(log / broker_meta_file, files[2]);

    // The memory file system has no I/O errors: every call below succeeds.
    auto record = read_topic_record(fs, p0);
    require(record.has_value());
    auto epochs = read_leader_epochs(fs, p0);
    require(epochs.has_value());
    auto meta = load_broker_meta(fs, log, node_id_t{0});
    require(meta.has_value() && !meta.value().cluster_id.empty());
    auto scan = scan_log_dir(fs, log);
    require(scan.has_value());
    for (const auto& t : scan.value().topics) {
        require(t.name == "orders" && t.partitions >= 1);
    }

    fuzz::memory_fs copy;
    const std::filesystem::path copy_log = "/copy";
    if (record.value()) {
        const topic_record& t = *record.value();
        require(copy.create_directories(partition_dir(copy_log, t.name, 0)).has_value());
        require(write_topic_record(copy, copy_log, t).has_value());
        auto again = read_topic_record(copy, partition_dir(copy_log, t.name, 0));
        require(again.has_value() && again.value() && same(*again.value(), t));
    }
    require(copy.create_directories(copy_log / "epochs").has_value());
    require(write_leader_epochs(copy, copy_log / "epochs", epochs.value()).has_value());
    auto again = read_leader_epochs(copy, copy_log / "epochs");
    require(again.has_value() && same(again.value(), epochs.value()));
    return 0;
}
