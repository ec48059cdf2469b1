#include "sluice/core/partition.h"

#include <fmt/format.h>
#include "sluice/core/batch_validation.h"

#include "sluice/core/high_watermark_file.h"
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
    SLUICE_TRY(auto saved, read_leader_epochs(fs, opts.dir));
    leader_epoch_cache epochs(saved);
    bool changed = epochs.entries() != saved;
    // Epochs that began in a tail the crash took, or below what retention removed.
    changed = epochs.truncate_from_end(log->end_offset()) || changed;
    changed = epochs.truncate_from_start(log->start_offset()) || changed;
    if (opts.role.leads()) {
        changed = epochs.assign(opts.role.epoch, log->end_offset()) || changed;
    }
    if (changed) {
        SLUICE_TRY(write_leader_epochs(fs, opts.dir, epochs.entries()));
    }
    SLUICE_TRY(auto hw, read_high_watermark(fs, opts.dir));
    SLUICE_TRY(
        auto producers,
        producer_state_manager::load(
            {opts.fs, opts.dir, opts.background, fmt::format("{}-{}", opts.topic, opts.id)}, *log));
    if (adopt) {
        SLUICE_TRY(write_partition_topic_id(fs, opts.dir, opts.topic_id));
    }
    const auto& r = log->recovery();
    if (!opts.create && (r.segments_scanned > 0 || r.bytes_truncated > 0)) {
        logging::info("{}-{}: recovered: {} segments scanned ({} bytes), {} bytes cut", opts.topic,
                      opts.id, r.segments_scanned, r.bytes_scanned, r.bytes_truncated);
    }
    std::shared_ptr<partition> p(new partition(std::move(strand), std::move(opts), std::move(log),
                                               std::move(epochs), hw.value_or(offset_t{0}),
                                               std::move(producers)));
    if (p->opts_.role.leads()) {
        p->epoch_start_ = p->log_->end_offset();
        p->state_.become_leader(p->opts_.role.assignment, std::chrono::steady_clock::now());
    }
    return p;
}

partition::partition(executor strand, options opts, std::unique_ptr<storage::partition_log> log,
                     leader_epoch_cache epochs, offset_t high_watermark,
                     std::optional<producer_state_manager> producers)
    : strand_(std::move(strand)),
      opts_(std::move(opts)),
      log_(std::move(log)),
      state_(log_ ? log_->end_offset() : offset_t{0}, high_watermark,
             opts_.settings.log.flush == storage::flush_mode::fsync),
      epochs_(std::move(epochs)),
      producers_(std::move(producers)),
      epoch_(std::max(opts_.role.epoch, epochs_.latest_epoch()).value()),
      leader_(opts_.role.leads() && log_ != nullptr),
      leader_id_(opts_.role.leader.value()) {}

std::optional<std::string> partition::not_leader() const {
    if (is_leader()) {
        return std::nullopt;
    }
    return fmt::format("this broker does not lead {}-{} (leader epoch {})", topic(), id(),
                       leader_epoch());
}

