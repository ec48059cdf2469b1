// Small helpers for integration tests that use the client libraries against a broker_process.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "broker_process.h"
#include "sluice/client/admin.h"
#include "sluice/consumer/consumer.h"
#include "sluice/producer/producer.h"

namespace sluice::testing {

inline client_config client_for(const broker_process& b) {
    client_config c;
    c.bootstrap_servers = {b.bootstrap()};
    c.client_id = "sluice-it";
    return c;
}

inline producer_config producer_for(const broker_process& b) {
    producer_config p;
    static_cast<client_config&>(p) = client_for(b);
    return p;
}

// auto.offset.reset=earliest: a test reads what it wrote.
inline consumer_config consumer_for(const broker_process& b) {
    consumer_config c;
    static_cast<client_config&>(c) = client_for(b);
    c.auto_offset_reset = "earliest";
    return c;
}

inline result<void> create_topic(const broker_process& b, const std::string& name,
                                 int32_t partitions,
                                 const std::map<std::string, std::string>& configs = {}) {
    SLUICE_TRY(auto a, admin::create(client_for(b)));
    return a->create_topic(name, partitions, -1, configs);
}

inline std::vector<topic_partition> partitions_of(const std::string& topic, int32_t n) {
    std::vector<topic_partition> tps;
    for (int32_t p = 0; p < n; ++p) {
        tps.push_back({topic, p});
    }
    return tps;
}

// Polls until at least `count` records arrived or `timeout` passed; everything polled is
// returned (a poll error ends the loop; it is returned if nothing else went wrong).
inline result<std::vector<consumer_record>> poll_until(consumer& c, size_t count,
                                                       std::chrono::milliseconds timeout) {
    std::vector<consumer_record> out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
        SLUICE_TRY(auto batch, c.poll(std::chrono::milliseconds(200)));
        for (auto& r : batch) {
            out.push_back(std::move(r));
        }
    }
    return out;
}

}  // namespace sluice::testing
