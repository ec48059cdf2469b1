// The admin client: topics and cluster metadata.
//
// Threading: an admin owns one background I/O thread; every call blocks the caller until its
// answer (or request.timeout.ms) and may be made from any thread, one call at a time per thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sluice/client/config.h"
#include "sluice/client/errc.h"
#include "sluice/protocol/result.h"

namespace sluice {

struct partition_info {
    int32_t partition;
    int32_t leader;
    int32_t leader_epoch;
    std::vector<int32_t> replicas;
    std::vector<int32_t> isr;
    int64_t log_start_offset;
    int64_t log_end_offset;  // end = high watermark
};

struct topic_info {
    std::string name;
    std::vector<partition_info> partitions;  // sorted by partition
};

struct broker_info {
    int32_t node_id;
    std::string host;
    int32_t port;
    bool is_controller = false;  // the active controller, as the answering broker knows it
};

namespace detail {
class admin_impl;
}

class admin {
  public:
    // Checks the config (client_errc::invalid_config) and starts the I/O thread; connects lazily.
    static result<std::unique_ptr<admin>> create(client_config config);
    ~admin();
    admin(const admin&) = delete;
    admin& operator=(const admin&) = delete;

    // partitions / replication_factor -1: the broker's defaults. Broker errors come back as
    // sluice::errc (TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS, INVALID_CONFIG, ...); if
    // `broker_message` is given, it receives the broker's words on what was wrong
    // ("replication factor 3 is larger than the 1 available broker"), or stays empty.
    result<void> create_topic(const std::string& name, int32_t partitions = -1,
                              int16_t replication_factor = -1,
                              const std::map<std::string, std::string>& configs = {},
                              std::string* broker_message = nullptr);
    result<void> delete_topic(const std::string& name, std::string* broker_message = nullptr);
    result<std::vector<std::string>> list_topics();  // sorted
    // errc::unknown_topic_or_partition if there is no such topic.
    result<topic_info> describe_topic(const std::string& name);
    result<std::vector<broker_info>> describe_cluster();  // sorted by node id

  private:
    explicit admin(std::unique_ptr<detail::admin_impl> impl);
    std::unique_ptr<detail::admin_impl> impl_;
};

}  // namespace sluice
