#include "sluice/client/internal/metadata_refresher.h"

namespace sluice::client {

metadata_refresher::outcome metadata_refresher::maybe_refresh(
    bool needed, const std::function<std::vector<std::string>()>& topics,
    bool allow_auto_topic_creation) {
    const auto now = clock::now();
    const auto max_age = std::chrono::milliseconds(cluster_.config().metadata_max_age_ms);
    const auto expires = cluster_.metadata().updated() + max_age;
    if (stopped_ || running_) {
        return {};
    }
    if (!needed && now < expires) {
        return {false, expires};
    }
    if (now < next_allowed_) {
        return {false, next_allowed_};
    }
    metadata_request req;
    req.topics = topics();
    if (req.topics.empty()) {
        return {};
    }
    running_ = true;
    req.allow_auto_topic_creation = allow_auto_topic_creation;
    asio::co_spawn(
        cluster_.io(),
        [this, req = std::move(req)]() mutable -> awaitable<void> {
            auto m = co_await cluster_.refresh(std::move(req));
            running_ = false;
            next_allowed_ =
                clock::now() + std::chrono::milliseconds(cluster_.config().retry_backoff_ms);
            if (!stopped_) {
                done_(m);
            }
        },
        rethrow_escaped);
    return {true, clock::time_point::max()};
}

}  // namespace sluice::client
