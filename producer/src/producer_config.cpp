#include <algorithm>
#include <climits>

#include "producer_limits.h"
#include "sluice/client/internal/config_parse.h"
#include "sluice/producer/producer.h"
#include "sluice/protocol/batch_format.h"

namespace sluice {

result<producer_config> producer_config::from_properties(
    const std::map<std::string, std::string>& props) {
    producer_config c;
    client::properties p(props);
    SLUICE_TRY(p.get_common(c));
    SLUICE_TRY(p.get_acks("acks", c.acks));
    SLUICE_TRY(p.get("batch.size", c.batch_size, 0, detail::batch_size_max));
    SLUICE_TRY(p.get("linger.ms", c.linger_ms, 0, INT_MAX));
    SLUICE_TRY(p.get("buffer.memory", c.buffer_memory, 1, INT64_MAX));
    SLUICE_TRY(p.get("max.block.ms", c.max_block_ms, 0, INT_MAX));
    SLUICE_TRY(p.get("retries", c.retries, 0, INT_MAX));
    SLUICE_TRY(p.get("delivery.timeout.ms", c.delivery_timeout_ms, 1, INT_MAX));
    SLUICE_TRY(p.get("max.in.flight.requests.per.connection",
                     c.max_in_flight_requests_per_connection, 1, detail::max_in_flight_max));
    SLUICE_TRY(p.get("max.request.size", c.max_request_size, 1, detail::max_request_size_max));
    std::string idempotence;
    SLUICE_TRY(p.get_choice("enable.idempotence", idempotence, {"true", "false"}));
    if (!idempotence.empty()) {
        c.enable_idempotence = idempotence == "true";
    }
    SLUICE_TRY(p.finish());
    // Kafka's rule: an explicit delivery.timeout.ms below linger.ms + request.timeout.ms is an
    // error; the default is raised to that sum.
    if (!props.contains("delivery.timeout.ms")) {
        c.delivery_timeout_ms = static_cast<int>(std::min<int64_t>(
            INT_MAX,
            std::max<int64_t>(c.delivery_timeout_ms, int64_t(c.linger_ms) + c.request_timeout_ms)));
    }
    SLUICE_TRY(detail::validate(c));
    return c;
}

namespace detail {

result<void> validate(const producer_config& c) {
    SLUICE_TRY(client::validate(c));
    auto bad = [](std::string_view key, int64_t v, std::string_view why) {
        return client::config_error(key, std::to_string(v), why);
    };
    if (c.acks != 0 && c.acks != 1 && c.acks != -1) {
        return bad("acks", c.acks, "must be 0, 1, all or -1");
    }
    if (c.batch_size < 0 || c.batch_size > batch_size_max) {
        return bad("batch.size", c.batch_size, "must be in [0, 67108864]");
    }
    if (c.linger_ms < 0) {
        return bad("linger.ms", c.linger_ms, "must be >= 0");
    }
    if (c.buffer_memory <= 0) {
        return bad("buffer.memory", c.buffer_memory, "must be > 0");
    }
    if (c.max_block_ms < 0) {
        return bad("max.block.ms", c.max_block_ms, "must be >= 0");
    }
    if (c.retries < 0) {
        return bad("retries", c.retries, "must be >= 0");
    }
    if (c.max_in_flight_requests_per_connection < 1 ||
        c.max_in_flight_requests_per_connection > max_in_flight_max) {
        return bad("max.in.flight.requests.per.connection", c.max_in_flight_requests_per_connection,
                   "must be in [1, 1000]");
    }
    if (c.max_request_size < 1 || c.max_request_size > max_request_size_max) {
        return bad("max.request.size", c.max_request_size, "must be in [1, 67108864]");
    }
    if (c.enable_idempotence.value_or(false)) {
        if (c.acks != -1) {
            return bad("acks", c.acks,
                       "must be all (-1) with enable.idempotence=true (or set "
                       "enable.idempotence=false)");
        }
        if (c.retries == 0) {
            return bad("retries", c.retries, "must be > 0 with enable.idempotence=true");
        }
        if (c.max_in_flight_requests_per_connection > idempotent_in_flight_max) {
            return bad("max.in.flight.requests.per.connection",
                       c.max_in_flight_requests_per_connection,
                       "must be at most 5 with enable.idempotence=true");
        }
    }
    // Kafka's rule: a record must get at least one full request timeout and its linger.
    if (int64_t(c.delivery_timeout_ms) < int64_t(c.linger_ms) + c.request_timeout_ms) {
        return bad("delivery.timeout.ms", c.delivery_timeout_ms,
                   "must be >= linger.ms + request.timeout.ms");
    }
    return success();
}

bool idempotent(const producer_config& c) {
    if (c.enable_idempotence) {
        return *c.enable_idempotence;
    }
    return c.acks == -1 && c.retries > 0 &&
           c.max_in_flight_requests_per_connection <= idempotent_in_flight_max;
}

}  // namespace detail
}  // namespace sluice
