#include "metadata_store.h"

#include <random>
#include <set>

#include <fmt/format.h>

#include "sluice/broker/topic_config.h"
#include "sluice/controller/quorum_bootstrap.h"
#include "sluice/core/leader_epochs.h"
#include "sluice/fbs/broker_disk_generated.h"
#include "sluice/protocol/errc.h"
#include "sluice/storage/checkpoint.h"

namespace sluice::broker {
namespace {

namespace disk = fbs::disk;

std::span<const std::byte> bytes_of(const flatbuffers::FlatBufferBuilder& fbb) {
    return {reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()), fbb.GetSize()};
}

template <typename Table>
const Table* verified(const std::vector<std::byte>& payload) {
    flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
    if (!v.VerifyBuffer<Table>(nullptr)) {
        return nullptr;
    }
    return flatbuffers::GetRoot<Table>(payload.data());
}

}  // namespace

std::filesystem::path partition_dir(const std::filesystem::path& log_dir, std::string_view topic,
                                    int32_t partition) {
    return log_dir / fmt::format("{}-{}", topic, partition);
}

std::optional<std::pair<std::string, int32_t>> parse_partition_dir(std::string_view name) {
    size_t dash = name.rfind('-');
    if (dash == std::string_view::npos || dash == 0 || dash + 1 == name.size()) {
        return std::nullopt;
    }
    std::string_view digits = name.substr(dash + 1);
    if (digits.size() > 9 || (digits.size() > 1 && digits.front() == '0')) {
        return std::nullopt;
    }
    int32_t p = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        p = p * 10 + (c - '0');
    }
    std::string topic(name.substr(0, dash));
    if (topic_name_problem(topic)) {
        return std::nullopt;
    }
    return std::pair{std::move(topic), p};
}

result<void> write_topic_record(storage::file_system& fs, const std::filesystem::path& log_dir,
                                const topic_record& t) {
    flatbuffers::FlatBufferBuilder fbb(256);
    std::vector<flatbuffers::Offset<disk::TopicConfigEntry>> configs;
    for (const auto& [k, v] : t.configs) {
        configs.push_back(
            disk::CreateTopicConfigEntry(fbb, fbb.CreateString(k), fbb.CreateString(v)));
    }
    auto rec = disk::CreateTopicRecord(fbb, fbb.CreateString(t.name), t.partitions,
                                       t.replication_factor, fbb.CreateVector(configs),
                                       fbb.CreateVector(t.id.data(), t.id.size()));
    fbb.Finish(rec);
    return storage::write_checkpoint(fs, partition_dir(log_dir, t.name, 0) / topic_record_file,
                                     bytes_of(fbb));
}

result<std::optional<topic_record>> read_topic_record(storage::file_system& fs,
                                                      const std::filesystem::path& dir) {
    SLUICE_TRY(auto payload, storage::read_checkpoint(fs, dir / topic_record_file));
    if (!payload) {
        return std::optional<topic_record>{};
    }
    const auto* rec = verified<disk::TopicRecord>(*payload);
    if (rec == nullptr || rec->name() == nullptr) {
        return std::optional<topic_record>{};
    }
    topic_record t;
    t.name = rec->name()->str();
    t.partitions = rec->partitions();
    t.replication_factor = rec->replication_factor();
    if (rec->configs() != nullptr) {
        for (const auto* c : *rec->configs()) {
            if (c->key() != nullptr && c->value() != nullptr) {
                t.configs[c->key()->str()] = c->value()->str();
            }
        }
    }
    if (rec->topic_id() != nullptr && rec->topic_id()->size() == t.id.size()) {
        std::copy(rec->topic_id()->begin(), rec->topic_id()->end(), t.id.begin());
    }
    return std::optional<topic_record>{std::move(t)};
}

