// The error codes that Sluice's broker and clients share. Where Kafka has the same error, the
// number is Kafka's, so that a future Kafka-protocol listener is a plain translation. Codes that
// Kafka lacks start at 1000. These are the codes a client sees on the wire; local errors (a dead
// socket, an errno from the file system) stay std::error_codes of their own categories.
#pragma once

#include <cstdint>
#include <string_view>
#include <system_error>

namespace sluice {

enum class errc : int16_t {
    unknown_server_error = -1,
    none = 0,
    offset_out_of_range = 1,
    corrupt_message = 2,
    unknown_topic_or_partition = 3,
    invalid_fetch_size = 4,
    leader_not_available = 5,
    not_leader_or_follower = 6,
    request_timed_out = 7,
    broker_not_available = 8,
    replica_not_available = 9,
    message_too_large = 10,
    network_exception = 13,
    coordinator_load_in_progress = 14,
    coordinator_not_available = 15,
    not_coordinator = 16,
    invalid_topic = 17,
    record_list_too_large = 18,
    not_enough_replicas = 19,
    not_enough_replicas_after_append = 20,
    invalid_required_acks = 21,
    illegal_generation = 22,
    inconsistent_group_protocol = 23,
    invalid_group_id = 24,
    unknown_member_id = 25,
    invalid_session_timeout = 26,
    rebalance_in_progress = 27,
    invalid_commit_offset_size = 28,
    unsupported_version = 35,
    topic_already_exists = 36,
    invalid_partitions = 37,
    invalid_replication_factor = 38,
    invalid_config = 40,
    not_controller = 41,
    invalid_request = 42,
    unsupported_for_message_format = 43,
    out_of_order_sequence_number = 45,
    duplicate_sequence_number = 46,
    invalid_producer_epoch = 47,
    kafka_storage_error = 56,
    non_empty_group = 68,
    group_id_not_found = 69,
    unknown_producer_id = 59,
    fenced_leader_epoch = 74,
    unknown_leader_epoch = 75,
    unsupported_compression_type = 76,
    stale_broker_epoch = 77,
    offset_not_available = 78,
    preferred_leader_not_available = 80,
    group_max_size_reached = 81,
    fenced_instance_id = 82,
    eligible_leaders_not_available = 83,
    election_not_needed = 84,
    invalid_record = 87,
    invalid_update_version = 95,
    duplicate_broker_registration = 101,
    broker_id_not_registered = 102,
    ineligible_replica = 107,
    new_leader_elected = 108,
    // Sluice's own codes.
    conflict = 1000,    // conditional append: the partition's end offset was not the expected one
    log_closed = 1001,  // the log was closed or failed and takes no more writes
};

const std::error_category& sluice_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), sluice_category()};
}

// The Kafka-style upper-case name of a code ("CORRUPT_MESSAGE"), for logs and CLI output.
std::string_view errc_name(errc e) noexcept;

}  // namespace sluice

template <>
struct std::is_error_code_enum<sluice::errc> : std::true_type {};
