// What a client knows about the cluster and its links to it: the metadata cache (brokers,
// topics, partition leaders) and one connection per broker address.
//
// Thread: the owning client's I/O thread only.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/client/config.h"
#include "sluice/client/internal/asio.h"
#include "sluice/client/internal/connection.h"
#include "sluice/client/internal/requests.h"

namespace sluice::client {

// The latest metadata answers, merged: an answer replaces the brokers and the topics it names.
class metadata_cache {
  public:
    void apply(const metadata_answer& a, bool all_topics, clock::time_point now);
    void forget_topic(std::string_view name) { topics_.erase(std::string(name)); }

    const topic_meta* topic(std::string_view name) const;
    const partition_meta* partition(std::string_view topic, int32_t partition) const;
    const broker_meta* broker(int32_t node_id) const;
    const std::map<int32_t, broker_meta>& brokers() const { return brokers_; }
    clock::time_point updated() const { return updated_; }

  private:
    std::map<int32_t, broker_meta> brokers_;
    std::map<std::string, topic_meta, std::less<>> topics_;
    clock::time_point updated_{};
};

class cluster {
  public:
    cluster(asio::io_context& io, client_config config, connection_options opts);
    ~cluster();
    cluster(const cluster&) = delete;
    cluster& operator=(const cluster&) = delete;

    const client_config& config() const { return config_; }
    asio::io_context& io() { return io_; }
    metadata_cache& metadata() { return metadata_; }

    // Asks any broker for metadata and merges the answer into the cache.
    awaitable<result<metadata_answer>> refresh(metadata_request req);

    // An open connection to any broker: an existing one, else the bootstrap servers and then the
    // known brokers, tried in turn. client_errc::broker_unreachable naming every failure if none
    // answers. A broker whose connection closed for want of an answer within the last request
    // timeout (a paused or overloaded process, which still accepts connections) comes last.
    awaitable<result<std::shared_ptr<connection>>> any();
    // An open connection to broker `node_id` (its address from the metadata).
    awaitable<result<std::shared_ptr<connection>>> node(int32_t node_id);

    // Without waiting: the open connection to `node_id`, or nullptr while there is none. Then a
    // connection attempt is started (unless one is running, the node is unknown, or the last
    // attempt failed less than retry.backoff.ms ago) and `on_change` runs when it ends.
    std::shared_ptr<connection> ready(int32_t node_id);
    // Whether the metadata knows no broker `node_id`, the last attempt to connect to it failed,
    // or it left a request unanswered within the last request timeout: a leader it names may be
    // gone, and the metadata is worth asking again.
    bool unreachable(int32_t node_id) const;
    void set_on_change(std::function<void()> f) { on_change_ = std::move(f); }

    // Closes every connection (failing their requests with `reason`); later calls fail with it.
    void close(std::error_code reason);
    bool closed() const { return closed_; }

    // Request timeout as a duration.
    std::chrono::milliseconds request_timeout() const {
        return std::chrono::milliseconds(config_.request_timeout_ms);
    }

  private:
    std::shared_ptr<connection> get_or_create(const endpoint& ep);
    // Notes connections that closed for want of an answer (see any()).
    void note_unresponsive();
    bool unresponsive(const std::string& addr) const;

    asio::io_context& io_;
    client_config config_;
    connection_options opts_;
    std::vector<endpoint> bootstrap_;
    metadata_cache metadata_;
    std::map<std::string, std::shared_ptr<connection>> connections_;  // by "host:port"
    std::map<std::string, clock::time_point> retry_connect_at_;
    // Until when each address counts as unresponsive (a request to it timed out).
    std::map<std::string, clock::time_point> unresponsive_until_;
    std::function<void()> on_change_;
    bool closed_ = false;
    std::error_code close_reason_;
};

// Waits `d` on the current coroutine's executor.
awaitable<void> sleep_for(std::chrono::milliseconds d);

}  // namespace sluice::client