result<void> remove_topic_record(storage::file_system& fs, const std::filesystem::path& log_dir,
                                 std::string_view topic) {
    auto dir = partition_dir(log_dir, topic, 0);
    SLUICE_TRY(fs.remove(dir / topic_record_file));
    return fs.sync_directory(dir);
}

result<broker_meta_result> load_broker_meta(storage::file_system& fs,
                                            const std::filesystem::path& log_dir, node_id_t node_id,
                                            std::string_view cluster_id) {
    auto path = log_dir / broker_meta_file;
    SLUICE_TRY(auto payload, storage::read_checkpoint(fs, path));
    if (payload) {
        const auto* meta = verified<disk::BrokerMeta>(*payload);
        if (meta != nullptr && meta->cluster_id() != nullptr) {
            broker_meta_result out{meta->cluster_id()->str(), ""};
            if (meta->node_id() != node_id.value()) {
                out.problem = fmt::format(
                    "{} belongs to node.id={}, not node.id={}; give this broker its own "
                    "log.dirs",
                    log_dir.string(), meta->node_id(), node_id.value());
            } else if (!cluster_id.empty() && out.cluster_id != cluster_id) {
                out.problem = fmt::format(
                    "{} belongs to cluster {}, not cluster.id={}; give this broker its own "
                    "log.dirs, or the cluster.id of its cluster",
                    log_dir.string(), out.cluster_id, cluster_id);
            }
            return out;
        }
    }
    if (!cluster_id.empty()) {
        // Formatting: the directory joins the cluster it is told to.
        flatbuffers::FlatBufferBuilder fbb(64);
        fbb.Finish(disk::CreateBrokerMeta(fbb, fbb.CreateString(cluster_id), node_id.value()));
        SLUICE_TRY(storage::write_checkpoint(fs, path, bytes_of(fbb)));
        return broker_meta_result{std::string(cluster_id), ""};
    }
    // A new directory: a cluster id of 16 random bytes in URL-safe base64, as Kafka's (and as
    // directory ids are written).
    const std::string id = controller::directory_text(controller::random_directory());
    flatbuffers::FlatBufferBuilder fbb(64);
    fbb.Finish(disk::CreateBrokerMeta(fbb, fbb.CreateString(id), node_id.value()));
    SLUICE_TRY(storage::write_checkpoint(fs, path, bytes_of(fbb)));
    return broker_meta_result{id, ""};
}

result<log_dir_scan> scan_log_dir(storage::file_system& fs, const std::filesystem::path& log_dir) {
    log_dir_scan out;
    SLUICE_TRY(auto names, fs.list(log_dir));
    std::vector<std::pair<std::string, int32_t>> dirs;
    for (const auto& name : names) {
        if (auto parsed = parse_partition_dir(name)) {
            dirs.push_back(std::move(*parsed));
        }
    }
    std::map<std::string, int32_t, std::less<>> counts;
    for (const auto& [topic, p] : dirs) {
        if (p != 0) {
            continue;
        }
        SLUICE_TRY(auto rec, read_topic_record(fs, partition_dir(log_dir, topic, 0)));
        if (rec && rec->name == topic && rec->partitions >= 1) {
            counts[topic] = rec->partitions;
            out.topics.push_back(std::move(*rec));
        }
    }
    for (const auto& [topic, p] : dirs) {
        auto it = counts.find(topic);
        if (it != counts.end() && p < it->second) {
            continue;
        }
        auto dir = partition_dir(log_dir, topic, p);
        SLUICE_TRY(bool ours, fs.exists(dir / leader_epoch_file));
        if (ours) {
            out.orphans.push_back(dir);
        }
    }
    return out;
}

topic_id new_topic_id() {
    std::random_device rd;
    topic_id id;
    for (size_t i = 0; i < id.size(); i += 4) {
        uint32_t r = rd();
        for (size_t j = 0; j < 4; ++j) {
            id[i + j] = uint8_t(r >> (8 * j));
        }
    }
    return id;
}

}  // namespace sluice::broker
