#include "sender.h"

#include <fmt/format.h>

#include "sluice/client/errc.h"
#include "sluice/client/internal/co_try.h"
#include "sluice/client/internal/requests.h"

namespace sluice::detail {

using namespace std::chrono_literals;

struct sender::in_flight {
    std::vector<std::unique_ptr<producer_batch>> batches;
};

namespace {

// User callbacks must not take the I/O thread down with them.
void run_callback(const producer::callback& cb, const result<record_metadata>& r) noexcept {
    if (!cb) {
        return;
    }
    try {
        cb(r);
    } catch (...) {
        // A throwing callback loses its own exception, nothing else.
    }
}

void run_callback(const producer::conditional_callback& cb, const conditional_result& r) noexcept {
    try {
        cb(r);
    } catch (...) {
    }
}

// Errors after which the metadata is probably stale.
bool leader_moved(std::error_code ec) {
    return ec == errc::not_leader_or_follower || ec == errc::unknown_topic_or_partition ||
           ec == errc::leader_not_available || ec == errc::fenced_leader_epoch ||
           ec == errc::unknown_leader_epoch || ec == client_errc::broker_unreachable ||
           ec == client_errc::timed_out || ec == errc::network_exception;
}

// Errors a leader answers before it appends anything of the batch: its sequences may be given
// back. Any other error answer may follow an append (REQUEST_TIMED_OUT after the append,
// NOT_ENOUGH_REPLICAS_AFTER_APPEND, NOT_LEADER_OR_FOLLOWER while waiting for acknowledgements).
bool refused_before_append(errc e) {
    switch (e) {
        case errc::conflict:
        case errc::message_too_large:
        case errc::record_list_too_large:
        case errc::invalid_record:
        case errc::corrupt_message:
        case errc::out_of_order_sequence_number:
        case errc::invalid_producer_epoch:
        case errc::not_enough_replicas:
        case errc::unknown_topic_or_partition:
        case errc::invalid_request:
        case errc::invalid_required_acks:
        case errc::unsupported_compression_type:
            return true;
        default:
            return false;
    }
}

}  // namespace

sender::sender(client::cluster& cl, accumulator& acc, const producer_config& config)
    : cluster_(cl),
      acc_(acc),
      config_(config),
      timer_(cl.io()),
      refresher_(cl, [this](const result<client::metadata_answer>& m) {
          acc_.apply_metadata(m ? &m.value() : nullptr, m ? std::error_code{} : m.error());
          metadata_stale_ = metadata_stale_ || !m;
          run();
      }) {}

void sender::stop() {
    stopped_ = true;
    refresher_.stop();
    timer_.cancel();
}

void sender::run() {
    if (stopped_) {
        return;
    }
    const auto now = steady::now();
    const int window = config_.max_in_flight_requests_per_connection;
    bool unconnected = false;
    drain_result d = acc_.drain(now, [&](int32_t node) {
        auto conn = cluster_.ready(node);
        unconnected = unconnected || !conn;
        if (!conn && cluster_.unreachable(node)) {
            // The leader the metadata names cannot be reached: it may be dead and replaced, and
            // nothing else would ask for news until metadata.max.age.ms (Kafka refreshes too).
            metadata_stale_ = true;
        }
        return conn ? window - static_cast<int>(conn->in_flight()) : 0;
    });
    if (unconnected) {
        // ready() calls back when the attempt it started ends, but after a failed attempt it
        // holds back for retry.backoff.ms: look again then.
        d.next_run =
            std::min(d.next_run, now + std::chrono::milliseconds(config_.retry_backoff_ms));
    }
    for (auto& b : d.expired) {
        // A batch sent before (its answer lost) may have been written: say so.
        fail(*b, make_client_error(
                     client_errc::timed_out,
                     b->attempts > 0
                         ? fmt::format("delivery.timeout.ms ({} ms) passed before the batch was "
                                       "acknowledged; an earlier attempt may have written it",
                                       config_.delivery_timeout_ms)
                         : fmt::format("delivery.timeout.ms ({} ms) passed before the batch was "
                                       "sent",
                                       config_.delivery_timeout_ms)));
    }
    acc_.release(d.expired, batch_end::unknown);
    for (auto& b : d.failed) {
        fail(*b, d.failure);
    }
    acc_.release(d.failed, batch_end::refused);
    for (auto& b : d.settled) {
        complete(*b, -1, -1);
    }
    acc_.release(d.settled, batch_end::written);
    if (d.need_producer_id) {
        init_producer_id();
        if (!producer_id_running_) {
            d.next_run = std::min(d.next_run, producer_id_next_);
        }
    }
    for (drained_request& req : d.requests) {
        // drain() only fills requests for brokers whose connection is open.
        auto conn = cluster_.ready(req.node);
        send(std::move(req), conn);
    }
    // As Kafka's producer does, the request lets the broker create a missing topic if it is
    // configured to (auto.create.topics.enable).
    const bool needed = d.need_metadata || metadata_stale_ || acc_.metadata_wanted();
    const auto m = refresher_.maybe_refresh(
        needed, [this] { return acc_.topics(); }, true);
    if (m.started) {
        metadata_stale_ = false;
    }
    arm(std::min(d.next_run, m.call_again));
}

void sender::send(drained_request req, const std::shared_ptr<client::connection>& conn) {
    std::vector<client::produce_partition> parts;
    parts.reserve(req.batches.size());
    for (auto& b : req.batches) {
        b->finish();
        parts.push_back({b->topic, b->partition, b->bytes, b->expected_end});
    }
    auto flight = std::make_shared<in_flight>();
    flight->batches = std::move(req.batches);
    if (!conn) {
        on_answer(flight, make_client_error(client_errc::broker_unreachable,
                                            fmt::format("no connection to broker {}", req.node)));
        return;
    }
    client::request r;
    r.correlation_id = conn->next_correlation_id();
    r.frame = client::encode_produce(r.correlation_id, config_.client_id, config_.acks,
                                     config_.request_timeout_ms, parts);
    r.expects_response = config_.acks != 0;
    r.timeout =
        std::chrono::milliseconds(config_.request_timeout_ms) + client::produce_answer_grace;
    r.on_done = [this, flight](result<client::response> answer) {
        on_answer(flight, std::move(answer));
    };
    conn->send(std::move(r));
}

void sender::on_answer(const std::shared_ptr<in_flight>& flight, result<client::response> r) {
    std::vector<std::unique_ptr<producer_batch>>& batches = flight->batches;
    if (!r) {
        for (auto& b : batches) {
            b->maybe_written = true;
            retry_or_fail(std::move(b), r.error());
        }
        metadata_stale_ = metadata_stale_ || leader_moved(r.error());
    } else if (config_.acks == 0) {
        for (auto& b : batches) {
            complete(*b, -1, -1);
            acc_.release(*b, batch_end::written);
        }
    } else {
        auto answers = client::decode_produce(r.value());
        for (auto& b : batches) {
            if (!answers) {
                b->maybe_written = true;
                retry_or_fail(std::move(b), answers.error());
                continue;
            }
            const client::produce_answer* a = nullptr;
            for (const client::produce_answer& x : answers.value()) {
                if (x.partition == b->partition && x.topic == b->topic) {
                    a = &x;
                }
            }
            if (a == nullptr) {
                b->maybe_written = true;
                retry_or_fail(std::move(b), make_client_error(client_errc::protocol_error,
                                                              "produce answer misses a partition"));
            } else if (a->error == errc::out_of_order_sequence_number && b->stamped &&
                       acc_.known_written(*b)) {
                // A later batch was written, so this one was; the leader no longer has it among
                // the producer's last 5 to answer with its offsets.
                complete(*b, -1, -1);
                acc_.release(*b, batch_end::written);
            } else if (a->error == errc::out_of_order_sequence_number && b->stamped) {
                // An earlier batch of the partition failed, or the leader lost what came before
                // this one: retried in order either way (see accumulator::out_of_order).
                acc_.out_of_order(*b);
                retry_or_fail(std::move(b), make_error_code(a->error), true, batch_end::refused);
            } else if (a->error != errc::none) {
                const std::error_code ec = make_error_code(a->error);
                b->conflict_end = a->error == errc::conflict ? a->log_end_offset : -1;
                metadata_stale_ = metadata_stale_ || leader_moved(ec);
                if (!refused_before_append(a->error)) {
                    b->maybe_written = true;
                }
                retry_or_fail(std::move(b), ec, false, batch_end::refused);
            } else {
                complete(*b, a->base_offset, a->log_append_time_ms);
                acc_.release(*b, batch_end::written);
            }
        }
    }
    batches.clear();
    run();
}

void sender::complete(producer_batch& b, int64_t base_offset, int64_t log_append_time_ms) {
    result<record_metadata> r(record_metadata{std::string(b.topic), b.partition, -1, -1});
    record_metadata& m = r.value();
    for (size_t i = 0; i < b.thunks.size(); ++i) {
        m.offset = base_offset < 0 ? -1 : base_offset + int64_t(i);
        m.timestamp_ms = log_append_time_ms >= 0 ? log_append_time_ms : b.thunks[i].timestamp_ms;
        if (b.on_conditional) {
            run_callback(b.on_conditional, conditional_result{r, -1});
        } else {
            run_callback(b.thunks[i].cb, r);
        }
    }
}

void sender::fail(producer_batch& b, std::error_code ec) {
    if (b.on_conditional) {
        run_callback(b.on_conditional,
                     conditional_result{result<record_metadata>(ec), b.conflict_end});
        return;
    }
    const result<record_metadata> r(ec);
    for (const record_thunk& t : b.thunks) {
        run_callback(t.cb, r);
    }
}

void sender::retry_or_fail(std::unique_ptr<producer_batch> b, std::error_code ec, bool retriable,
                           batch_end if_failed) {
    const auto now = steady::now();
    const auto backoff = std::chrono::milliseconds(config_.retry_backoff_ms);
    const auto deadline = b->created + std::chrono::milliseconds(config_.delivery_timeout_ms);
    if ((retriable || is_retriable(ec)) && b->attempts < config_.retries &&
        now + backoff < deadline) {
        ++b->attempts;
        b->retry_at = now + backoff;
        acc_.requeue(std::move(b));
        return;
    }
    fail(*b, ec);
    // A refusal gives the batch's sequences back only if no attempt of it may have written it.
    acc_.release(*b, b->maybe_written ? batch_end::unknown : if_failed);
}

void sender::init_producer_id() {
    const auto now = steady::now();
    if (producer_id_running_ || now < producer_id_next_) {
        return;
    }
    producer_id_running_ = true;
    client::asio::co_spawn(
        cluster_.io(),
        [this]() -> client::awaitable<void> {
            auto got = co_await ask_producer_id();
            producer_id_running_ = false;
            producer_id_next_ = steady::now() + std::chrono::milliseconds(config_.retry_backoff_ms);
            if (stopped_) {
                co_return;
            }
            std::error_code ec = got ? make_error_code(got.value().error) : got.error();
            if (got && got.value().error == errc::none) {
                if (got.value().producer_id < 0 || got.value().producer_epoch < 0) {
                    ec = make_client_error(client_errc::protocol_error,
                                           "InitProducerId answered no producer id");
                } else {
                    acc_.set_producer_id(producer_id_t{got.value().producer_id});
                    ec = {};
                }
            }
            // A broker that cannot hand out ids yet (no controller) or cannot be reached: ask
            // again; one that refuses (an old broker, a transactional id) fails the records.
            const bool again = !ec || is_retriable(ec) ||
                               ec == errc::coordinator_load_in_progress ||
                               ec == errc::not_controller;
            if (!again) {
                acc_.producer_id_failed(make_client_error(
                    client_errc::invalid_config,
                    fmt::format("enable.idempotence: the broker refused InitProducerId ({}); "
                                "set enable.idempotence=false to produce without it",
                                ec.message())));
            }
            run();
        },
        client::rethrow_escaped);
}

client::awaitable<result<client::producer_id_meta>> sender::ask_producer_id() {
    const std::string& cid = config_.client_id;
    SLUICE_CO_TRY(std::shared_ptr<client::connection> c, co_await cluster_.any());
    SLUICE_CO_TRY(
        client::response r,
        co_await c->call([&](int32_t id) { return client::encode_init_producer_id(id, cid); },
                         cluster_.request_timeout()));
    co_return client::decode_init_producer_id(r);
}

void sender::arm(steady::time_point t) {
    if (stopped_ || t == steady::time_point::max() || t == timer_at_) {
        return;
    }
    if (t > timer_at_ && timer_at_ > steady::now()) {
        return;  // an earlier round is due anyway and will re-arm
    }
    timer_at_ = t;
    timer_.expires_at(t);
    timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) {
            return;
        }
        timer_at_ = steady::time_point::max();
        run();
    });
}

}  // namespace sluice::detail
