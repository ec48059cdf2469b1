// Building producer and consumer configurations from the CLI's properties, and the checks that
// make the CLI fail fast (an unknown topic or partition is reported at once instead of after the
// producer's metadata wait, max.block.ms).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/cli/args.h"
#include "sluice/client/config.h"
#include "sluice/consumer/consumer.h"
#include "sluice/producer/producer.h"

namespace sluice::cli {

// bootstrap.servers from -b, then the user's properties (which may override it). An invalid
// property is named in the message ("-X linger.ms=abc: invalid producer property").
cli_result<producer_config> make_producer_config(const std::string& servers,
                                                 std::map<std::string, std::string> props);
cli_result<consumer_config> make_consumer_config(const std::string& servers,
                                                 std::map<std::string, std::string> props);

// Looks the topic up with an admin client: exit_ok if it exists (and has `partition`, when
// given), else prints the error line and returns exit_failure.
int check_topic(std::string_view command, const client_config& config, const std::string& topic,
                std::optional<int32_t> partition);

// The topic's partition count, or the error line already printed (nullopt).
std::optional<int32_t> partition_count(std::string_view command, const client_config& config,
                                       const std::string& topic);

}  // namespace sluice::cli
