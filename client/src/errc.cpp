#include "sluice/client/errc.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "sluice/protocol/errc.h"

namespace sluice {
namespace {

std::string plain_message(int code) {
    switch (static_cast<client_errc>(code)) {
        case client_errc::broker_unreachable:
            return "broker unreachable";
        case client_errc::timed_out:
            return "timed out";
        case client_errc::closed:
            return "client closed";
        case client_errc::buffer_exhausted:
            return "buffer exhausted (buffer.memory full for max.block.ms)";
        case client_errc::invalid_config:
            return "invalid config";
        case client_errc::unknown_topic:
            return "unknown topic";
        case client_errc::protocol_error:
            return "protocol error";
        case client_errc::record_too_large:
            return "record too large";
        case client_errc::invalid_record:
            return "invalid record";
    }
    return "client error " + std::to_string(code);
}

class plain_category final : public std::error_category {
  public:
    const char* name() const noexcept override { return "sluice.client"; }
    std::string message(int code) const override { return plain_message(code); }
};

const plain_category& plain() noexcept {
    static const plain_category instance;
    return instance;
}

// A category that carries one detail message. Its codes map to the plain category's conditions,
// so `ec == client_errc::x` holds for them.
class detail_category final : public std::error_category {
  public:
    explicit detail_category(std::string message) : message_(std::move(message)) {}
    const char* name() const noexcept override { return "sluice.client"; }
    std::string message(int) const override { return message_; }
    std::error_condition default_error_condition(int code) const noexcept override {
        return {code, plain()};
    }

  private:
    std::string message_;
};

// Bound on interned detail categories: they live until the process ends.
constexpr size_t detail_categories_max = 4096;

}  // namespace

const std::error_category& client_category() noexcept {
    return plain();
}

std::error_code make_error_code(client_errc e) noexcept {
    return {static_cast<int>(e), plain()};
}

std::error_condition make_error_condition(client_errc e) noexcept {
    return {static_cast<int>(e), plain()};
}

std::error_code make_client_error(client_errc e, std::string_view detail) {
    std::string message = plain_message(static_cast<int>(e));
    message += ": ";
    message += detail;
    static std::mutex mutex;
    static std::map<std::string, std::unique_ptr<detail_category>, std::less<>> interned;
    std::lock_guard lock(mutex);
    auto it = interned.find(message);
    if (it == interned.end()) {
        if (interned.size() >= detail_categories_max) {
            return make_error_code(e);
        }
        auto cat = std::make_unique<detail_category>(message);
        it = interned.emplace(std::move(message), std::move(cat)).first;
    }
    return {static_cast<int>(e), *it->second};
}

bool is_retriable(std::error_code ec) noexcept {
    if (ec.category() == sluice_category()) {
        switch (static_cast<errc>(ec.value())) {
            case errc::unknown_topic_or_partition:
            case errc::leader_not_available:
            case errc::not_leader_or_follower:
            case errc::request_timed_out:
            case errc::broker_not_available:
            case errc::replica_not_available:
            case errc::network_exception:
            case errc::coordinator_load_in_progress:
            case errc::coordinator_not_available:
            case errc::not_coordinator:
            case errc::not_enough_replicas:
            case errc::not_enough_replicas_after_append:
            case errc::kafka_storage_error:
            case errc::fenced_leader_epoch:
            case errc::unknown_leader_epoch:
            case errc::offset_not_available:
            case errc::preferred_leader_not_available:
            case errc::eligible_leaders_not_available:
                return true;
            default:
                return false;
        }
    }
    return ec == client_errc::broker_unreachable || ec == client_errc::timed_out;
}

}  // namespace sluice
