// The records a group coordinator keeps in __consumer_offsets (docs/groups.md, "Records"): one
// per committed offset and one per group, each under a key that names it, so that compaction
// keeps the latest of each and a tombstone (no value) removes it.
//
// Keys are fixed-layout bytes, big-endian, not FlatBuffers (compaction compares key bytes, so one
// key must always encode the same way):
//   offset  int16 1 | uint16 n | n bytes group id | uint16 m | m bytes topic | int32 partition
//   group   int16 2 | uint16 n | n bytes group id
// Values are FlatBuffers (schema/group_records.fbs): OffsetValue and GroupValue.
//
// Decoders take bytes from the log, which a broker-to-broker fetch put there: they check every
// length and verify every FlatBuffer, and answer nothing for what they cannot read.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/group/group.h"

namespace sluice::broker::groups {

enum class record_kind : int16_t { offset = 1, group = 2 };

// Group ids and topic names longer than this are refused before they reach a key.
inline constexpr size_t key_string_max = 32767;

std::string offset_key(std::string_view group_id, const topic_partition_id& tp);
std::string group_key(std::string_view group_id);

struct record_key {
    record_kind kind = record_kind::group;
    std::string group_id;
    topic_partition_id tp;  // offset keys only
};
std::optional<record_key> decode_key(std::span<const std::byte> bytes);

std::string encode_offset_value(const offset_value& v);
std::optional<offset_value> decode_offset_value(std::span<const std::byte> bytes);

std::string encode_group_value(const group_record& r);
std::optional<group_record> decode_group_value(std::span<const std::byte> bytes);

struct record_to_write {
    std::string key;
    std::optional<std::string> value;  // none: a tombstone
};

// One batch holding `records` in order, timestamped `now_ms`; empty if there are none.
std::vector<std::byte> build_batch(const std::vector<record_to_write>& records, int64_t now_ms);

// The __consumer_offsets partition of a group: Kafka's rule (the absolute value of the group id's
// Java string hash, 0 for the smallest int32, modulo the partition count), over the id's bytes
// (the same for ASCII ids).
int32_t partition_for(std::string_view group_id, int32_t partitions);

}  // namespace sluice::broker::groups
