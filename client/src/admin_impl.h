// The admin's state, shared by the files that implement its calls (admin.cpp,
// admin_groups.cpp).
#pragma once

#include <algorithm>

#include "sluice/client/admin.h"
#include "sluice/client/internal/cluster.h"
#include "sluice/client/internal/co_try.h"
#include "sluice/client/internal/io_thread.h"

namespace sluice {
namespace detail {

using namespace sluice::client;

// The admin's state. The cluster lives on the I/O thread; public calls run a coroutine there and
// wait for it.
class admin_impl {
  public:
    explicit admin_impl(const client_config& config)
        : cluster_(io_.context(), config, connection_options_for(config)) {}

    ~admin_impl() {
        io_.call([this] { cluster_.close(make_error_code(client_errc::closed)); });
        io_.join();
    }

    template <typename T, typename F>
    result<T> run(F make) {
        return io_.run<result<T>>(make);
    }

    cluster& cl() { return cluster_; }

    // Sends the request `encode(correlation id)` makes to any broker and decodes the answer.
    template <typename T, typename Encode, typename Decode>
    awaitable<result<T>> ask(Encode encode, Decode decode) {
        SLUICE_CO_TRY(auto conn, co_await cluster_.any());
        SLUICE_CO_TRY(response r, co_await conn->call(encode, cluster_.request_timeout()));
        co_return decode(r);
    }

    // The first error among `results` (its words in `broker_message`), or success.
    static result<void> first_error(const std::vector<topic_result>& results,
                                    std::string* broker_message) {
        for (const topic_result& res : results) {
            if (res.error != errc::none) {
                if (broker_message != nullptr) {
                    *broker_message = res.error_message;
                }
                return make_error_code(res.error);
            }
        }
        return success();
    }
    clock::time_point deadline() const { return clock::now() + cluster_.request_timeout(); }

    // Waits (bounded by `deadline`) until the metadata shows `name` with at least
    // `partitions_min` partitions, each with a leader (`present`), or no longer shows it
    // (!present). Metadata propagation is
    // immediate on one broker; this keeps a following produce from racing the creation.
    awaitable<void> await_topic(std::string name, bool present, clock::time_point deadline,
                                size_t partitions_min = 1) {
        const auto backoff =
            std::chrono::milliseconds(std::max(cluster_.config().retry_backoff_ms, 10));
        while (clock::now() < deadline) {
            metadata_request req;
            req.topics.push_back(name);
            auto m = co_await cluster_.refresh(std::move(req));
            if (m) {
                const topic_meta* t = cluster_.metadata().topic(name);
                const bool ready =
                    t != nullptr && t->partitions.size() >= partitions_min &&
                    std::all_of(t->partitions.begin(), t->partitions.end(),
                                [](const partition_meta& p) { return p.leader >= 0; });
                if (present ? ready : t == nullptr) {
                    co_return;
                }
            }
            co_await sleep_for(backoff);
        }
    }

  private:
    io_thread io_;  // destroyed last: the cluster's sockets belong to its io_context
    cluster cluster_;
};

}  // namespace detail

}  // namespace sluice
