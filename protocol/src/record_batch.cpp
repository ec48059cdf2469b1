// Record batch codec. The grammar is in docs/record-batch-format.md; the byte offsets of the
// fixed header are in batch_format.h.
//
// Every decoder here works on a span and its size only: lengths read from the input are checked
// against the bytes that remain before any span is formed, in size_t after ruling out negatives,
// so that no sum of hostile int32s can overflow or point outside the input.
#include "sluice/protocol/record_batch.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "sluice/protocol/byte_order.h"
#include "sluice/protocol/crc32c.h"
#include "sluice/protocol/varint.h"

// Builder preconditions are the caller's contract; breaking one is a bug, so it stops the process
// in every build type rather than writing a batch that no reader would accept.
#define SLUICE_CODEC_CHECK(cond)                                                          \
    do {                                                                                  \
        if (!(cond)) [[unlikely]] {                                                       \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                 \
        }                                                                                 \
    } while (0)

namespace sluice {
namespace {

namespace bf = batch_format;

std::error_code fail(errc e) noexcept {
    return make_error_code(e);
}

constexpr int32_t batch_length_min = static_cast<int32_t>(bf::header_size - bf::length_field_end);
constexpr int32_t batch_length_max =
    static_cast<int32_t>(bf::batch_size_max - bf::length_field_end);

// Shared by read_header and batch_reader; the reader applies it as soon as it has 12 bytes, to
// tell a short tail from garbage before it has a whole header.
bool batch_length_ok(int32_t len) noexcept {
    return len >= batch_length_min && len <= batch_length_max;
}

// Reads a nullable byte string (int32 varint length, -1 = null, then the bytes) at body[pos].
bool read_nullable(bytes_view body, size_t& pos, std::optional<bytes_view>& out) noexcept {
    const auto len = varint::decode_int(body.subspan(pos));
    if (!len) {
        return false;
    }
    pos += len->size;
    if (len->value == -1) {
        out.reset();
        return true;
    }
    if (len->value < 0) {
        return false;
    }
    const auto n = static_cast<size_t>(len->value);
    if (n > body.size() - pos) {
        return false;
    }
    out = body.subspan(pos, n);
    pos += n;
    return true;
}

// Walks `count` record headers that must fill `bytes` exactly. Appends them to `out` if given.
// Each header takes at least two bytes, so a hostile count ends the loop when the bytes do.
bool walk_headers(bytes_view bytes, int32_t count, std::vector<header_view>* out) {
    size_t pos = 0;
    for (int32_t i = 0; i < count; ++i) {
        const auto key_len = varint::decode_int(bytes.subspan(pos));
        if (!key_len || key_len->value < 0) {
            return false;  // header keys are non-null strings
        }
        pos += key_len->size;
        const auto key_size = static_cast<size_t>(key_len->value);
        if (key_size > bytes.size() - pos) {
            return false;
        }
        const bytes_view key = bytes.subspan(pos, key_size);
        pos += key_size;
        std::optional<bytes_view> value;
        if (!read_nullable(bytes, pos, value)) {
            return false;
        }
        if (out) {
            out->push_back(header_view{key, value});
        }
    }
    return pos == bytes.size();
}

// Decodes the record at the front of `in`; sets `consumed` to its size including the length
// prefix. With `check_headers` the headers are walked too and must end exactly at the record's
// end (batch_view::parse); without, they are left for record_view::headers (the iterator, over a
// batch that parse has validated). Returns false on any framing error.
bool decode_record(bytes_view in, record_view& out, size_t& consumed, bool check_headers) {
    const auto len = varint::decode_int(in);
    if (!len || len->value < 0) {
        return false;
    }
    const auto body_size = static_cast<size_t>(len->value);
    if (body_size > in.size() - len->size) {
        return false;
    }
    const bytes_view body = in.subspan(len->size, body_size);
    if (body.empty()) {
        return false;
    }
    out.attributes = static_cast<int8_t>(body[0]);
    size_t pos = 1;

    const auto ts = varint::decode_long(body.subspan(pos));
    if (!ts) {
        return false;
    }
    out.timestamp_delta = ts->value;
    pos += ts->size;

    const auto od = varint::decode_int(body.subspan(pos));
    if (!od) {
        return false;
    }
    out.offset_delta = static_cast<int32_t>(od->value);
    pos += od->size;

    if (!read_nullable(body, pos, out.key) || !read_nullable(body, pos, out.value)) {
        return false;
    }

    const auto hc = varint::decode_int(body.subspan(pos));
    if (!hc || hc->value < 0) {
        return false;
    }
    out.header_count = static_cast<int32_t>(hc->value);
    pos += hc->size;
    out.headers_bytes = body.subspan(pos);
    if (check_headers && !walk_headers(out.headers_bytes, out.header_count, nullptr)) {
        return false;
    }
    consumed = len->size + body_size;
    out.encoded = in.first(consumed);
    return true;
}

size_t nullable_size(const std::optional<bytes_view>& b) noexcept {
    return b ? varint::encoded_size(static_cast<int64_t>(b->size())) + b->size() : 1;
}

std::byte* put_varint(std::byte* p, int64_t v) noexcept {
    return p + varint::encode_long(v, p);
}

std::byte* put_nullable(std::byte* p, const std::optional<bytes_view>& b) noexcept {
    if (!b) {
        return put_varint(p, -1);
    }
    p = put_varint(p, static_cast<int64_t>(b->size()));
    if (!b->empty()) {
        std::memcpy(p, b->data(), b->size());
    }
    return p + b->size();
}

// Bytes after the length prefix.
size_t record_body_size(const record_input& r, int64_t timestamp_delta,
                        int32_t offset_delta) noexcept {
    size_t n = 1 + varint::encoded_size(timestamp_delta) + varint::encoded_size(offset_delta) +
               nullable_size(r.key) + nullable_size(r.value) +
               varint::encoded_size(static_cast<int64_t>(r.headers.size()));
    for (const header_view& h : r.headers) {
        n += varint::encoded_size(static_cast<int64_t>(h.key.size())) + h.key.size() +
             nullable_size(h.value);
    }
    return n;
}

// Timestamps are arbitrary int64s from a client; take their difference modulo 2^64 so that it is
// defined for any pair. base + delta (also modulo 2^64) gives the timestamp back.
int64_t wrapping_sub(int64_t a, int64_t b) noexcept {
    return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}

}  // namespace

sequence_t batch_header::last_sequence() const {
    if (base_sequence == no_sequence) {
        return no_sequence;
    }
    // Kafka: sequences run 0..INT32_MAX and then start again at 0.
    int64_t s = int64_t{base_sequence.value()} + last_offset_delta;
    if (s > std::numeric_limits<int32_t>::max()) {
        s -= int64_t{std::numeric_limits<int32_t>::max()} + 1;
    }
    return sequence_t(static_cast<int32_t>(s));
}

result<batch_header> read_header(bytes_view bytes) noexcept {
    if (bytes.size() < bf::header_size) {
        return fail(errc::corrupt_message);
    }
    const std::byte* p = bytes.data();
    batch_header h;
    h.base_offset = offset_t(load_be<int64_t>(p + bf::base_offset_pos));
    h.batch_length = load_be<int32_t>(p + bf::batch_length_pos);
    h.leader_epoch = leader_epoch_t(load_be<int32_t>(p + bf::leader_epoch_pos));
    h.magic = load_be<int8_t>(p + bf::magic_pos);
    if (h.magic != bf::magic_v2 || !batch_length_ok(h.batch_length)) {
        return fail(errc::corrupt_message);
    }
    h.crc = load_be<uint32_t>(p + bf::crc_pos);
    h.attributes = load_be<uint16_t>(p + bf::attributes_pos);
    h.last_offset_delta = load_be<int32_t>(p + bf::last_offset_delta_pos);
    h.base_timestamp = timestamp_ms_t(load_be<int64_t>(p + bf::base_timestamp_pos));
    h.max_timestamp = timestamp_ms_t(load_be<int64_t>(p + bf::max_timestamp_pos));
    h.producer_id = producer_id_t(load_be<int64_t>(p + bf::producer_id_pos));
    h.producer_epoch = producer_epoch_t(load_be<int16_t>(p + bf::producer_epoch_pos));
    h.base_sequence = sequence_t(load_be<int32_t>(p + bf::base_sequence_pos));
    h.record_count = load_be<int32_t>(p + bf::record_count_pos);
    return h;
}

void record_view::headers(std::vector<header_view>& out) const {
    // parse() validated these bytes; the walk is bounds-checked all the same and stops at the
    // first inconsistency instead of trusting that.
    walk_headers(headers_bytes, header_count, &out);
}

record_iterator::record_iterator(bytes_view records, int32_t count)
    : rest_(records), left_(count) {}

bool record_iterator::next(record_view& out) noexcept {
    if (left_ <= 0 || rest_.empty()) {
        left_ = 0;
        return false;
    }
    size_t used = 0;
    if (!decode_record(rest_, out, used, false)) {
        left_ = 0;
        rest_ = {};
        return false;
    }
    rest_ = rest_.subspan(used);
    --left_;
    return true;
}

result<batch_header> check_batch(bytes_view bytes) noexcept {
    auto h = read_header(bytes);
    if (!h) {
        return h.error();
    }
    if (bytes.size() != h.value().size_bytes()) {
        return fail(errc::corrupt_message);
    }
    if (crc32c::value(bytes.subspan(bf::crc_start)) != h.value().crc) {
        return fail(errc::corrupt_message);
    }
    if (h.value().record_count < 0 || h.value().last_offset_delta < 0) {
        return fail(errc::invalid_record);
    }
    return h;
}

result<batch_view> batch_view::parse(bytes_view bytes, offset_rule rule) noexcept {
    auto h = read_header(bytes);
    if (!h) {
        return h.error();
    }
    if (bytes.size() != h.value().size_bytes()) {
        return fail(errc::corrupt_message);
    }
    if (crc32c::value(bytes.subspan(bf::crc_start)) != h.value().crc) {
        return fail(errc::corrupt_message);
    }
    if (h.value().compression() != 0) {
        return fail(errc::unsupported_compression_type);
    }

    // Framing first, over every byte after the header: the records section must be a sequence of
    // well-formed records and nothing else (corrupt_message). Only then the batch rules on what
    // those records say (invalid_record), so that the error names the deeper problem.
    bytes_view rest = bytes.subspan(bf::header_size);
    int64_t present = 0;
    int32_t prev_delta = -1;
    bool deltas_ok = true;
    record_view r;
    while (!rest.empty()) {
        size_t used = 0;
        if (!decode_record(rest, r, used, true)) {
            return fail(errc::corrupt_message);
        }
        if (r.offset_delta <= prev_delta ||
            (present == 0 && rule == offset_rule::dense && r.offset_delta != 0)) {
            deltas_ok = false;
        }
        prev_delta = r.offset_delta;
        ++present;
        rest = rest.subspan(used);
    }
    const bool last_ok = rule == offset_rule::dense ? prev_delta == h.value().last_offset_delta
                                                    : prev_delta <= h.value().last_offset_delta;
    const int32_t least = rule == offset_rule::dense ? 1 : 0;
    if (h.value().record_count < least || present != h.value().record_count || !deltas_ok ||
        !last_ok) {
        return fail(errc::invalid_record);
    }

    batch_view v;
    v.header_ = h.value();
    v.bytes_ = bytes;
    return v;
}

record_iterator batch_view::records() const {
    return record_iterator(bytes_.subspan(bf::header_size), header_.record_count);
}

result<std::optional<batch_view>> batch_reader::next() noexcept {
    if (rest_.empty()) {
        return std::optional<batch_view>{};
    }
    // A tail too short for the batch it announces is "partial"; one whose length or magic is
    // already wrong is garbage and reported whatever allow_partial_tail says.
    bool partial = rest_.size() < bf::length_field_end;
    size_t size = 0;
    if (!partial) {
        const auto len = load_be<int32_t>(rest_.data() + bf::batch_length_pos);
        if (!batch_length_ok(len)) {
            return fail(errc::corrupt_message);
        }
        if (rest_.size() > bf::magic_pos &&
            load_be<int8_t>(rest_.data() + bf::magic_pos) != bf::magic_v2) {
            return fail(errc::corrupt_message);
        }
        size = bf::length_field_end + static_cast<size_t>(len);
        partial = rest_.size() < size;
    }
    if (partial) {
        if (allow_partial_tail_) {
            rest_ = {};
            return std::optional<batch_view>{};
        }
        return fail(errc::corrupt_message);
    }
    auto b = batch_view::parse(rest_.first(size), rule_);
    if (!b) {
        return b.error();  // sticky: rest_ stays at the bad batch
    }
    rest_ = rest_.subspan(size);
    return std::optional<batch_view>{b.value()};
}

void set_base_offset(std::span<std::byte> batch, offset_t base) noexcept {
    SLUICE_CODEC_CHECK(batch.size() >= bf::header_size);
    store_be<int64_t>(batch.data() + bf::base_offset_pos, base.value());
}

void set_leader_epoch(std::span<std::byte> batch, leader_epoch_t epoch) noexcept {
    SLUICE_CODEC_CHECK(batch.size() >= bf::header_size);
    store_be<int32_t>(batch.data() + bf::leader_epoch_pos, epoch.value());
}

void set_producer_state(std::span<std::byte> batch, producer_id_t id, producer_epoch_t epoch,
                        sequence_t base_sequence) noexcept {
    SLUICE_CODEC_CHECK(batch.size() >= bf::header_size);
    store_be<int64_t>(batch.data() + bf::producer_id_pos, id.value());
    store_be<int16_t>(batch.data() + bf::producer_epoch_pos, epoch.value());
    store_be<int32_t>(batch.data() + bf::base_sequence_pos, base_sequence.value());
    const std::span<const std::byte> covered(batch);
    store_be<uint32_t>(batch.data() + bf::crc_pos, crc32c::value(covered.subspan(bf::crc_start)));
}

std::vector<std::byte> batch_with_records(const batch_view& b, std::span<const bytes_view> kept) {
    size_t size = bf::header_size;
    for (const bytes_view r : kept) {
        size += r.size();
    }
    std::vector<std::byte> out(size);
    std::memcpy(out.data(), b.bytes().data(), bf::header_size);
    std::byte* p = out.data() + bf::header_size;
    for (const bytes_view r : kept) {
        std::memcpy(p, r.data(), r.size());
        p += r.size();
    }
    store_be<int32_t>(out.data() + bf::batch_length_pos,
                      static_cast<int32_t>(size - bf::length_field_end));
    store_be<int32_t>(out.data() + bf::record_count_pos, static_cast<int32_t>(kept.size()));
    const std::span<const std::byte> covered(out);
    store_be<uint32_t>(out.data() + bf::crc_pos, crc32c::value(covered.subspan(bf::crc_start)));
    return out;
}

sequence_t sequence_after(sequence_t s, int32_t count) noexcept {
    int64_t next = int64_t{s.value()} + count;
    if (next > std::numeric_limits<int32_t>::max()) {
        next -= int64_t{std::numeric_limits<int32_t>::max()} + 1;
    }
    return sequence_t(static_cast<int32_t>(next));
}

batch_builder::batch_builder(options opts) : opts_(opts) {
    buf_.reserve(std::max(opts_.reserve_bytes, bf::header_size));
    buf_.resize(bf::header_size);  // the header is written by finish()
}

size_t batch_builder::record_size_bytes(const record_input& r, int64_t timestamp_delta,
                                        int32_t offset_delta) noexcept {
    const size_t body = record_body_size(r, timestamp_delta, offset_delta);
    return varint::encoded_size(static_cast<int64_t>(body)) + body;
}

void batch_builder::add(const record_input& r) {
    SLUICE_CODEC_CHECK(count_ < std::numeric_limits<int32_t>::max());
    if (count_ == 0) {
        base_timestamp_ = r.timestamp;
        max_timestamp_ = r.timestamp;
    } else if (r.timestamp > max_timestamp_) {
        max_timestamp_ = r.timestamp;
    }
    const int64_t ts_delta = wrapping_sub(r.timestamp.value(), base_timestamp_.value());
    const int32_t offset_delta = count_;
    const size_t body = record_body_size(r, ts_delta, offset_delta);
    const size_t total = varint::encoded_size(static_cast<int64_t>(body)) + body;
    // Keeps every length the record carries within int32 as well.
    SLUICE_CODEC_CHECK(total <= bf::batch_size_max - buf_.size());

    const size_t old_size = buf_.size();
    buf_.resize(old_size + total);
    std::byte* p = buf_.data() + old_size;
    p = put_varint(p, static_cast<int64_t>(body));
    *p++ = std::byte{0};  // record attributes: unused in v2
    p = put_varint(p, ts_delta);
    p = put_varint(p, offset_delta);
    p = put_nullable(p, r.key);
    p = put_nullable(p, r.value);
    p = put_varint(p, static_cast<int64_t>(r.headers.size()));
    for (const header_view& hv : r.headers) {
        p = put_nullable(p, hv.key);
        p = put_nullable(p, hv.value);
    }
    SLUICE_CODEC_CHECK(p == buf_.data() + buf_.size());
    ++count_;
}

std::vector<std::byte> batch_builder::finish() {
    SLUICE_CODEC_CHECK(count_ > 0);  // parse() rejects a batch without records
    std::byte* h = buf_.data();
    store_be<int64_t>(h + bf::base_offset_pos, 0);
    store_be<int32_t>(h + bf::batch_length_pos,
                      static_cast<int32_t>(buf_.size() - bf::length_field_end));
    store_be<int32_t>(h + bf::leader_epoch_pos, no_leader_epoch.value());
    store_be<int8_t>(h + bf::magic_pos, bf::magic_v2);
    store_be<uint16_t>(h + bf::attributes_pos, 0);
    store_be<int32_t>(h + bf::last_offset_delta_pos, count_ - 1);
    store_be<int64_t>(h + bf::base_timestamp_pos, base_timestamp_.value());
    store_be<int64_t>(h + bf::max_timestamp_pos, max_timestamp_.value());
    store_be<int64_t>(h + bf::producer_id_pos, opts_.producer_id.value());
    store_be<int16_t>(h + bf::producer_epoch_pos, opts_.producer_epoch.value());
    store_be<int32_t>(h + bf::base_sequence_pos, opts_.base_sequence.value());
    store_be<int32_t>(h + bf::record_count_pos, count_);
    const uint32_t crc = crc32c::value(std::span<const std::byte>(buf_).subspan(bf::crc_start));
    store_be<uint32_t>(h + bf::crc_pos, crc);

    std::vector<std::byte> out = std::move(buf_);
    buf_ = {};
    buf_.reserve(std::max(opts_.reserve_bytes, bf::header_size));
    buf_.resize(bf::header_size);
    count_ = 0;
    return out;
}

}  // namespace sluice
