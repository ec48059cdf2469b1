#include <climits>

#include "assignors.h"
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
    SLUICE_TRY(p.get("group.id", c.group_id));
    std::string instance;
    SLUICE_TRY(p.get("group.instance.id", instance));
    if (!instance.empty()) {
        c.group_instance_id = instance;
    }
    SLUICE_TRY(p.get("session.timeout.ms", c.session_timeout_ms, 1, INT_MAX));
    SLUICE_TRY(p.get("heartbeat.interval.ms", c.heartbeat_interval_ms, 1, INT_MAX));
    SLUICE_TRY(p.get("max.poll.interval.ms", c.max_poll_interval_ms, 1, INT_MAX));
    std::string auto_commit = c.enable_auto_commit ? "true" : "false";
    SLUICE_TRY(p.get_choice("enable.auto.commit", auto_commit, {"true", "false"}));
    c.enable_auto_commit = auto_commit == "true";
    SLUICE_TRY(p.get("auto.commit.interval.ms", c.auto_commit_interval_ms, 1, INT_MAX));
    std::string strategies;
    SLUICE_TRY(p.get("partition.assignment.strategy", strategies));
    if (!strategies.empty()) {
        c.partition_assignment_strategy.clear();
        size_t at = 0;
        while (at <= strategies.size()) {
            size_t comma = strategies.find(',', at);
            if (comma == std::string::npos) {
                comma = strategies.size();
            }
            std::string name = strategies.substr(at, comma - at);
            name.erase(0, name.find_first_not_of(' '));
            name.erase(name.find_last_not_of(' ') + 1);
            // Kafka's class names name the same assignors.
            for (auto [java, ours] :
                 {std::pair{"RangeAssignor", "range"},
                  std::pair{"RoundRobinAssignor", "roundrobin"},
                  std::pair{"CooperativeStickyAssignor", "cooperative-sticky"}}) {
                if (name.ends_with(java)) {
                    name = ours;
                }
            }
            if (!name.empty()) {
                c.partition_assignment_strategy.push_back(name);
            }
            at = comma + 1;
        }
    }
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
    if (c.session_timeout_ms < 1) {
        return bad("session.timeout.ms", c.session_timeout_ms, "must be >= 1");
    }
    if (c.heartbeat_interval_ms < 1 || c.heartbeat_interval_ms >= c.session_timeout_ms) {
        return bad("heartbeat.interval.ms", c.heartbeat_interval_ms,
                   "must be >= 1 and below session.timeout.ms");
    }
    if (c.max_poll_interval_ms < 1) {
        return bad("max.poll.interval.ms", c.max_poll_interval_ms, "must be >= 1");
    }
    if (c.auto_commit_interval_ms < 1) {
        return bad("auto.commit.interval.ms", c.auto_commit_interval_ms, "must be >= 1");
    }
    if (c.group_instance_id && c.group_instance_id->empty()) {
        return client::config_error("group.instance.id", "", "must not be empty when set");
    }
    if (c.partition_assignment_strategy.empty()) {
        return client::config_error("partition.assignment.strategy", "",
                                    "name at least one of range, roundrobin, cooperative-sticky");
    }
    bool coop = false;
    bool eager = false;
    for (const auto& s : c.partition_assignment_strategy) {
        if (!known_assignor(s)) {
            return client::config_error("partition.assignment.strategy", s,
                                        "must be range, roundrobin or cooperative-sticky");
        }
        (cooperative(s) ? coop : eager) = true;
    }
    if (coop && eager) {
        return client::config_error(
            "partition.assignment.strategy", c.partition_assignment_strategy.front(),
            "cooperative-sticky cannot be mixed with the eager range or roundrobin: a group "
            "rebalances one way");
    }
    return success();
}

}  // namespace detail
}  // namespace sluice
