#include <climits>

#include "consumer_limits.h"
#include "sluice/client/internal/config_parse.h"
#include "sluice/consumer/consumer.h"

namespace sluice {

result<consumer_config> consumer_config::from_properties(
    const std::map<std::string, std::string>& props) {
    consumer_config c;
    client::properties p(props);
    SLUICE_TRY(p.get_common(c));
    SLUICE_TRY(p.get("fetch.min.bytes", c.fetch_min_bytes, 0, INT_MAX));
    SLUICE_TRY(p.get("fetch.max.wait.ms", c.fetch_max_wait_ms, 0, INT_MAX));
    SLUICE_TRY(p.get("fetch.max.bytes", c.fetch_max_bytes, 1, detail::fetch_max_bytes_max));
    SLUICE_TRY(p.get("max.partition.fetch.bytes", c.max_partition_fetch_bytes, 1,
                     detail::fetch_max_bytes_max));
    SLUICE_TRY(p.get("max.poll.records", c.max_poll_records, 1, INT_MAX));
    SLUICE_TRY(
        p.get_choice("auto.offset.reset", c.auto_offset_reset, {"earliest", "latest", "none"}));
    SLUICE_TRY(p.finish());
    SLUICE_TRY(detail::validate(c));
    return c;
}

namespace detail {

result<void> validate(const consumer_config& c) {
    SLUICE_TRY(client::validate(c));
    auto bad = [](std::string_view key, int64_t v, std::string_view why) {
        return client::config_error(key, std::to_string(v), why);
    };
    if (c.fetch_min_bytes < 0) {
        return bad("fetch.min.bytes", c.fetch_min_bytes, "must be >= 0");
    }
    if (c.fetch_max_wait_ms < 0) {
        return bad("fetch.max.wait.ms", c.fetch_max_wait_ms, "must be >= 0");
    }
    if (c.fetch_max_bytes < 1 || c.fetch_max_bytes > fetch_max_bytes_max) {
        return bad("fetch.max.bytes", c.fetch_max_bytes, "must be in [1, 1073741824]");
    }
    if (c.max_partition_fetch_bytes < 1 || c.max_partition_fetch_bytes > fetch_max_bytes_max) {
        return bad("max.partition.fetch.bytes", c.max_partition_fetch_bytes,
                   "must be in [1, 1073741824]");
    }
    if (c.max_poll_records < 1) {
        return bad("max.poll.records", c.max_poll_records, "must be >= 1");
    }
    if (c.auto_offset_reset != "earliest" && c.auto_offset_reset != "latest" &&
        c.auto_offset_reset != "none") {
        return client::config_error("auto.offset.reset", c.auto_offset_reset,
                                    "must be one of earliest, latest, none");
    }
    return success();
}

}  // namespace detail
}  // namespace sluice
