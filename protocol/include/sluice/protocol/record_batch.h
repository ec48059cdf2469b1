// Record batches: building them, validating them, and reading their records without copying.
//
// A batch is the unit that moves through Sluice: a producer builds it, the leader validates it and
// stamps base offset and leader epoch into it, the log stores its bytes verbatim, followers and
// consumers receive the same bytes. Layout in batch_format.h; record grammar in
// docs/record-batch-format.md.
//
// Parsing contract: every function here that reads untrusted bytes is bounds-checked and returns
// an error for malformed, truncated or hostile input; none reads outside the span it was given.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "sluice/protocol/batch_format.h"
#include "sluice/protocol/errc.h"
#include "sluice/protocol/result.h"
#include "sluice/protocol/types.h"

namespace sluice {

using bytes_view = std::span<const std::byte>;

inline bytes_view as_bytes(std::string_view s) noexcept {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
inline std::string_view as_string(bytes_view b) noexcept {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// The fixed 61-byte header of a batch, decoded.
struct batch_header {
    offset_t base_offset;
    int32_t batch_length = 0;  // bytes after the length field
    leader_epoch_t leader_epoch;
    int8_t magic = 0;
    uint32_t crc = 0;
    uint16_t attributes = 0;
    int32_t last_offset_delta = 0;
    timestamp_ms_t base_timestamp;
    timestamp_ms_t max_timestamp;
    producer_id_t producer_id;
    producer_epoch_t producer_epoch;
    sequence_t base_sequence;
    int32_t record_count = 0;

    offset_t last_offset() const { return base_offset + last_offset_delta; }
    offset_t next_offset() const { return base_offset + (int64_t{last_offset_delta} + 1); }
    size_t size_bytes() const { return batch_format::length_field_end + size_t(batch_length); }
    uint16_t compression() const { return attributes & batch_format::compression_mask; }
    bool is_control() const { return attributes & batch_format::control_bit; }
    // Sequence of the last record, wrapping at INT32_MAX as Kafka's does.
    sequence_t last_sequence() const;
};

// Decodes the fixed header at the front of `bytes` (which may hold more after the batch) without
// checking the CRC or the records. Errors (errc::corrupt_message): fewer than header_size bytes,
// magic other than 2, batch_length outside [header_size - 12, batch_size_max - 12] (so that
// size_bytes() is at most batch_size_max).
result<batch_header> read_header(bytes_view bytes) noexcept;

// What the storage layer checks of a batch, on append and again on recovery, as Kafka's
// ensureValid does: the header (read_header), that `bytes` is exactly one batch, the CRC, and a
// record count and last offset delta that can hold offsets. It does not walk the records: record
// framing is checked once on the produce path (batch_view::parse) and by readers. Errors:
// corrupt_message; invalid_record for record_count < 0 or last_offset_delta < 0. (A stored batch
// may hold no record: compaction keeps a producer's last batch for its header.)
result<batch_header> check_batch(bytes_view bytes) noexcept;

// One record header (Kafka: a string key and a nullable value).
struct header_view {
    bytes_view key;
    std::optional<bytes_view> value;
};

// A record inside a validated batch. Spans point into the batch's bytes.
class record_view {
  public:
    int8_t attributes = 0;
    int64_t timestamp_delta = 0;
    int32_t offset_delta = 0;
    std::optional<bytes_view> key;    // nullopt: null key
    std::optional<bytes_view> value;  // nullopt: null value (tombstone)
    int32_t header_count = 0;

    // Decodes the headers (already validated by batch_view::parse); appends to `out`.
    void headers(std::vector<header_view>& out) const;

    bytes_view headers_bytes;  // the encoded headers, after the header count
    bytes_view encoded;        // the whole record as it is in the batch, length prefix included
};

// Iterates the records of a validated batch. Decoding cannot fail here because parse() walked
// every record already; the iterator still never reads past the batch.
class record_iterator {
  public:
    record_iterator() = default;
    record_iterator(bytes_view records, int32_t count);

    // Returns false at the end.
    bool next(record_view& out) noexcept;

  private:
    bytes_view rest_;
    int32_t left_ = 0;
};

// Which record offsets a batch may hold. A produced batch holds every offset from its base to its
// last (dense). One that log compaction cleaned keeps its header (base offset, last offset delta,
// sequences) and only some of its records, maybe none, with their offset deltas (compacted):
// strictly increasing from 0 or more, up to last_offset_delta at most.
enum class offset_rule { dense, compacted };

// A validated batch: header decoded, CRC checked, every record's framing checked.
class batch_view {
  public:
    // `bytes` must be exactly one batch. Errors:
    //   corrupt_message  size, magic, CRC or any record framing is wrong
    //   unsupported_compression_type  attributes name a codec Sluice does not have (any but none)
    //   invalid_record   records are well-formed but break batch rules: no record (dense; a
    //                    compacted batch may have none), count differs from records present,
    //                    offset deltas that break `rule`
    static result<batch_view> parse(bytes_view bytes,
                                    offset_rule rule = offset_rule::dense) noexcept;

    const batch_header& header() const { return header_; }
    bytes_view bytes() const { return bytes_; }
    record_iterator records() const;

  private:
    batch_header header_;
    bytes_view bytes_;
};

// Walks a buffer of back-to-back batches (a log read, a fetch response), validating each.
// A trailing partial batch is reported as errc::corrupt_message unless `allow_partial_tail`, in
// which case iteration simply ends there (fetch responses may be cut at a byte limit). A tail is
// partial when it is shorter than 12 bytes or than the batch_length it announces; a tail whose
// batch_length or magic is already invalid is corrupt either way. After an error, next() keeps
// returning it.
class batch_reader {
  public:
    // Readers of a log pass offset_rule::compacted: a compacted topic's batches hold gaps.
    explicit batch_reader(bytes_view buf, bool allow_partial_tail = false,
                          offset_rule rule = offset_rule::dense)
        : rest_(buf), allow_partial_tail_(allow_partial_tail), rule_(rule) {}

    // A batch, nullopt at the end, or the first error.
    result<std::optional<batch_view>> next() noexcept;

  private:
    bytes_view rest_;
    bool allow_partial_tail_;
    offset_rule rule_;
};

// The batch `b` with only `kept` of its records (record_view::encoded spans of b's records, in
// their order; none leaves the header alone): the same header (base offset, last offset delta,
// timestamps, producer fields), the record count and length of what is left, and a new CRC. What
// log compaction writes; offset_rule::compacted parses it.
std::vector<std::byte> batch_with_records(const batch_view& b, std::span<const bytes_view> kept);

// Stamps the fields that the log and the leader own; they are outside the CRC.
// `batch` must hold at least header_size bytes.
void set_base_offset(std::span<std::byte> batch, offset_t base) noexcept;
void set_leader_epoch(std::span<std::byte> batch, leader_epoch_t epoch) noexcept;
// Rewrites a whole batch's producer id, epoch and first sequence, which the CRC covers, and its
// CRC (an idempotent producer that restarts its sequences resends finished batches so).
void set_producer_state(std::span<std::byte> batch, producer_id_t id, producer_epoch_t epoch,
                        sequence_t base_sequence) noexcept;
// The sequence `count` records after `s` (sequences run 0..INT32_MAX and start again at 0).
sequence_t sequence_after(sequence_t s, int32_t count) noexcept;

// What a caller hands the builder for one record. Spans must stay valid until add() returns.
struct record_input {
    std::optional<bytes_view> key;
    std::optional<bytes_view> value;
    timestamp_ms_t timestamp;
    std::span<const header_view> headers;
};

// Builds one batch (compression none). Records are encoded as they are added; finish() writes
// the header and the CRC. Offsets start at 0 (the log assigns real ones); leader epoch is -1.
// Timestamp deltas are taken from the first record's timestamp; max_timestamp is the largest.
// Preconditions, checked (a violation aborts the process, as any bug does): the batch never grows
// past batch_format::batch_size_max (use record_size_bytes to stop before), and finish() is
// called only with at least one record.
class batch_builder {
  public:
    struct options {
        producer_id_t producer_id = no_producer_id;
        producer_epoch_t producer_epoch = no_producer_epoch;
        sequence_t base_sequence = no_sequence;
        size_t reserve_bytes = 0;
    };

    batch_builder() : batch_builder(options{}) {}
    explicit batch_builder(options opts);

    void add(const record_input& r);

    int32_t record_count() const { return count_; }
    // The producer id, epoch and first sequence finish() writes (an idempotent producer knows
    // them only when the batch is sent).
    void set_producer_state(producer_id_t id, producer_epoch_t epoch, sequence_t base_sequence) {
        opts_.producer_id = id;
        opts_.producer_epoch = epoch;
        opts_.base_sequence = base_sequence;
    }
    bool empty() const { return count_ == 0; }
    // The size finish() would return now.
    size_t size_bytes() const { return buf_.size(); }
    // Bytes that add(r) would add (so callers can stop before a size limit).
    static size_t record_size_bytes(const record_input& r, int64_t timestamp_delta,
                                    int32_t offset_delta) noexcept;

    // Completes the batch. The builder is empty afterwards (options kept).
    std::vector<std::byte> finish();

  private:
    options opts_;
    std::vector<std::byte> buf_;
    int32_t count_ = 0;
    timestamp_ms_t base_timestamp_;
    timestamp_ms_t max_timestamp_;
};

}  // namespace sluice
