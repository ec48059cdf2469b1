// The consumer: reads records of manually assigned partitions.
//
// The consumer's I/O thread fetches ahead of poll(): one outstanding fetch per broker for the
// assigned partitions it leads, into a buffer bounded by fetch.max.bytes, so that poll() mostly
// hands out records that are already here. All calls on one consumer must come from one thread at
// a time (like Kafka's KafkaConsumer). docs/clients.md describes fetch-ahead and positions.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/client/config.h"
#include "sluice/client/errc.h"
#include "sluice/client/header.h"
#include "sluice/protocol/result.h"

namespace sluice {

struct consumer_config : client_config {
    int fetch_min_bytes = 1;                   // fetch.min.bytes
    int fetch_max_wait_ms = 500;               // fetch.max.wait.ms
    int fetch_max_bytes = 52428800;            // fetch.max.bytes
    int max_partition_fetch_bytes = 1048576;   // max.partition.fetch.bytes
    int max_poll_records = 500;                // max.poll.records
    std::string auto_offset_reset = "latest";  // auto.offset.reset: earliest | latest | none
    // Consumer groups (subscribe(); docs/clients.md, "Consumer groups").
    std::string group_id;                          // group.id; empty: no group
    std::optional<std::string> group_instance_id;  // group.instance.id: a static member
    int session_timeout_ms = 45000;                // session.timeout.ms
    int heartbeat_interval_ms = 3000;              // heartbeat.interval.ms
    int max_poll_interval_ms = 300000;             // max.poll.interval.ms (the rebalance timeout)
    bool enable_auto_commit = true;                // enable.auto.commit
    int auto_commit_interval_ms = 5000;            // auto.commit.interval.ms
    // partition.assignment.strategy, in order of preference: range, roundrobin,
    // cooperative-sticky (not mixed with the eager two).
    std::vector<std::string> partition_assignment_strategy{"range"};
    // Kafka-named properties -> config; errors name the bad key/value
    // (client_errc::invalid_config). Keys: bootstrap.servers client.id request.timeout.ms
    // retry.backoff.ms metadata.max.age.ms fetch.min.bytes fetch.max.wait.ms fetch.max.bytes
    // max.partition.fetch.bytes max.poll.records auto.offset.reset group.id group.instance.id
    // session.timeout.ms heartbeat.interval.ms max.poll.interval.ms enable.auto.commit
    // auto.commit.interval.ms partition.assignment.strategy
    static result<consumer_config> from_properties(const std::map<std::string, std::string>& props);
};

struct topic_partition {
    std::string topic;
    int32_t partition;
    auto operator<=>(const topic_partition&) const = default;
};

struct consumer_record {
    std::string topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;
    std::optional<std::string> key;
    std::optional<std::string> value;
    std::vector<header> headers;
};

// A header of a consumer_record_ref: views into the fetched data.
struct header_ref {
    std::string_view key;
    std::optional<std::string_view> value;
};

// A record as views into the fetched data, without a copy: valid while the consumer_records that
// holds it lives (it may outlive the consumer).
struct consumer_record_ref {
    std::string_view topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;
    std::optional<std::string_view> key;
    std::optional<std::string_view> value;
    std::span<const header_ref> headers;

    consumer_record to_record() const;  // a copy that owns its bytes
};

namespace detail {
class consumer_impl;
class records_builder;
}  // namespace detail

// What poll_view() returns: records in poll() order, as views into the fetch answers they came
// from. It keeps those answers' buffers alive until it is destroyed, so hold it only as long as
// the records are needed: the memory it pins is outside fetch.max.bytes. Move-only (the views
// point into its own storage).
class consumer_records {
  public:
    consumer_records() = default;
    consumer_records(consumer_records&&) noexcept = default;
    consumer_records& operator=(consumer_records&&) noexcept = default;
    consumer_records(const consumer_records&) = delete;
    consumer_records& operator=(const consumer_records&) = delete;

    using const_iterator = std::vector<consumer_record_ref>::const_iterator;
    const_iterator begin() const { return records_.begin(); }
    const_iterator end() const { return records_.end(); }
    size_t size() const { return records_.size(); }
    bool empty() const { return records_.empty(); }
    const consumer_record_ref& operator[](size_t i) const { return records_[i]; }

