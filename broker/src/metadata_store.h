// The broker's own files in log.dirs, next to the partition logs (docs/broker.md, "On disk"):
//
//   meta.checkpoint                     cluster id and node id of this data directory
//   .lock                               flock()ed while a broker uses the directory
//   <topic>-<p>/                        partition p's log (storage's partition_log)
//   <topic>-<p>/leader-epoch.checkpoint the partition's leader epochs
//   <topic>-0/topic.checkpoint          the topic record: name, partitions, configs, id
//
// A topic exists exactly when its topic record does: creation writes it last, deletion removes
// it first, so a crash in between leaves only partition directories without a record. Those are
// orphans, removed at the next start. All writes go through storage's checkpoint files.
// Called from the admin strand or before the server runs; no state of its own.
#pragma once

#include <array>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/protocol/result.h"
#include "sluice/protocol/types.h"
#include "sluice/storage/file_system.h"

namespace sluice::broker {

using topic_id = std::array<uint8_t, 16>;

struct topic_record {
    std::string name;
    int32_t partitions = 0;
    int16_t replication_factor = 1;
    std::map<std::string, std::string, std::less<>> configs;
    topic_id id{};
};

inline constexpr std::string_view topic_record_file = "topic.checkpoint";
inline constexpr std::string_view broker_meta_file = "meta.checkpoint";
inline constexpr std::string_view lock_file = ".lock";

std::filesystem::path partition_dir(const std::filesystem::path& log_dir, std::string_view topic,
                                    int32_t partition);

// Splits a directory name "<topic>-<p>" (at the last '-'); nullopt if it is not one.
std::optional<std::pair<std::string, int32_t>> parse_partition_dir(std::string_view name);

result<void> write_topic_record(storage::file_system& fs, const std::filesystem::path& log_dir,
                                const topic_record& t);
// nullopt if there is no valid record in `dir` (a partition-0 directory).
result<std::optional<topic_record>> read_topic_record(storage::file_system& fs,
                                                      const std::filesystem::path& dir);
result<void> remove_topic_record(storage::file_system& fs, const std::filesystem::path& log_dir,
                                 std::string_view topic);

// Reads meta.checkpoint, or writes one with `cluster_id` (a new random one if empty). A problem
// if it names another node.id (the directory belongs to another broker) or, when `cluster_id` is
// given, another cluster.
struct broker_meta_result {
    std::string cluster_id;
    std::string problem;  // non-empty: refuse to start, with this reason
};
result<broker_meta_result> load_broker_meta(storage::file_system& fs,
                                            const std::filesystem::path& log_dir, node_id_t node_id,
                                            std::string_view cluster_id = {});

// What start-up finds in log.dirs.
struct log_dir_scan {
    std::vector<topic_record> topics;
    // Partition directories of no topic that carry a leader-epoch file (so they are Sluice's):
    // left behind by a crash during creation or deletion.
    std::vector<std::filesystem::path> orphans;
};
result<log_dir_scan> scan_log_dir(storage::file_system& fs, const std::filesystem::path& log_dir);

// 16 random bytes.
topic_id new_topic_id();

}  // namespace sluice::broker
