// Fuzz target: the bytes of one record batch, as a producer sends it or the log stores it.
//
// Runs every reader of record_batch.h over the input: read_header, check_batch (the storage
// check), batch_view::parse (the produce-path check) with record iteration and headers, and
// batch_reader over the input as a run of batches, with and without a partial tail. Checks the
// contracts between them:
//   - parse() is stricter than check_batch(), which is stricter than read_header(): whatever
//     parse() accepts the other two accept, with the same header;
//   - a batch that parses, rebuilt record by record with batch_builder, parses again and yields
//     the same keys, values, headers and timestamps;
//   - the compacted rule (a cleaned batch's) accepts whatever the dense one does, and is accepted
//     by check_batch; a batch that passes it, with every other record dropped as compaction
//     drops them (batch_with_records), passes it again with exactly the records kept, and with
//     none kept passes it (and check_batch) but not the dense rule.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <vector>

#include "envelope_walk.h"
#include "require.h"
#include "sluice/protocol/record_batch.h"

namespace {

using namespace sluice;

volatile uint64_t sink;

using fuzz::require;

bool same_header(const batch_header& a, const batch_header& b) {
    return a.base_offset == b.base_offset && a.batch_length == b.batch_length &&
           a.leader_epoch == b.leader_epoch && a.crc == b.crc && a.attributes == b.attributes &&
           a.last_offset_delta == b.last_offset_delta && a.base_timestamp == b.base_timestamp &&
           a.max_timestamp == b.max_timestamp && a.producer_id == b.producer_id &&
           a.producer_epoch == b.producer_epoch && a.base_sequence == b.base_sequence &&
           a.record_count == b.record_count;
}

bool same_bytes(const std::optional<bytes_view>& a, const std::optional<bytes_view>& b) {
    if (a.has_value() != b.has_value()) {
        return false;
    }
    return !a || std::equal(a->begin(), a->end(), b->begin(), b->end());
}

// One record of a parsed batch, with its absolute timestamp.
struct record_copy {
    record_view view;
    std::vector<header_view> headers;
    timestamp_ms_t timestamp;
};

// Rebuilds `batch` with batch_builder and checks that the copy reads back the same. Skipped when
// a timestamp would overflow or the copy would outgrow the batch size limit (both preconditions
// of the builder, not properties of the input).
void check_rebuild(const batch_view& batch) {
    std::vector<record_copy> records;
    auto it = batch.records();
    record_view r;
    while (it.next(r)) {
        record_copy c{r, {}, {}};
        r.headers(c.headers);
        int64_t ts = 0;
        if (__builtin_add_overflow(batch.header().base_timestamp.value(), r.timestamp_delta, &ts)) {
            return;
        }
        c.timestamp = timestamp_ms_t{ts};
        records.push_back(std::move(c));
    }
    require(records.size() == size_t(batch.header().record_count));

    batch_builder builder;
    const int64_t first_ts = records.front().timestamp.value();
    for (size_t i = 0; i < records.size(); ++i) {
        const record_copy& c = records[i];
        record_input in{c.view.key, c.view.value, c.timestamp, c.headers};
        int64_t delta = 0;
        if (__builtin_sub_overflow(c.timestamp.value(), first_ts, &delta)) {
            return;
        }
        if (builder.size_bytes() + batch_builder::record_size_bytes(in, delta, int32_t(i)) >
            batch_format::batch_size_max) {
            return;
        }
        builder.add(in);
    }
    auto bytes = builder.finish();
    auto again = batch_view::parse(bytes);
    require(again.has_value());
    require(again.value().header().record_count == batch.header().record_count);

    auto it2 = again.value().records();
    std::vector<header_view> headers;
    for (const record_copy& c : records) {
        record_view r2;
        require(it2.next(r2));
        require(same_bytes(r2.key, c.view.key) && same_bytes(r2.value, c.view.value));
        require(again.value().header().base_timestamp + r2.timestamp_delta == c.timestamp);
        headers.clear();
        r2.headers(headers);
        require(headers.size() == c.headers.size());
        for (size_t i = 0; i < headers.size(); ++i) {
            require(same_bytes(headers[i].key, c.headers[i].key) &&
                    same_bytes(headers[i].value, c.headers[i].value));
        }
    }
    require(!it2.next(r));
}

// Drops every other record of `v` (keeping the first), as compaction could, and checks the result.
void check_compacted(const batch_view& v) {
    std::vector<bytes_view> kept;
    auto it = v.records();
    record_view r;
    for (size_t i = 0; it.next(r); ++i) {
        if (i % 2 == 0) {
            kept.push_back(r.encoded);
        }
    }
    require(!kept.empty());
    const auto cleaned = batch_with_records(v, kept);
    auto again = batch_view::parse(cleaned, offset_rule::compacted);
    require(again.has_value());
    require(again.value().header().record_count == int32_t(kept.size()));
    require(again.value().header().base_offset == v.header().base_offset);
    require(again.value().header().last_offset_delta == v.header().last_offset_delta);
    auto it2 = again.value().records();
    for (const bytes_view k : kept) {
        require(it2.next(r));
        require(r.encoded.size() == k.size() && std::equal(k.begin(), k.end(), r.encoded.begin()));
    }
    require(!it2.next(r));
    // With no record left: the header alone, as compaction keeps a producer's last batch.
    const auto bare = batch_with_records(v, {});
    auto header_only = batch_view::parse(bare, offset_rule::compacted);
    require(header_only.has_value() && header_only.value().header().record_count == 0);
    require(check_batch(bare).has_value());
    require(!batch_view::parse(bare).has_value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    bytes_view in(reinterpret_cast<const std::byte*>(data), size);

    auto header = read_header(in);
    auto checked = check_batch(in);
    auto parsed = batch_view::parse(in);
    if (checked) {
        require(header.has_value() && same_header(header.value(), checked.value()));
    }
    auto compacted = batch_view::parse(in, offset_rule::compacted);
    if (parsed) {
        require(checked.has_value() && same_header(parsed.value().header(), checked.value()));
        check_rebuild(parsed.value());
        require(compacted.has_value());
    }
    if (compacted) {
        require(checked.has_value() && same_header(compacted.value().header(), checked.value()));
        check_compacted(compacted.value());
    }

    sink = fuzz::walk_batches(in, false) ^ fuzz::walk_batches(in, true);
    return 0;
}
