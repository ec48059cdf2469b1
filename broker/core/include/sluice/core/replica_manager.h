// The replica manager: every partition this broker holds, keyed by (topic, partition), and the
// produce, fetch and offset orchestration over them. It knows no wire format: listeners (the
// native one today, a Kafka one later) translate their requests into the plain structs of
// produce.h and fetch.h, call it, and translate the results back.
//
// Partitions. The set is an immutable image (partition_image) published by swapping one pointer;
// readers copy the pointer (under a mutex held only for that) and keep the image they read for
// as long as they use its partitions (a removed partition answers UNKNOWN_TOPIC_OR_PARTITION to
// whoever still holds it). Changes come
// from the metadata image (the broker's image applier) one at a time: add_partitions,
// set_role, remove_topic, close_all. A topic's vector holds the partitions this broker
// holds at their ids, with null where it holds none. Each partition leads or not at a leader
// epoch.
//
// Threading. produce, fetch and list_offsets are coroutines that run on the caller's executor
// (a connection's strand) and hop to each partition's strand for the partition's work. A produce
// posts the append of every partition it names before it first suspends, so two requests that
// start in order on one executor append to any partition they share in that order (pipelining
// relies on it).
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "sluice/core/async.h"
#include "sluice/core/fetch.h"
#include "sluice/core/partition.h"
#include "sluice/core/partition_image.h"
#include "sluice/core/partition_service.h"
#include "sluice/core/produce.h"
#include "sluice/storage/clock.h"
#include "sluice/storage/file_cache.h"
#include "sluice/storage/file_system.h"
#include "sluice/storage/flusher.h"

namespace sluice::broker {

struct replica_manager_config {
    std::filesystem::path log_dir;
    // The most record bytes one fetch returns, whatever the request asks (fetch.max.bytes).
    size_t fetch_max_bytes = 57671680;
    // Seams: the broker passes the POSIX file system and the system clock; tests may pass
    // fault-injecting or simulated ones.
    storage::file_system* fs = &storage::posix_file_system();
    storage::clock* time = &storage::system_clock();
    // Open files of sealed segments, shared by every partition; null keeps them all open.
    storage::file_cache* files = nullptr;
    // Where partitions write producer snapshots after a roll (the blocking pool); none: on
    // their strands.
    executor background;
    // producer.id.expiration.ms: a producer that wrote nothing for this long is forgotten.
    std::chrono::milliseconds producer_id_expiration{std::chrono::hours(24)};
};

// One partition this broker is to hold, as the metadata image says.
struct partition_spec {
    int32_t id = 0;
    bool create = false;  // new: whatever a directory of it holds is a leftover
    partition_role role;
};

class replica_manager final : public partition_service {
  public:
    replica_manager(boost::asio::io_context& io, replica_manager_config config,
                    storage::flusher& flusher);

    const replica_manager_config& config() const { return config_; }

    // Any thread.
    std::shared_ptr<const partition_image> snapshot() const override;
    uint64_t version() const { return version_.load(std::memory_order_acquire); }

    // ---- Changes, from the metadata source, one at a time ----

    // Opens the partitions of `topic` that `specs` name and this broker does not hold yet
    // (recovering each, or creating it empty when spec.create), each leading or not at its
    // role, and publishes them. An existing partition whose log is damaged (a storage_errc, or
    // EIO) is published offline (partition::offline); any other failure (EMFILE, ENOMEM, a new
    // partition that cannot be created) fails the call: nothing is published, and what was
    // created is removed.
    result<void> add_partitions(const std::string& topic, const std::string& topic_id,
                                const std::vector<partition_spec>& specs,
                                const topic_settings& settings);
    // Sets a held partition's role (partition::set_role), on its strand.
    awaitable<void> set_role(std::string_view topic, int32_t id, const partition_role& role);
    // Gives the topic's held partitions new settings (partition::set_settings), each on its
    // strand; false if one keeps its flush mode until it is opened again.
    awaitable<bool> set_settings(std::string_view topic, const topic_settings& settings);
    // Unpublishes the topic's partitions, then closes each on its strand and removes its
    // directory.
    awaitable<void> remove_topic(std::string_view topic);
    // Shutdown: closes every partition log on its strand (flush and checkpoint, so the next
    // start scans nothing); waiters are told NOT_LEADER_OR_FOLLOWER. False if any failed to
    // close cleanly.
    awaitable<bool> close_all();

    // ---- Requests (partition_service.h) ----

    awaitable<std::vector<produce_result>> produce(produce_request& req) override;
    awaitable<std::vector<fetch_result>> fetch(fetch_request& req) override;
    awaitable<partition::offset_outcome> list_offset(std::string_view topic,
                                                     partition_id_t partition,
                                                     int64_t timestamp) override;

  private:
    void publish(std::map<std::string, std::vector<std::shared_ptr<partition>>, std::less<>> t);

    boost::asio::io_context& io_;
    replica_manager_config config_;
    storage::flusher& flusher_;
    std::mutex change_mutex_;  // serialises publishers (never taken on the request path)
    // Under a mutex held only to copy the pointer, not std::atomic<shared_ptr>: libstdc++ 12's
    // atomic load unlocks with a relaxed store, so a load does not happen-before the next store
    // (ThreadSanitizer reports it when a topic is created while requests run).
    mutable std::mutex image_mutex_;
    std::shared_ptr<const partition_image> image_;
    std::atomic<uint64_t> version_{0};
};

}  // namespace sluice::broker
