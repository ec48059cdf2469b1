// What the broker's in-process tests share: a broker on an ephemeral port in a temporary
// directory, and the requests they send it over TCP with the raw wire client.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "batch_helpers.h"
#include "sluice/broker/config.h"
#include "sluice/broker/server.h"
#include "sluice/protocol/api.h"
#include "temp_dir.h"
#include "wire_client.h"

namespace sluice::testing {

using broker::make_config;
using broker::properties;
using broker::server;
using broker::server_options;
using broker::server_stats;

// A broker on an ephemeral port in a temporary directory, run by a background thread.
class broker_fixture {
  public:
    explicit broker_fixture(properties extra = {}, const std::filesystem::path* dir = nullptr,
                            storage::file_system* fs = nullptr)
        : dir_("sluice-broker-test"), fs_(fs) {
        props_ = {{"listeners", "PLAINTEXT://127.0.0.1:0"},
                  {"log.dirs", (dir ? *dir : dir_.path()).string()},
                  {"num.io.threads", "2"},
                  {"log.level", "warn"}};
        for (auto& [k, v] : extra) {
            props_[k] = v;
        }
        start();
    }
    ~broker_fixture() { stop(); }

    void start() {
        auto cfg = make_config(props_);
        REQUIRE_MESSAGE(cfg.has_value(), (cfg ? "" : cfg.error().to_string()));
        server_options o;
        o.drain_timeout_ms = 2000;
        if (fs_ != nullptr) {
            o.fs = fs_;
        }
        srv_ = std::make_unique<server>(cfg.value(), o);
        REQUIRE(srv_->start().has_value());
        runner_ = std::thread([this] { srv_->run(); });
    }
    void stop() {
        if (srv_) {
            srv_->stop();
            runner_.join();
            srv_.reset();
        }
    }
    void restart() {
        stop();
        start();
    }
    uint16_t port() const { return srv_->port(); }
    server_stats stats() const { return srv_->stats(); }
    std::filesystem::path log_dir() const { return props_.at("log.dirs"); }

  private:
    temp_dir dir_;
    storage::file_system* fs_;
    properties props_;
    std::unique_ptr<server> srv_;
    std::thread runner_;
};

inline std::vector<std::byte> batch(uint64_t seed, int records, size_t value_bytes = 100,
                                    int64_t ts = 1'700'000'000'000) {
    return make_batch(seed, records, value_bytes, timestamp_ms_t{ts});
}

inline errc create(wire_client& c, const std::string& name, int32_t partitions, int16_t rf = -1,
                   const std::map<std::string, std::string>& configs = {},
                   bool validate_only = false, std::string* message = nullptr) {
    auto f = c.call(
        create_topics_request(c.next_correlation(), name, partitions, rf, configs, validate_only));
    const auto* r = f.envelope->body_as_CreateTopicsResponse();
    REQUIRE(r != nullptr);
    REQUIRE(r->results()->size() == 1);
    const auto* res = r->results()->Get(0);
    CHECK(res->name()->str() == name);
    if (message != nullptr && res->error_message() != nullptr) {
        *message = res->error_message()->str();
    }
    return errc(res->error_code());
}

struct produced {
    errc error;
    int64_t base_offset;
    int64_t log_start;
    std::string message;
};

inline produced produce(wire_client& c, const std::string& topic, int32_t p,
                        const std::vector<std::byte>& batches, int16_t acks = 1) {
    auto f = c.call(produce_request(c.next_correlation(), topic, p, batches, acks));
    const auto* r = f.envelope->body_as_ProduceResponse();
    REQUIRE(r != nullptr);
    REQUIRE(r->topics()->size() == 1);
    const auto* pr = r->topics()->Get(0)->partitions()->Get(0);
    CHECK(pr->partition() == p);
    return {errc(pr->error_code()), pr->base_offset(), pr->log_start_offset(),
            pr->error_message() ? pr->error_message()->str() : ""};
}

struct fetched {
    errc error;
    int64_t high_watermark;
    int64_t log_start;
    std::vector<std::byte> records;
};

inline fetched fetch_from(const received_frame& f) {
    const auto* r = f.envelope->body_as_FetchResponse();
    REQUIRE(r != nullptr);
    REQUIRE(r->topics()->size() == 1);
    const auto* pr = r->topics()->Get(0)->partitions()->Get(0);
    auto bytes = frame::resolve(pr->records(), f.data);
    REQUIRE(bytes.has_value());
    return {errc(pr->error_code()),
            pr->high_watermark(),
            pr->log_start_offset(),
            {bytes.value().begin(), bytes.value().end()}};
}

inline fetched fetch(wire_client& c, const std::string& topic, int32_t p, int64_t offset,
                     int32_t max_wait_ms = 0, int32_t min_bytes = 1,
                     int32_t partition_max_bytes = 1 << 20, int32_t max_bytes = 50 << 20) {
    return fetch_from(c.call(fetch_request(c.next_correlation(), topic, p, offset, max_wait_ms,
                                           min_bytes, partition_max_bytes, max_bytes)));
}

inline const fbs::ListOffsetsPartitionResponse* list_offset(wire_client& c, received_frame& keep,
                                                            const std::string& topic, int32_t p,
                                                            int64_t ts) {
    keep = c.call(list_offsets_request(c.next_correlation(), topic, p, ts));
    const auto* r = keep.envelope->body_as_ListOffsetsResponse();
    REQUIRE(r != nullptr);
    return r->topics()->Get(0)->partitions()->Get(0);
}

// The batches of a fetch, with the offsets and epochs the broker stamped into them.
inline std::vector<batch_view> batches_of(const std::vector<std::byte>& records) {
    return split_batches(records);
}

}  // namespace sluice::testing
