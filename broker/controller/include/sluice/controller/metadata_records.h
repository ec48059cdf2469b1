// The records of the cluster metadata log as plain values, and their encoding: one log entry is
// one batch of records (protocol/schema/metadata.fbs), applied together or not at all
// (metadata_image.h). docs/controller.md, "Records", says what each one means.
//
// Decoding checks structure only (every field a record needs is there and in range); whether a
// record fits the image it is applied to is apply_batch's check.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sluice/protocol/types.h"

namespace sluice::controller {

// A 128-bit id: topic ids, broker incarnations. All zeros means none.
struct uuid {
    uint64_t hi = 0;
    uint64_t lo = 0;

    bool is_zero() const { return hi == 0 && lo == 0; }
    // 32 hex digits.
    std::string to_string() const;
    static uuid random();

    friend auto operator<=>(const uuid&, const uuid&) = default;
};

struct endpoint {
    std::string listener;  // PLAINTEXT, ...
    std::string host;
    int32_t port = 0;

    friend bool operator==(const endpoint&, const endpoint&) = default;
};

// The broker epoch a record in the log carries when it means "the offset of this record".
inline constexpr int64_t epoch_of_this_record = -1;

namespace records {

// A broker joined or came back as a new process. Its broker epoch is the offset of this record
// in the log (broker_epoch == epoch_of_this_record); a snapshot carries it explicitly. A
// registered broker starts fenced.
struct register_broker {
    node_id_t id{-1};
    uuid incarnation;
    std::vector<endpoint> endpoints;
    std::string rack;
    int64_t broker_epoch = epoch_of_this_record;

    friend bool operator==(const register_broker&, const register_broker&) = default;
};

struct fence_broker {
    node_id_t id{-1};
    int64_t broker_epoch = -1;

    friend bool operator==(const fence_broker&, const fence_broker&) = default;
};

struct unfence_broker {
    node_id_t id{-1};
    int64_t broker_epoch = -1;

    friend bool operator==(const unfence_broker&, const unfence_broker&) = default;
};

struct topic {
    std::string name;
    uuid id;

    friend bool operator==(const topic&, const topic&) = default;
};

// A new partition's whole state; partitions of a topic are added in order 0, 1, ...
struct partition {
    uuid topic_id;
    int32_t index = -1;
    std::vector<node_id_t> replicas;
    std::vector<node_id_t> isr;
    node_id_t leader{-1};  // -1: none
    leader_epoch_t leader_epoch{0};
    int32_t partition_epoch = 0;

    friend bool operator==(const partition&, const partition&) = default;
};

// Absent fields keep their value. A new leader raises the leader epoch; any change raises the
// partition epoch.
struct partition_change {
    uuid topic_id;
    int32_t index = -1;
    std::optional<node_id_t> leader;  // node_id_t{-1}: none
    std::optional<std::vector<node_id_t>> isr;
    std::optional<std::vector<node_id_t>> replicas;

    friend bool operator==(const partition_change&, const partition_change&) = default;
};

struct remove_topic {
    uuid topic_id;

    friend bool operator==(const remove_topic&, const remove_topic&) = default;
};

// A topic config override set, or removed (no value).
struct topic_config {
    uuid topic_id;
    std::string key;
    std::optional<std::string> value;

    friend bool operator==(const topic_config&, const topic_config&) = default;
};

// Producer ids below next_producer_id were handed out (the last block to broker `id`).
struct producer_ids {
    node_id_t id{-1};
    int64_t broker_epoch = -1;
    int64_t next_producer_id = 0;

    friend bool operator==(const producer_ids&, const producer_ids&) = default;
};

}  // namespace records

using metadata_record =
    std::variant<records::register_broker, records::fence_broker, records::unfence_broker,
                 records::topic, records::partition, records::partition_change,
                 records::remove_topic, records::topic_config, records::producer_ids>;

// One log entry of records (a snapshot holds a series of these, each framed by its length).
std::string encode_batch(std::span<const metadata_record> batch);

// The records of an encoded batch, or nothing with `*why` (if given) saying what was wrong.
std::optional<std::vector<metadata_record>> decode_batch(std::string_view bytes,
                                                         std::string* why = nullptr);

// One line naming the record and its fields, for logs and tools.
std::string describe(const metadata_record& r);

}  // namespace sluice::controller