result<void> partition::save_epochs() {
    return write_leader_epochs(*opts_.fs, opts_.dir, epochs_.entries());
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

void partition::set_role(const partition_role& role, time_point now) {
    opts_.role = role;
    if (!log_) {
        leader_id_.store(role.leader.value(), std::memory_order_release);
        return;
    }
    if (role.epoch < leader_epoch()) {
        logging::warn(
            "{}-{}: the metadata names leader epoch {} but the log is at {}; keeping "
            "{}",
            topic(), id(), role.epoch, leader_epoch(), leader_epoch());
        return;
    }
    bool leads = role.leads();
    if (role.epoch == leader_epoch() && leads == is_leader()) {
        // The same leadership: the replicas or the ISR changed.
        state_.update_assignment(role.assignment, now);
        leader_id_.store(role.leader.value(), std::memory_order_release);
        return;
    }
    if (leads) {
        leader_epoch_cache next = epochs_;
        if (next.assign(role.epoch, log_->end_offset())) {
            if (auto r = write_leader_epochs(*opts_.fs, opts_.dir, next.entries()); !r) {
                // Leading at an epoch that is not on disk could let a restart reuse it: stay out.
                report("recording leader epoch", r.error());
                leads = false;
            } else {
                epochs_ = std::move(next);
            }
        }
    }
    epoch_.store(role.epoch.value(), std::memory_order_release);
    leader_id_.store(role.leader.value(), std::memory_order_release);
    leader_.store(leads, std::memory_order_release);
    if (leads) {
        epoch_start_ = log_->end_offset();
        state_.become_leader(role.assignment, now);
    } else {
        state_.become_follower();
    }
}

std::shared_ptr<partition> partition::offline(executor strand, options opts, std::error_code why) {
    logging::error(
        "{}-{}: offline: cannot open its log in {}: {}; requests for it get "
        "KAFKA_STORAGE_ERROR until the files are repaired (or the directory removed, "
        "giving its data up) and the broker restarted",
        opts.topic, opts.id, opts.dir.string(), why.message());
    std::shared_ptr<partition> p(new partition(std::move(strand), std::move(opts), nullptr,
                                               leader_epoch_cache{}, offset_t{0}, std::nullopt));
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

partition::append_outcome partition::append(std::span<std::byte> batches, bool acks_all,
                                            offset_t expected_end) {
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
    if (acks_all && state_.check_acks_all() != errc::none) {
        out.error = state_.check_acks_all();
        out.message = fmt::format(
            "the ISR of {}-{} has {} member(s), fewer than min.insync.replicas={}; nothing was "
            "appended",
            topic(), id(), state_.isr().size(), opts_.role.assignment.min_insync);
        return out;
    }
    auto check = validate_batches(batches, size_t(opts_.settings.max_message_bytes),
                                  check_depth::records, opts_.settings.cleanup_compact);
    if (check.error != errc::none) {
        out.error = check.error;
        out.message = std::move(check.message);
        return out;
    }
    // Every limit is checked before anything is written, so that a request appends all of its
    // batches or none: a reported failure never leaves a prefix that a retry would duplicate.
    const leader_epoch_t epoch = leader_epoch();
    std::vector<std::span<std::byte>> each;
    each.reserve(check.headers.size());
    for (size_t pos = 0; const batch_header& h : check.headers) {
        const size_t size = h.size_bytes();
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
    producer_append staged(producers_->state());
    if (!check_producers(check.headers, start, staged, out)) {
        out.log_end = start;
        return out;
    }
    if (expected_end >= offset_t{0} && expected_end != start) {
        out.error = errc::conflict;
        out.message =
            fmt::format("{}-{} ends at offset {}, not at the expected {}; nothing was appended",
                        topic(), id(), start, expected_end);
        out.log_end = start;
        return out;
    }
    const size_t segments = log_->segment_count();
    for (size_t i = 0; i < each.size(); ++i) {
        set_leader_epoch(each[i], epoch);
        batch_header h = check.headers[i];
        h.leader_epoch = epoch;
        auto r = log_->append_checked(each[i], h);
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
    std::move(staged).commit();
    state_.appended(log_->end_offset());
    request_durable();
    snapshot_if_rolled(segments);
    out.log_start = log_->start_offset();
    out.log_end = log_->end_offset();
    return out;
}

namespace {

// Why a producer's batch was refused, for the producer's error message.
std::string producer_refusal(const producer_entry* e, const producer_batch_info& b, errc why) {
    if (why == errc::invalid_producer_epoch && e != nullptr) {
        return fmt::format(
            "producer id {}: epoch {} is below its current epoch {}: a newer instance of this "
            "producer has fenced this one",
            b.id, b.epoch, e->epoch);
    }
    if (why == errc::out_of_order_sequence_number && e != nullptr) {
        if (b.epoch != e->epoch) {
            return fmt::format(
                "producer id {}: a batch of its new epoch {} must start at sequence 0, not {}",
                b.id, b.epoch, b.first_sequence);
        }
        return fmt::format(
            "producer id {} epoch {}: sequence {} does not follow its last written sequence {} "
            "(expected {}); nothing was appended",
            b.id, b.epoch, b.first_sequence, e->last_sequence(), next_sequence(e->last_sequence()));
    }
    return fmt::format("producer id {}: epoch {} and sequences {}..{} are not valid", b.id, b.epoch,
                       b.first_sequence, b.last_sequence);
}

}  // namespace

bool partition::check_producers(std::span<const batch_header> headers, offset_t start,
                                producer_append& staged, append_outcome& out) {
    offset_t next = start;
    for (const batch_header& h : headers) {
        const producer_batch_info info = producer_batch_info::of(h);
        const offset_t last = next + int64_t{h.last_offset_delta};
        if (info.idempotent()) {
            const producer_verdict v = staged.check(info);
            if (v.duplicate_of) {
                out.base_offset = v.duplicate_of->base_offset;
                out.last_offset = v.duplicate_of->last_offset;
                out.log_start = log_->start_offset();
                out.duplicate = true;
                return false;
            }
            if (v.error != errc::none) {
                out.error = v.error;
                out.message = producer_refusal(staged.find(info.id), info, v.error);
                return false;
            }
            staged.stage(info, next, last);
        }
        next = last + 1;
    }
    return true;
}

void partition::snapshot_if_rolled(size_t segments) {
    if (log_->segment_count() != segments) {
        producers_->snapshot_later(log_->end_offset());
    }
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

void partition::wait_for_ack(offset_t target, bool acks_all, partition_state::ack_callback done) {
    if (!log_) {
        done(closed_reason_);
        return;
    }
    if (!is_leader()) {
        done(errc::not_leader_or_follower);
        return;
    }
    if (acks_all) {
        state_.wait_for_hw(target, std::move(done));
    } else {
        state_.wait_for_local(target, std::move(done));
    }
}

partition::replicated_outcome partition::append_replicated(std::span<const std::byte> batches) {
    replicated_outcome out;
    if (!log_) {
        out.error = closed_reason_;
        return out;
    }
    if (is_leader()) {
        out.error = errc::not_leader_or_follower;
        out.message =
            fmt::format("{}-{} is led here: it takes no replicated batches", topic(), id());
        return out;
    }
    auto check =
        validate_batches(batches, size_t(opts_.settings.log.segment_bytes), check_depth::crc);
    if (check.error != errc::none) {
        out.error = check.error;
        out.message = std::move(check.message);
        out.log_end = log_->end_offset();
        return out;
    }
    const size_t segments = log_->segment_count();
    for (size_t pos = 0; const batch_header& head : check.headers) {
        const auto batch = batches.subspan(pos, head.size_bytes());
        // Past the end is a gap the leader's compaction left (storage/cleaner.h; its topic may
        // have compacted once, whatever it does now); below it, a batch this log has.
        if (head.base_offset < log_->end_offset() || head.leader_epoch > leader_epoch()) {
            // Checked before the epoch is recorded: a cache entry must describe a batch.
            out.error = errc::corrupt_message;
            out.message = fmt::format(
                "a replicated batch at offset {} with leader epoch {} does not follow this log "
                "(its end is {}, its leader epoch {})",
                head.base_offset, head.leader_epoch, log_->end_offset(), leader_epoch());
            break;
        }
        if (head.leader_epoch < epochs_.latest_epoch()) {
            out.error = errc::corrupt_message;
            out.message = fmt::format(
                "a replicated batch at offset {} carries leader epoch {}, below {}, the latest "
                "this log holds",
                head.base_offset, head.leader_epoch, epochs_.latest_epoch());
            break;
        }
        if (head.leader_epoch > epochs_.latest_epoch()) {
            // The epoch is on disk before any batch of it: a restart then finds it (or cuts it
            // as past the log end), never a batch whose epoch it does not know.
            leader_epoch_cache next = epochs_;
            next.assign(head.leader_epoch, head.base_offset);
            if (auto r = write_leader_epochs(*opts_.fs, opts_.dir, next.entries()); !r) {
                out.error = report("recording leader epoch", r.error());
                break;
            }
            epochs_ = std::move(next);
        }
        if (auto r = log_->append_replicated_checked(batch, head); !r) {
            out.error = report("replicated append", r.error());
            out.message = fmt::format("at offset {}: {}", head.base_offset, r.error().message());
            break;
        }
        producers_->apply(head);
        pos += head.size_bytes();
    }
    state_.appended(log_->end_offset());
    request_durable();
    snapshot_if_rolled(segments);
    out.log_end = log_->end_offset();
    return out;
}

result<offset_t> partition::truncate_to(offset_t offset) {
    if (!log_) {
        return make_error_code(closed_reason_);
    }
    if (is_leader()) {
        return make_error_code(errc::not_leader_or_follower);
    }
    SLUICE_TRY(offset_t end, log_->truncate_to(offset));
    state_.truncated(end);
    if (auto r = producers_->truncated(*log_); !r) {
        report("rebuilding the producer state after a truncation", r.error());
        logging::warn(
            "{}-{}: its producers' state is cleared: their next batches are accepted "
            "at any sequence",
            topic(), id());
    }
    leader_epoch_cache next = epochs_;
    if (next.truncate_from_end(end)) {
        // After the log: a crash between the two leaves epochs past the log end, which the next
        // open cuts.
        SLUICE_TRY(write_leader_epochs(*opts_.fs, opts_.dir, next.entries()));
        epochs_ = std::move(next);
    }
    return end;
}

result<offset_t> partition::truncate_diverged(const epoch_end& leader) {
    if (!log_) {
        return make_error_code(closed_reason_);
    }
    const epoch_end own = epochs_.end_offset_for(leader.epoch, log_->end_offset());
    offset_t target = state_.high_watermark();
    if (own.epoch == leader.epoch) {
        target = std::min(leader.end_offset, own.end_offset);
    } else if (own.epoch >= leader_epoch_t{0}) {
        target = own.end_offset;
    }
    return truncate_to(target);
}

result<void> partition::restart_at(offset_t offset) {
    if (!log_) {
        return make_error_code(closed_reason_);
    }
    if (is_leader()) {
        return make_error_code(errc::not_leader_or_follower);
    }
    SLUICE_TRY(log_->restart_at(offset));
    state_.restarted(offset);
    if (auto r = producers_->restarted(); !r) {
        report("removing producer snapshots", r.error());
    }
    if (!epochs_.entries().empty()) {
        SLUICE_TRY(write_leader_epochs(*opts_.fs, opts_.dir, {}));
        epochs_ = leader_epoch_cache{};
    }
    return success();
}

void partition::leader_high_watermark(offset_t hw) {
    state_.leader_high_watermark(hw);
}

leader_epoch_t partition::last_epoch() const {
    return epochs_.latest_epoch();
}

epoch_end partition::end_offset_for(leader_epoch_t epoch) const {
    return epochs_.end_offset_for(epoch, log_ ? log_->end_offset() : offset_t{0});
}

std::optional<isr_proposal> partition::propose_isr(time_point now,
                                                   std::chrono::milliseconds lag_max) {
    if (!log_ || !is_leader()) {
        return std::nullopt;
    }
    return state_.propose_isr(now, lag_max);
}

void partition::isr_proposal_failed(const isr_proposal& p) {
    state_.isr_proposal_failed(p);
}

std::vector<node_id_t> partition::isr() const {
    return state_.isr();
}

std::vector<follower_position> partition::followers() const {
    return state_.followers();
}

std::vector<offset_t> partition::replica_log_ends(const std::vector<node_id_t>& replicas) const {
    std::vector<offset_t> out(replicas.size(), offset_t{-1});
    if (!log_ || !is_leader()) {
        return out;
    }
    const auto& followers = state_.followers();
    for (size_t i = 0; i < replicas.size(); ++i) {
        if (replicas[i] == leader_id()) {
            out[i] = log_->end_offset();
            continue;
        }
        for (const auto& f : followers) {
            if (f.id == replicas[i]) {
                out[i] = f.end;
            }
        }
    }
    return out;
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
                                        const reader& who, leader_epoch_t current_epoch,
                                        const std::shared_ptr<wakeup>& waiter) {
    read_outcome out;
    if (!log_) {
        out.error = closed_reason_;
        return out;
    }
    if (!is_leader()) {
        out.error = errc::not_leader_or_follower;
        return out;
    }
    const bool follower = who.replica >= node_id_t{0};
    if (follower && !state_.is_follower(who.replica)) {
        // Reading past the high watermark is for the partition's own replicas only.
        out.error = errc::replica_not_available;
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
    if (who.at_fetch_offset && who.last_fetched_epoch >= leader_epoch_t{0}) {
        // KIP-320's check: the reader's last epoch must end, here, no earlier than where it
        // fetches; else what it holds (a follower's log, a consumer's position) has batches this
        // log does not, from that epoch's end on.
        const epoch_end e = epochs_.end_offset_for(who.last_fetched_epoch, log_->end_offset());
        if (e.epoch < leader_epoch_t{0}) {
            // An epoch newer than this leader knows. A follower waits for its image to catch up;
            // a consumer whose metadata agrees with this leader's epoch read a log this one
            // never was (its topic was deleted and made again): it goes back to this log's end
            // if it is beyond it, and on from this log's latest epoch.
            const epoch_end latest =
                epochs_.end_offset_for(epochs_.latest_epoch(), log_->end_offset());
            if (follower || latest.epoch < leader_epoch_t{0}) {
                out.error = errc::unknown_leader_epoch;
            } else {
                out.diverging = latest;
            }
            return out;
        }
        if (e.epoch < who.last_fetched_epoch || e.end_offset < from) {
            out.diverging = e;
            return out;
        }
    }
    if (from < log_->start_offset() || from > log_->end_offset()) {
        out.error = errc::offset_out_of_range;
        return out;
    }
    if (follower && who.at_fetch_offset) {
        // Its log matches this one below `from`: that is its position.
        state_.follower_fetched(who.replica, from, who.now);
        out.high_watermark = state_.high_watermark();
    }
    const offset_t upper = follower ? log_->end_offset() : state_.high_watermark();
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
        if (follower) {
            state_.add_end_waiter(waiter);
        } else {
            state_.add_waiter(waiter);
        }
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
        if (hw < epoch_start_) {
            out.error = errc::offset_not_available;
            return out;
        }
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
    batch_reader batches(r.value().bytes, true, offset_rule::compacted);
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
    return {errc::none, log_->start_offset(), state_.high_watermark(), log_->end_offset(),
            state_.local_end()};
}

void partition::when_durable(offset_t target, partition_state::ack_callback done) {
    if (!log_) {
        done(closed_reason_);
        return;
    }
    state_.wait_for_local(target, std::move(done));
}

void partition::apply_retention() {
    if (!log_) {
        return;
    }
    // A compact-only topic keeps its records whatever their age or its size.
    auto r = opts_.settings.cleanup_delete ? log_->apply_retention() : result<size_t>(size_t{0});
    if (!r) {
        report("retention", r.error());
    } else if (r.value() > 0) {
        logging::info("{}-{}: retention deleted {} segments; the log now starts at {}", topic(),
                      id(), r.value(), log_->start_offset());
        producers_->log_start_moved(log_->start_offset());
    }
    if (size_t n = producers_->expire(opts_.time->now(), opts_.producer_id_expiration); n > 0) {
        logging::info("{}-{}: forgot {} producer(s) that wrote nothing for {} ms", topic(), id(), n,
                      opts_.producer_id_expiration.count());
    }
}

const producer_state& partition::producers() const {
    static const producer_state none;
    return producers_ ? producers_->state() : none;
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

bool partition::close(errc reason) {
    if (!log_) {
        return true;
    }
    closed_reason_ = reason;
    state_.abort_all(reason);
    bool clean = true;
    const offset_t end = log_->end_offset();
    producers_->drop_pending();
    if (auto r = log_->close(); !r) {
        report("close", r.error());
        clean = false;
    } else if (reason != errc::unknown_topic_or_partition) {
        // The next open then replays nothing.
        if (auto w = producers_->snapshot_now(end); !w) {
            logging::warn(
                "{}-{}: writing the producer snapshot at close: {} (the next open "
                "replays the log instead)",
                topic(), id(), w.error().message());
        }
        if (auto w = write_high_watermark(*opts_.fs, opts_.dir, state_.high_watermark()); !w) {
            report("writing the high watermark", w.error());
            clean = false;
        }
    }
    log_.reset();
    return clean;
}

void partition::remove() {
    close(errc::unknown_topic_or_partition);
    if (auto r = storage::partition_log::destroy(*opts_.fs, opts_.dir); !r) {
        logging::warn("{}-{}: removing {}: {} (removed at the next start)", topic(), id(),
                      opts_.dir.string(), r.error().message());
    }
}

}  // namespace sluice::broker
