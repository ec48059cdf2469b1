// Settings every client (admin, producer, consumer) shares. Field names follow Kafka's config
// names (request.timeout.ms -> request_timeout_ms); producer_config and consumer_config extend it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sluice {

struct client_config {
    std::vector<std::string> bootstrap_servers{"127.0.0.1:9192"};  // "host:port"
    std::string client_id = "sluice";
    int request_timeout_ms = 30000;                  // request.timeout.ms
    int retry_backoff_ms = 100;                      // retry.backoff.ms
    int metadata_max_age_ms = 300000;                // metadata.max.age.ms
    int socket_connection_setup_timeout_ms = 10000;  // socket.connection.setup.timeout.ms
};

// Parses "a:1,b:2" into {"a:1", "b:2"}; blanks around entries are dropped, empty entries skipped.
std::vector<std::string> split_servers(std::string_view list);

}  // namespace sluice
