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

// A producer's or consumer's config from a command line: bootstrap.servers from -b, then the
// properties of the repeatable option `option` (spelled `flag` in messages; they may override
// bootstrap.servers), then `overrides`, which win. client.id defaults to "sluice-cli". An invalid
// property is named in the message ("-X linger.ms=abc: invalid producer property").
cli_result<producer_config> producer_config_from(
    const parsed_args& args, std::string_view option, std::string_view flag,
    const std::map<std::string, std::string>& overrides = {});
cli_result<consumer_config> consumer_config_from(const parsed_args& args, std::string_view option,
                                                 std::string_view flag);

// Looks the topic up with an admin client: exit_ok if it exists (and has `partition`, when
// given), else prints the error line and returns exit_failure.
int check_topic(std::string_view command, const client_config& config, const std::string& topic,
                std::optional<int32_t> partition);

// The topic's partition count, or the error line already printed (nullopt).
std::optional<int32_t> partition_count(std::string_view command, const client_config& config,
                                       const std::string& topic);

}  // namespace sluice::cli
