// The topics of this broker and their partitions.
//
// Readers (every request handler) see an immutable registry_image: a map from topic name to an
// immutable topic. A change builds a new image and publishes it with one atomic store, so the
// hot path takes no lock: a connection keeps its image and re-reads it only when version()
// (one relaxed atomic load) says it changed.
//
// Writers are create, delete and shutdown. They run on one admin strand, one at a time (a strand
// mutex, since they suspend while partitions' strands close logs), so two of them never work
// on the same directory at once. A topic's partitions outlive their removal from the image for
// as long as a request still holds them; a removed partition answers UNKNOWN_TOPIC_OR_PARTITION.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "async.h"
#include "metadata_store.h"
#include "partition.h"
#include "sluice/broker/config.h"
#include "sluice/broker/topic_config.h"
#include "sluice/protocol/errc.h"
#include "sluice/storage/flusher.h"

namespace sluice::broker {

struct topic {
    topic_record record;  // name, partition count, replication factor, config overrides, id
    topic_settings settings;
    std::vector<std::shared_ptr<partition>> partitions;  // index = partition id
};

struct registry_image {
    uint64_t version = 0;
    std::map<std::string, std::shared_ptr<const topic>, std::less<>> topics;

    const topic* find(std::string_view name) const {
        auto it = topics.find(name);
        return it == topics.end() ? nullptr : it->second.get();
    }
    partition* find(std::string_view name, int32_t p) const {
        const topic* t = find(name);
        if (t == nullptr || p < 0 || size_t(p) >= t->partitions.size()) {
            return nullptr;
        }
        return t->partitions[size_t(p)].get();
    }
};

class topic_registry {
  public:
    topic_registry(boost::asio::io_context& io, const broker_config& config,
                   storage::flusher& flusher);

    // Before the server runs: removes orphaned partition directories, opens every topic's
    // partitions (each log recovers in partition_log::open) and publishes the first image.
    result<void> load();

    // Any thread.
    std::shared_ptr<const registry_image> snapshot() const { return image_.load(); }
    uint64_t version() const { return version_.load(std::memory_order_acquire); }

    struct create_request {
        std::string name;
        int32_t partitions = -1;          // -1: num.partitions
        int16_t replication_factor = -1;  // -1: default.replication.factor
        std::map<std::string, std::string, std::less<>> configs;
        std::string duplicate_config;  // a config key named twice in the request, if any
    };
    struct topic_result {
        std::string name;
        errc error = errc::none;
        std::string message;
    };

    // From any coroutine; runs on the admin strand. One result per request, in order.
    // The vectors are taken by rvalue reference so that no temporary lives in the caller's
    // co_await expression (see run_on in async.h).
    awaitable<std::vector<topic_result>> create_topics(std::vector<create_request>&& topics,
                                                       bool validate_only);
    awaitable<std::vector<topic_result>> delete_topics(std::vector<std::string>&& names);
    // Shutdown: closes every partition log (on its strand) so the next start scans nothing.
    awaitable<void> close_all();

  private:
    awaitable<std::vector<topic_result>> do_create(std::vector<create_request> topics,
                                                   bool validate_only);
    awaitable<std::vector<topic_result>> do_delete(std::vector<std::string> names);
    awaitable<void> do_close_all();
    topic_result create_one(const create_request& req, bool validate_only);
    result<std::shared_ptr<topic>> open_topic(const topic_record& rec,
                                              const topic_settings& settings, bool create);
    void publish(std::map<std::string, std::shared_ptr<const topic>, std::less<>> topics);

    boost::asio::io_context& io_;
    const broker_config& config_;
    storage::flusher& flusher_;
    executor admin_;
    strand_mutex admin_lock_;  // on admin_
    std::atomic<std::shared_ptr<const registry_image>> image_;
    std::atomic<uint64_t> version_{0};
};

}  // namespace sluice::broker