  private:
    friend class detail::records_builder;
    std::vector<consumer_record_ref> records_;
    std::vector<header_ref> headers_;                // the records' header spans point here
    std::vector<std::shared_ptr<const void>> keep_;  // the fetch answers the views point into
};

// Told of the partitions a group gives this consumer and takes away (subscribe()), always on the
// thread that calls poll(), close() or unsubscribe(), from inside that call; it may call the
// consumer (commit_sync, seek, position, committed). Kafka's ConsumerRebalanceListener.
class rebalance_listener {
  public:
    virtual ~rebalance_listener() = default;
    // Before they go to another member: the moment to commit what was processed. Eager
    // assignors revoke everything at each rebalance; cooperative-sticky only what moves.
    virtual void on_partitions_revoked(const std::vector<topic_partition>&) {}
    // After the new ones are assigned (cooperative-sticky: only the added ones), with their
    // positions at the committed offsets (or auto.offset.reset where there are none) if the
    // coordinator answered at once; otherwise poll() sets them before it reads those partitions.
    virtual void on_partitions_assigned(const std::vector<topic_partition>&) {}
    // The group went on without this consumer (its session ended, or a newer generation fenced
    // it): others may own them already, so nothing can be committed for them.
    virtual void on_partitions_lost(const std::vector<topic_partition>& p) {
        on_partitions_revoked(p);
    }
};

class consumer {
  public:
    // Checks the config (client_errc::invalid_config) and starts the I/O thread; connects lazily.
    static result<std::unique_ptr<consumer>> create(consumer_config config);
    ~consumer();  // close()
    consumer(const consumer&) = delete;
    consumer& operator=(const consumer&) = delete;

    // Replaces the assignment. A new partition's position is unknown until a seek; poll() (or
    // position()) then sets it by auto.offset.reset. Not with subscribe().
    result<void> assign(const std::vector<topic_partition>& partitions);

    // ---- Consumer groups (group.id; docs/clients.md, "Consumer groups") ----
    // Joins group.id and consumes the partitions the group assigns this member among `topics`
    // (or the topics whose names match the ECMAScript `regex` in full, internal ones aside),
    // which change as members come and go; poll() does the work and calls `listener`, which
    // must outlive the subscription. Replaces an earlier subscription. Not with assign().
    result<void> subscribe(const std::vector<std::string>& topics,
                           rebalance_listener* listener = nullptr);
    result<void> subscribe_pattern(const std::string& regex,
                                   rebalance_listener* listener = nullptr);
    // Commits (with enable.auto.commit), revokes everything and leaves the group.
    result<void> unsubscribe();
    // The partitions assigned now (by assign() or the group).
    result<std::vector<topic_partition>> assignment();
    // Commits the positions of every assigned partition (what poll() has returned) to the
    // group, waiting for the answer (request.timeout.ms); or the given offsets (the next offset
    // to read, as Kafka). A member that is no longer in the group's current generation gets
    // ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID or REBALANCE_IN_PROGRESS: its partitions may be
    // another's. Without subscribe(), the commit is from outside the group, which the
    // coordinator takes only while the group has no members.
    result<void> commit_sync();
    result<void> commit_sync(const std::map<topic_partition, int64_t>& offsets);
    // As commit_sync(), without waiting; `done` (if any) runs in a later poll(), commit_sync()
    // or close() on the caller's thread.
    void commit_async(std::function<void(std::error_code)> done = {});
    // The group's committed offsets (-1: none).
    result<std::map<topic_partition, int64_t>> committed(const std::vector<topic_partition>& tps);
    // Stops (and restarts) fetching these assigned partitions; their positions stay.
    result<void> pause(const std::vector<topic_partition>& tps);
    result<void> resume(const std::vector<topic_partition>& tps);
    std::vector<topic_partition> paused();
    result<std::vector<int32_t>> partitions_for(const std::string& topic);  // via metadata, sorted
    // The seek calls need the partition to be assigned.
    result<void> seek(const topic_partition& tp, int64_t offset);
    result<void> seek_to_beginning(const std::vector<topic_partition>& tps);
    result<void> seek_to_end(const std::vector<topic_partition>& tps);
    result<void> seek_to_timestamp(const topic_partition& tp,
                                   int64_t timestamp_ms);  // to end if none
    // The offset of the next record poll() returns for tp.
    result<int64_t> position(const topic_partition& tp);
    result<std::map<topic_partition, int64_t>> end_offsets(const std::vector<topic_partition>& tps);
    result<std::map<topic_partition, int64_t>> beginning_offsets(
        const std::vector<topic_partition>& tps);
    // Records from assigned partitions, in offset order per partition; empty on timeout. Fetches
    // ahead in the background (one outstanding fetch per broker) so poll rarely waits. An error for
    // a partition (e.g. OFFSET_OUT_OF_RANGE with auto.offset.reset=none) is returned as the result
    // error.
    result<std::vector<consumer_record>> poll(std::chrono::milliseconds timeout);
    // poll() without copying: the same records and errors, as views into the fetched data (no
    // allocation per record).
    result<consumer_records> poll_view(std::chrono::milliseconds timeout);
    void close();  // idempotent; afterwards every call fails with client_errc::closed

  private:
    explicit consumer(std::unique_ptr<detail::consumer_impl> impl);
    std::unique_ptr<detail::consumer_impl> impl_;
};

}  // namespace sluice
