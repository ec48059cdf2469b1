// A broker's requests to the active controller and their answers, on the controller listener
// (docs/protocol.md, "The controller listener"): registration, heartbeat, and the topic and
// quorum calls of clients, forwarded from any broker. One frame each way, an envelope whose api key
// is ControllerRequest or ControllerResponse, matched by its correlation id; every frame names its
// cluster. Decoding checks structure and refuses with a reason; the controller checks values.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sluice/controller/quorum_controller.h"
#include "sluice/core/topic_admin.h"

namespace sluice::controller {

struct create_call {
    std::vector<broker::create_topic_request> topics;
    bool validate_only = false;
};

struct delete_call {
    std::vector<std::string> names;
};

struct grow_call {
    std::vector<broker::partition_count_request> topics;
    bool validate_only = false;
};

struct alter_call {
    std::vector<broker::config_change_request> topics;
    bool validate_only = false;
};

struct quorum_call {};

// Preferred leader elections for `topics` (all if empty).
struct elect_call {
    std::vector<std::string> topics;
};

// What a broker asks the active controller, and what it answers (a list of topic answers
// serves every topic call).
using rpc_call = std::variant<broker_registration, broker_heartbeat, create_call, delete_call,
                              grow_call, alter_call, quorum_call, alter_partition_request,
                              elect_call, producer_ids_request>;
using rpc_answer =
    std::variant<registration_result, heartbeat_result, std::vector<broker::topic_result>,
                 broker::quorum_status, alter_partition_result,
                 std::vector<broker::election_result>, producer_ids_result>;

// Whether `call` changes topics or leaders (its outcome may be unknown when the controller goes
// away).
bool is_topic_change(const rpc_call& call);

// The answer to `call` that says `e` (NOT_CONTROLLER, REQUEST_TIMED_OUT, ...) for all of it.
rpc_answer error_answer(const rpc_call& call, errc e, const std::string& message);

// Runs `call` on an active controller; `done` is called once, on the controller's executor.
void run_call(quorum_controller& c, rpc_call call, std::function<void(rpc_answer)> done);

struct rpc_request {
    std::string cluster_id;
    int32_t correlation = 0;
    node_id_t from{-1};
    // A registration's and a heartbeat's broker id is `from`.
    rpc_call call;
};

struct rpc_response {
    std::string cluster_id;
    int32_t correlation = 0;
    rpc_answer answer;
    offset_t metadata_offset{-1};
};

// What kind of frame this is, from its envelope: RaftMessage, ControllerRequest,
// ControllerResponse or anything else; nothing if it is not a frame.
enum class controller_frame { raft, request, response, other };
std::optional<controller_frame> frame_kind(std::span<const std::byte> frame);

std::vector<std::byte> encode_rpc_request(const rpc_request& r);
std::vector<std::byte> encode_rpc_response(const rpc_response& r);

// The request or answer of a whole frame, or nothing with `*why` saying what was wrong.
std::optional<rpc_request> decode_rpc_request(std::span<const std::byte> frame,
                                              std::string* why = nullptr);
std::optional<rpc_response> decode_rpc_response(std::span<const std::byte> frame,
                                                std::string* why = nullptr);

}  // namespace sluice::controller
