#include "sluice/core/partition.h"

#include <fmt/format.h>
#include "sluice/core/batch_validation.h"

#include "sluice/core/leader_epochs.h"
#include "sluice/core/logging.h"
#include "sluice/core/partition_identity.h"
#include "sluice/protocol/batch_format.h"
#include "sluice/protocol/byte_order.h"

namespace sluice::broker {

result<std::shared_ptr<partition>> partition::open(executor strand, options opts) {
    auto& fs = *opts.fs;
    bool adopt = false;  // write the topic id once the log is open
    if (!opts.create && !opts.topic_id.empty()) {
        SLUICE_TRY(bool present, fs.exists(opts.dir));
        SLUICE_TRY(auto held, read_partition_topic_id(fs, opts.dir));
        if (held && *held != opts.topic_id) {
            logging::warn(
                "{}-{}: {} holds topic id {}, but the topic's id is now {}: the "
                "directory is left from a deleted topic of the same name; removing it",
                opts.topic, opts.id, opts.dir.string(), *held, opts.topic_id);
            opts.create = true;
        }
        adopt = !held || opts.create || !present;
    }
    if (opts.create) {
        // No topic owns this directory, so anything in it is a leftover.
        SLUICE_TRY(storage::partition_log::destroy(fs, opts.dir));
        adopt = !opts.topic_id.empty();
    }
    storage::log_options lo;
    lo.dir = opts.dir;
    lo.config = opts.settings.log;
    lo.sync = opts.flusher;
    lo.fs = opts.fs;
    lo.time = opts.time;
    lo.files = opts.files;
    SLUICE_TRY(auto log, storage::partition_log::open(std::move(lo)));
    SLUICE_TRY(auto epochs, read_leader_epochs(fs, opts.dir));
    if (epochs.empty() || epochs.back().epoch < opts.epoch) {
        epochs.push_back({std::max(opts.epoch, leader_epoch_t{0}), log->end_offset()});
        SLUICE_TRY(write_leader_epochs(fs, opts.dir, epochs));
    }
    auto epoch = epochs.back().epoch;
    if (adopt) {
        SLUICE_TRY(write_partition_topic_id(fs, opts.dir, opts.topic_id));
    }
    const auto& r = log->recovery();
    if (!opts.create && (r.segments_scanned > 0 || r.bytes_truncated > 0)) {
        logging::info("{}-{}: recovered: {} segments scanned ({} bytes), {} bytes cut", opts.topic,
                      opts.id, r.segments_scanned, r.bytes_scanned, r.bytes_truncated);
    }
    return std::shared_ptr<partition>(
        new partition(std::move(strand), std::move(opts), std::move(log), epoch));
}

partition::partition(executor strand, options opts, std::unique_ptr<storage::partition_log> log,
                     leader_epoch_t epoch)
    : strand_(std::move(strand)),
      opts_(std::move(opts)),
      log_(std::move(log)),
      state_(log_ ? log_->end_offset() : offset_t{0},
             opts_.settings.log.flush == storage::flush_mode::fsync),
      epoch_(epoch.value()),
      leader_(opts_.leader) {}

std::optional<std::string> partition::not_leader() const {
    if (is_leader()) {
        return std::nullopt;
    }
    return fmt::format("this broker does not lead {}-{} (leader epoch {})", topic(), id(),
                       leader_epoch());
}

result<void> partition::record_epoch(leader_epoch_t epoch) {
    auto& fs = *opts_.fs;
    SLUICE_TRY(auto epochs, read_leader_epochs(fs, opts_.dir));
    epochs.push_back({epoch, log_->end_offset()});
    return write_leader_epochs(fs, opts_.dir, epochs);
}

bool partition::set_settings(const topic_settings& s) {
    const auto flush = opts_.settings.log.flush;
    opts_.settings = s;
    opts_.settings.log.flush = flush;
    if (log_) {
        log_->set_config(opts_.settings.log);
    }
    return s.log.flush == flush;
}

void partition::set_leadership(bool leader, leader_epoch_t epoch) {
    if (log_ && epoch > leader_epoch()) {
        if (auto r = record_epoch(epoch); !r) {
            // Leading at an epoch that is not on disk could let a restart reuse it: stay out.
            report("recording leader epoch", r.error());
            leader = false;
        } else {
            epoch_.store(epoch.value());
        }
    } else if (epoch < leader_epoch()) {
        logging::warn(
            "{}-{}: the metadata names leader epoch {} but the log is at {}; keeping "
            "{}",
            topic(), id(), epoch, leader_epoch(), leader_epoch());
    }
    const bool was = leader_.exchange(leader, std::memory_order_acq_rel);
    if (was && !leader) {
        state_.abort_all(errc::not_leader_or_follower);
    }
}

std::shared_ptr<partition> partition::offline(executor strand, options opts, std::error_code why) {
    logging::error(
        "{}-{}: offline: cannot open its log in {}: {}; requests for it get "
        "KAFKA_STORAGE_ERROR until the files are repaired (or the directory removed, "
        "giving its data up) and the broker restarted",
        opts.topic, opts.id, opts.dir.string(), why.message());
    std::shared_ptr<partition> p(
        new partition(std::move(strand), std::move(opts), nullptr, leader_epoch_t{0}));
    p->closed_reason_ = errc::kafka_storage_error;
    p->offline_reason_ = why.message();
    return p;
}

errc partition::report(std::string_view what, const std::error_code& ec) {
    if (ec.category() == sluice_category()) {
        auto e = static_cast<errc>(ec.value());
        if (e == errc::kafka_storage_error) {
            logging::error("{}-{}: {}: the log has failed and takes no more writes", topic(), id(),
                           what);
        }
        return e;
    }
    logging::error("{}-{}: {}: {}", topic(), id(), what, ec.message());
    return errc::kafka_storage_error;
}

partition::append_outcome partition::append(std::span<std::byte> batches) {
    append_outcome out;
    if (!log_) {
        out.error = closed_reason_;
        return out;
    }
    if (auto why = not_leader()) {
        out.error = errc::not_leader_or_follower;
        out.message = std::move(*why);
        return out;
    }
    auto check = validate_batches(batches, size_t(opts_.settings.max_message_bytes));
    if (check.error != errc::none) {
        out.error = check.error;
        out.message = std::move(check.message);
        return out;
    }
    // Every limit is checked before anything is written, so that a request appends all of its
    // batches or none: a reported failure never leaves a prefix that a retry would duplicate.
    const leader_epoch_t epoch = leader_epoch();
    std::vector<std::span<std::byte>> each;
    each.reserve(check.batches);
    for (size_t pos = 0; pos < batches.size();) {
        // validate_batches checked every length, so the framing can be trusted here.
        const size_t size =
            batch_format::length_field_end +
            size_t(load_be<int32_t>(batches.data() + pos + batch_format::batch_length_pos));
        if (size > opts_.settings.log.segment_bytes) {
            out.error = errc::record_list_too_large;
            out.message = fmt::format("a batch of {} bytes exceeds segment.bytes ({})", size,
                                      opts_.settings.log.segment_bytes);
            return out;
        }
        each.push_back(batches.subspan(pos, size));
        pos += size;
    }
    const offset_t start = log_->end_offset();
    for (auto batch : each) {
        set_leader_epoch(batch, epoch);
        auto r = log_->append(batch);
        if (!r) {
            out.error = report("append", r.error());
            if (out.error == errc::kafka_storage_error) {
                out.message = r.error().message();
            }
            rollback(start);
            out.base_offset = out.last_offset = offset_t{-1};
            return out;
        }
        if (out.base_offset == offset_t{-1}) {
            out.base_offset = r.value().base_offset;
        }
        out.last_offset = r.value().last_offset;
    }
    state_.appended(log_->end_offset());
    request_durable();
    out.log_start = log_->start_offset();
    return out;
}

void partition::rollback(offset_t end) {
    if (log_->end_offset() == end) {
        return;
    }
    // Nothing past `end` was acknowledged or made visible (the high watermark only moves after
    // a whole append), so cutting it back is safe.
    if (auto r = log_->truncate_to(end); !r) {
        report("undoing a partial append", r.error());
        logging::error(
            "{}-{}: a failed append left batches past offset {} that could not be cut "
            "back; the log takes no more writes until the broker restarts",
            topic(), id(), end);
    }
}

void partition::wait_for_hw(offset_t target, partition_state::ack_callback done) {
    if (!log_) {
        done(closed_reason_);
        return;
    }
    if (!is_leader()) {
        done(errc::not_leader_or_follower);
        return;
    }
    state_.wait_for_hw(target, std::move(done));
}

void partition::request_durable() {
    if (!log_) {
        return;
    }
    auto upto = state_.take_durable_request();
    if (!upto) {
        return;
    }
    // The completion runs on the flusher's thread; the state belongs to the strand.
    log_->on_durable([self = shared_from_this(), end = *upto](std::error_code ec) {
        boost::asio::post(self->strand_, [self, end, ec] { self->durable_done(end, ec); });
    });
}

void partition::durable_done(offset_t end, std::error_code ec) {
    if (ec) {
        report("fsync", ec);
        state_.durable_failed(errc::kafka_storage_error);
    } else {
        state_.durable(end);
    }
    request_durable();  // appends that arrived while this fsync ran
}

partition::read_outcome partition::read(offset_t from, size_t max_bytes, size_t first_batch_max,
                                        fetch_bound bound, leader_epoch_t current_epoch,
                                        const std::shared_ptr<wakeup>& waiter) {
    read_outcome out;
    if (!log_) {
        out.error = closed_reason_;
        return out;
    }
    if (bound != fetch_bound::log_end && !is_leader()) {
        out.error = errc::not_leader_or_follower;
        return out;
    }
    out.high_watermark = state_.high_watermark();
    out.log_start = log_->start_offset();
    out.next = from;
    if (current_epoch != no_leader_epoch && current_epoch != leader_epoch()) {
        out.error =
            current_epoch < leader_epoch() ? errc::fenced_leader_epoch : errc::unknown_leader_epoch;
        return out;
    }
    if (from < log_->start_offset() || from > log_->end_offset()) {
        out.error = errc::offset_out_of_range;
        return out;
    }
    const offset_t upper =
        bound == fetch_bound::log_end ? log_->end_offset() : state_.high_watermark();
    if (std::max(max_bytes, first_batch_max) > 0) {
        // The log returns at least one batch, however large, and never exceeds max_bytes with
        // more than one.
        auto r = log_->slice(from, max_bytes, upper, segments_per_read_max);
        if (!r) {
            out.error = report("read", r.error());
            return out;
        }
        const size_t got = size_t(r.value().bytes);
        if (got <= max_bytes || got <= first_batch_max) {
            out.ranges = std::move(r.value().ranges);
            out.bytes = got;
            out.next = r.value().next_offset;
        }
    }
    if (waiter) {
        state_.add_waiter(waiter);
    }
    return out;
}

partition::offset_outcome partition::list_offset(int64_t timestamp) {
    offset_outcome out;
    if (!log_) {
        out.error = closed_reason_;
        return out;
    }
    if (!is_leader()) {
        out.error = errc::not_leader_or_follower;
        return out;
    }
    const offset_t hw = state_.high_watermark();
    out.leader_epoch = leader_epoch().value();
    if (timestamp == -2) {
        out.offset = log_->start_offset().value();
        return out;
    }
    if (timestamp == -1) {
        out.offset = hw.value();
        return out;
    }
    if (timestamp < 0) {
        out.error = errc::invalid_request;
        return out;
    }
    auto found = log_->offset_for_timestamp(timestamp_ms_t{timestamp});
    if (!found) {
        out.error = report("offset lookup", found.error());
        return out;
    }
    out.leader_epoch = -1;
    if (!found.value() || *found.value() >= hw) {
        return out;  // no record at or after the timestamp (below the high watermark)
    }
    const offset_t target = *found.value();
    // The record's own timestamp and its batch's epoch, from the batch that holds it.
    auto r = log_->read(target, 1, hw);
    if (!r) {
        out.error = report("read", r.error());
        return out;
    }
    batch_reader batches(r.value().bytes, true);
    auto batch = batches.next();
    if (!batch || !batch.value()) {
        out.error = batch ? errc::unknown_server_error : report("read", batch.error());
        return out;
    }
    const auto& h = batch.value()->header();
    out.offset = target.value();
    out.leader_epoch = h.leader_epoch.value();
    bool log_append_time = (h.attributes & batch_format::timestamp_type_bit) != 0;
    out.timestamp = h.max_timestamp.value();
    if (!log_append_time) {
        auto it = batch.value()->records();
        record_view rec;
        while (it.next(rec)) {
            if (h.base_offset + int64_t{rec.offset_delta} == target) {
                out.timestamp = h.base_timestamp.value() + rec.timestamp_delta;
                break;
            }
        }
    }
    return out;
}

partition::offsets_view partition::offsets() const {
    if (!log_) {
        return {closed_reason_};
    }
    return {errc::none, log_->start_offset(), state_.high_watermark(), log_->end_offset()};
}

void partition::apply_retention() {
    if (!log_) {
        return;
    }
    auto r = log_->apply_retention();
    if (!r) {
        report("retention", r.error());
    } else if (r.value() > 0) {
        logging::info("{}-{}: retention deleted {} segments; the log now starts at {}", topic(),
                      id(), r.value(), log_->start_offset());
    }
}

void partition::flush() {
    if (!log_) {
        return;
    }
    // The fsyncs run on the flusher's thread; a failure is reported back here.
    log_->flush_async([self = shared_from_this()](std::error_code ec) {
        if (ec) {
            boost::asio::post(self->strand_, [self, ec] {
                if (self->log_) {  // else closed meanwhile (a deletion removes the files)
                    self->report("flush", ec);
                }
            });
        }
    });
}

void partition::close(errc reason) {
    if (!log_) {
        return;
    }
    closed_reason_ = reason;
    state_.abort_all(reason);
    if (auto r = log_->close(); !r) {
        report("close", r.error());
    }
    log_.reset();
}

void partition::remove() {
    close(errc::unknown_topic_or_partition);
    if (auto r = storage::partition_log::destroy(*opts_.fs, opts_.dir); !r) {
        logging::warn("{}-{}: removing {}: {} (removed at the next start)", topic(), id(),
                      opts_.dir.string(), r.error().message());
    }
}

}  // namespace sluice::broker
