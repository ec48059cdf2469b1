// The one place for the byte layout of a record batch: Kafka's RecordBatch v2 (magic 2).
// docs/record-batch-format.md gives the grammar. All integers in the header are big-endian.
//
//   offset  size  field
//        0     8  base_offset            rewritten by the log on append (not under the CRC)
//        8     4  batch_length           bytes that follow this field
//       12     4  partition_leader_epoch rewritten by the leader on append (not under the CRC)
//       16     1  magic                  = 2
//       17     4  crc                    CRC-32C of bytes [21, end)
//       21     2  attributes
//       23     4  last_offset_delta
//       27     8  base_timestamp
//       35     8  max_timestamp
//       43     8  producer_id
//       51     2  producer_epoch
//       53     4  base_sequence
//       57     4  record_count
//       61        records (varint-coded, see record_batch.h)
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::batch_format {

inline constexpr size_t base_offset_pos = 0;
inline constexpr size_t batch_length_pos = 8;
inline constexpr size_t leader_epoch_pos = 12;
inline constexpr size_t magic_pos = 16;
inline constexpr size_t crc_pos = 17;
inline constexpr size_t attributes_pos = 21;
inline constexpr size_t last_offset_delta_pos = 23;
inline constexpr size_t base_timestamp_pos = 27;
inline constexpr size_t max_timestamp_pos = 35;
inline constexpr size_t producer_id_pos = 43;
inline constexpr size_t producer_epoch_pos = 51;
inline constexpr size_t base_sequence_pos = 53;
inline constexpr size_t record_count_pos = 57;
inline constexpr size_t header_size = 61;

// batch_length counts from here; the CRC covers from crc_start to the end of the batch.
inline constexpr size_t length_field_end = batch_length_pos + 4;
inline constexpr size_t crc_start = attributes_pos;

inline constexpr int8_t magic_v2 = 2;

// Attributes bits.
inline constexpr uint16_t compression_mask = 0x07;    // 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd
inline constexpr uint16_t timestamp_type_bit = 0x08;  // 0 CreateTime, 1 LogAppendTime
inline constexpr uint16_t transactional_bit = 0x10;
inline constexpr uint16_t control_bit = 0x20;

// The smallest record: length(1) attributes(1) ts_delta(1) offset_delta(1) key_len(1)
// value_len(1) header_count(1).
inline constexpr size_t record_size_min = 7;

// Upper bound on one batch, whatever a config says: batch_length is an int32 and Sluice keeps
// every in-memory batch well below that. Brokers enforce their own, smaller, message.max.bytes.
inline constexpr size_t batch_size_max = 64u << 20;

static_assert(length_field_end == 12);
static_assert(magic_pos == leader_epoch_pos + 4);
static_assert(crc_pos == magic_pos + 1);
static_assert(attributes_pos == crc_pos + 4);
static_assert(last_offset_delta_pos == attributes_pos + 2);
static_assert(base_timestamp_pos == last_offset_delta_pos + 4);
static_assert(max_timestamp_pos == base_timestamp_pos + 8);
static_assert(producer_id_pos == max_timestamp_pos + 8);
static_assert(producer_epoch_pos == producer_id_pos + 8);
static_assert(base_sequence_pos == producer_epoch_pos + 2);
static_assert(record_count_pos == base_sequence_pos + 4);
static_assert(header_size == record_count_pos + 4);

}  // namespace sluice::batch_format
