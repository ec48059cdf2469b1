#include "sluice/protocol/errc.h"

#include <cerrno>
#include <string>

#include "sluice/protocol/result.h"

namespace sluice {
namespace {

class category final : public std::error_category {
  public:
    const char* name() const noexcept override { return "sluice"; }
    std::string message(int code) const override {
        return std::string(errc_name(static_cast<errc>(code)));
    }
};

}  // namespace

const std::error_category& sluice_category() noexcept {
    static const category instance;
    return instance;
}

std::string_view errc_name(errc e) noexcept {
    switch (e) {
        case errc::unknown_server_error:
            return "UNKNOWN_SERVER_ERROR";
        case errc::none:
            return "NONE";
        case errc::offset_out_of_range:
            return "OFFSET_OUT_OF_RANGE";
        case errc::corrupt_message:
            return "CORRUPT_MESSAGE";
        case errc::unknown_topic_or_partition:
            return "UNKNOWN_TOPIC_OR_PARTITION";
        case errc::invalid_fetch_size:
            return "INVALID_FETCH_SIZE";
        case errc::leader_not_available:
            return "LEADER_NOT_AVAILABLE";
        case errc::not_leader_or_follower:
            return "NOT_LEADER_OR_FOLLOWER";
        case errc::request_timed_out:
            return "REQUEST_TIMED_OUT";
        case errc::broker_not_available:
            return "BROKER_NOT_AVAILABLE";
        case errc::replica_not_available:
            return "REPLICA_NOT_AVAILABLE";
        case errc::message_too_large:
            return "MESSAGE_TOO_LARGE";
        case errc::network_exception:
            return "NETWORK_EXCEPTION";
        case errc::coordinator_load_in_progress:
            return "COORDINATOR_LOAD_IN_PROGRESS";
        case errc::coordinator_not_available:
            return "COORDINATOR_NOT_AVAILABLE";
        case errc::not_coordinator:
            return "NOT_COORDINATOR";
        case errc::illegal_generation:
            return "ILLEGAL_GENERATION";
        case errc::inconsistent_group_protocol:
            return "INCONSISTENT_GROUP_PROTOCOL";
        case errc::invalid_group_id:
            return "INVALID_GROUP_ID";
        case errc::unknown_member_id:
            return "UNKNOWN_MEMBER_ID";
        case errc::invalid_session_timeout:
            return "INVALID_SESSION_TIMEOUT";
        case errc::rebalance_in_progress:
            return "REBALANCE_IN_PROGRESS";
        case errc::invalid_commit_offset_size:
            return "INVALID_COMMIT_OFFSET_SIZE";
        case errc::non_empty_group:
            return "NON_EMPTY_GROUP";
        case errc::group_id_not_found:
            return "GROUP_ID_NOT_FOUND";
        case errc::group_max_size_reached:
            return "GROUP_MAX_SIZE_REACHED";
        case errc::fenced_instance_id:
            return "FENCED_INSTANCE_ID";
        case errc::invalid_topic:
            return "INVALID_TOPIC_EXCEPTION";
        case errc::record_list_too_large:
            return "RECORD_LIST_TOO_LARGE";
        case errc::not_enough_replicas:
            return "NOT_ENOUGH_REPLICAS";
        case errc::not_enough_replicas_after_append:
            return "NOT_ENOUGH_REPLICAS_AFTER_APPEND";
        case errc::invalid_required_acks:
            return "INVALID_REQUIRED_ACKS";
        case errc::unsupported_version:
            return "UNSUPPORTED_VERSION";
        case errc::topic_already_exists:
            return "TOPIC_ALREADY_EXISTS";
        case errc::invalid_partitions:
            return "INVALID_PARTITIONS";
        case errc::invalid_replication_factor:
            return "INVALID_REPLICATION_FACTOR";
        case errc::invalid_config:
            return "INVALID_CONFIG";
        case errc::not_controller:
            return "NOT_CONTROLLER";
        case errc::invalid_request:
            return "INVALID_REQUEST";
        case errc::unsupported_for_message_format:
            return "UNSUPPORTED_FOR_MESSAGE_FORMAT";
        case errc::out_of_order_sequence_number:
            return "OUT_OF_ORDER_SEQUENCE_NUMBER";
        case errc::duplicate_sequence_number:
            return "DUPLICATE_SEQUENCE_NUMBER";
        case errc::invalid_producer_epoch:
            return "INVALID_PRODUCER_EPOCH";
        case errc::kafka_storage_error:
            return "KAFKA_STORAGE_ERROR";
        case errc::unknown_producer_id:
            return "UNKNOWN_PRODUCER_ID";
        case errc::fenced_leader_epoch:
            return "FENCED_LEADER_EPOCH";
        case errc::unknown_leader_epoch:
            return "UNKNOWN_LEADER_EPOCH";
        case errc::unsupported_compression_type:
            return "UNSUPPORTED_COMPRESSION_TYPE";
        case errc::stale_broker_epoch:
            return "STALE_BROKER_EPOCH";
        case errc::offset_not_available:
            return "OFFSET_NOT_AVAILABLE";
        case errc::preferred_leader_not_available:
            return "PREFERRED_LEADER_NOT_AVAILABLE";
        case errc::eligible_leaders_not_available:
            return "ELIGIBLE_LEADERS_NOT_AVAILABLE";
        case errc::election_not_needed:
            return "ELECTION_NOT_NEEDED";
        case errc::invalid_update_version:
            return "INVALID_UPDATE_VERSION";
        case errc::ineligible_replica:
            return "INELIGIBLE_REPLICA";
        case errc::new_leader_elected:
            return "NEW_LEADER_ELECTED";
        case errc::invalid_record:
            return "INVALID_RECORD";
        case errc::duplicate_broker_registration:
            return "DUPLICATE_BROKER_REGISTRATION";
        case errc::broker_id_not_registered:
            return "BROKER_ID_NOT_REGISTERED";
        case errc::conflict:
            return "CONFLICT";
        case errc::log_closed:
            return "LOG_CLOSED";
    }
    return "UNKNOWN_ERROR_CODE";
}

std::error_code errno_code() {
    return {errno, std::generic_category()};
}

}  // namespace sluice
