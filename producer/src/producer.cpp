#include "sluice/producer/producer.h"

#include <atomic>
#include <mutex>

#include "accumulator.h"
#include "producer_limits.h"
#include "sender.h"
#include "sluice/client/internal/cluster.h"
#include "sluice/client/internal/io_thread.h"

namespace sluice {
namespace detail {

using namespace std::chrono_literals;

// Owns the pieces and their order of destruction: the I/O thread is joined before the sender,
// the cluster and finally the io_context go away.
class producer_impl {
  public:
    explicit producer_impl(const producer_config& config)
        : config_(config),
          cluster_(io_.context(), config_, client::connection_options_for(config_)),
          acc_(
              accumulator::options{
                  size_t(config_.batch_size), std::chrono::milliseconds(config_.linger_ms),
                  config_.buffer_memory, std::chrono::milliseconds(config_.delivery_timeout_ms),
                  size_t(config_.max_request_size),
                  std::chrono::milliseconds(config_.retry_backoff_ms), idempotent(config_)},
              [this] { client::asio::post(io_.context(), [this] { sender_.run(); }); }),
          sender_(cluster_, acc_, config_) {
        io_.call([this] { cluster_.set_on_change([this] { sender_.run(); }); });
    }

    ~producer_impl() { close(); }

    void send(producer_record r, producer::callback cb) {
        const std::error_code ec =
            refuse_conditional(r) ? acks_zero() : acc_.append(r, cb, send_deadline());
        if (ec && cb) {
            // Failed inside send(): completed here, on the caller's thread, before send returns.
            try {
                cb(result<record_metadata>(ec));
            } catch (...) {
            }
        }
    }

    void send_conditional(producer_record r, producer::conditional_callback cb) {
        producer::callback none;
        const std::error_code ec =
            refuse_conditional(r) ? acks_zero() : acc_.append(r, none, send_deadline(), &cb);
        if (ec && cb) {
            try {
                cb(conditional_result{result<record_metadata>(ec), -1});
            } catch (...) {
            }
        }
    }

    result<void> flush() {
        if (io_.in_this_thread()) {
            return std::make_error_code(std::errc::resource_deadlock_would_occur);
        }
        acc_.wait_flushed(acc_.begin_flush());
        return success();
    }

    void close() {
        if (io_.in_this_thread()) {
            // From a callback: the I/O thread cannot wait for itself. Stop taking records and
            // send what there is; the destructor finishes the close.
            acc_.begin_close();
            return;
        }
        std::lock_guard lk(close_mutex_);
        if (closed_) {
            return;
        }
        acc_.begin_close();
        acc_.wait_flushed(UINT64_MAX);
        io_.call([this] {
            sender_.stop();
            cluster_.close(make_error_code(client_errc::closed));
        });
        io_.join();
        closed_ = true;
    }

  private:
    // With acks=0 no answer comes back, so no CONFLICT either: a conditional append would be
    // reported written whatever the leader did.
    bool refuse_conditional(const producer_record& r) const {
        return r.expected_offset && config_.acks == 0;
    }
    static std::error_code acks_zero() {
        return make_client_error(client_errc::invalid_record,
                                 "a conditional append (expected_offset) needs acks=1 or all");
    }

    // From a callback, on the I/O thread, waiting would block the thread that frees memory and
    // fetches metadata: fail at once instead of blocking.
    steady::time_point send_deadline() {
        return io_.in_this_thread()
                   ? steady::now()
                   : steady::now() + std::chrono::milliseconds(config_.max_block_ms);
    }

    const producer_config config_;
    client::io_thread io_;
    client::cluster cluster_;
    accumulator acc_;
    sender sender_;
    std::mutex close_mutex_;
    bool closed_ = false;
};

}  // namespace detail

result<std::unique_ptr<producer>> producer::create(producer_config config) {
    SLUICE_TRY(detail::validate(config));
    return std::unique_ptr<producer>(new producer(std::make_unique<detail::producer_impl>(config)));
}

producer::producer(std::unique_ptr<detail::producer_impl> impl) : impl_(std::move(impl)) {}

producer::~producer() = default;

void producer::send(producer_record r, callback cb) {
    impl_->send(std::move(r), std::move(cb));
}

std::future<result<record_metadata>> producer::send(producer_record r) {
    auto done = std::make_shared<std::promise<result<record_metadata>>>();
    auto f = done->get_future();
    impl_->send(std::move(r), [done](const result<record_metadata>& res) { done->set_value(res); });
    return f;
}

void producer::send_conditional(producer_record r, conditional_callback cb) {
    impl_->send_conditional(std::move(r), std::move(cb));
}

std::future<conditional_result> producer::send_conditional(producer_record r) {
    auto done = std::make_shared<std::promise<conditional_result>>();
    auto f = done->get_future();
    impl_->send_conditional(std::move(r),
                            [done](const conditional_result& res) { done->set_value(res); });
    return f;
}

result<void> producer::flush() {
    return impl_->flush();
}

void producer::close() {
    impl_->close();
}

}  // namespace sluice
