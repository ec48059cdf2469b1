#include "sluice/core/producer_snapshot.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "sluice/fbs/producer_snapshot_generated.h"
#include "sluice/protocol/aligned.h"
#include "sluice/storage/checkpoint.h"

namespace sluice::broker {

namespace disk = fbs::disk;

namespace {

constexpr std::string_view snapshot_suffix = ".snapshot";
constexpr size_t offset_digits = 20;

// A kept entry as the rules of producer_snapshot.h want it.
bool entry_valid(const producer_entry& e, offset_t end) {
    if (e.epoch < producer_epoch_t{0} || e.batches.empty() ||
        e.batches.size() > producer_batches_kept) {
        return false;
    }
    offset_t floor{0};
    for (const producer_batch& b : e.batches) {
        if (b.first_sequence < sequence_t{0} || b.last_sequence < sequence_t{0} ||
            b.base_offset < floor || b.last_offset < b.base_offset || b.last_offset >= end) {
            return false;
        }
        floor = b.last_offset + 1;
    }
    return true;
}

}  // namespace

std::vector<std::byte> encode_producer_snapshot(const producer_snapshot& s) {
    flatbuffers::FlatBufferBuilder fbb(256 + s.state.entries().size() * 200);
    std::vector<flatbuffers::Offset<disk::ProducerEntry>> entries;
    std::vector<disk::ProducerBatch> batches;
    for (const auto& [id, e] : s.state.entries()) {
        batches.clear();
        for (const producer_batch& b : e.batches) {
            batches.emplace_back(b.first_sequence.value(), b.last_sequence.value(),
                                 b.base_offset.value(), b.last_offset.value(),
                                 b.max_timestamp.value());
        }
        entries.push_back(disk::CreateProducerEntry(fbb, id.value(), e.epoch.value(),
                                                    fbb.CreateVectorOfStructs(batches)));
    }
    fbb.Finish(disk::CreateProducerSnapshot(fbb, s.end_offset.value(), fbb.CreateVector(entries)));
    const auto* p = reinterpret_cast<const std::byte*>(fbb.GetBufferPointer());
    return {p, p + fbb.GetSize()};
}

std::optional<producer_snapshot> decode_producer_snapshot(std::span<const std::byte> bytes) {
    flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    if (!v.VerifyBuffer<disk::ProducerSnapshot>(nullptr)) {
        return std::nullopt;
    }
    const auto* rec = flatbuffers::GetRoot<disk::ProducerSnapshot>(bytes.data());
    const offset_t end{rec->end_offset()};
    if (end < offset_t{0}) {
        return std::nullopt;
    }
    producer_state::entries_map entries;
    if (rec->producers() != nullptr) {
        for (const disk::ProducerEntry* pe : *rec->producers()) {
            const producer_id_t id{pe->id()};
            if (id < producer_id_t{0} || (!entries.empty() && id <= entries.rbegin()->first) ||
                pe->batches() == nullptr || !elements_aligned(pe->batches())) {
                return std::nullopt;
            }
            producer_entry e{producer_epoch_t{pe->epoch()}, {}};
            for (const disk::ProducerBatch* b : *pe->batches()) {
                e.batches.push_back({sequence_t{b->first_sequence()},
                                     sequence_t{b->last_sequence()}, offset_t{b->base_offset()},
                                     offset_t{b->last_offset()},
                                     timestamp_ms_t{b->max_timestamp()}});
            }
            if (!entry_valid(e, end)) {
                return std::nullopt;
            }
            entries.emplace_hint(entries.end(), id, std::move(e));
        }
    }
    return producer_snapshot{end, producer_state(std::move(entries))};
}

std::string producer_snapshot_name(offset_t end) {
    return fmt::format("{:0{}}{}", end.value(), offset_digits, snapshot_suffix);
}

std::optional<offset_t> parse_producer_snapshot_name(std::string_view name) {
    if (name.size() != offset_digits + snapshot_suffix.size() || !name.ends_with(snapshot_suffix)) {
        return std::nullopt;
    }
    int64_t v = 0;
    const char* first = name.data();
    const char* last = first + offset_digits;
    if (!std::all_of(first, last, [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    auto [ptr, ec] = std::from_chars(first, last, v);
    if (ec != std::errc{} || ptr != last) {
        return std::nullopt;
    }
    return offset_t{v};
}

result<void> write_producer_snapshot(storage::file_system& fs, const std::filesystem::path& dir,
                                     const producer_snapshot& s) {
    const std::vector<std::byte> payload = encode_producer_snapshot(s);
    return storage::write_checkpoint(fs, dir / producer_snapshot_name(s.end_offset), payload,
                                     producer_snapshot_payload_max);
}

result<std::vector<offset_t>> list_producer_snapshots(storage::file_system& fs,
                                                      const std::filesystem::path& dir) {
    SLUICE_TRY(auto names, fs.list(dir));
    std::vector<offset_t> out;
    for (const std::string& n : names) {
        if (auto o = parse_producer_snapshot_name(n)) {
            out.push_back(*o);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

result<std::optional<producer_snapshot>> read_producer_snapshot_at_or_below(
    storage::file_system& fs, const std::filesystem::path& dir, offset_t end) {
    SLUICE_TRY(auto offsets, list_producer_snapshots(fs, dir));
    for (auto it = offsets.rbegin(); it != offsets.rend(); ++it) {
        if (*it > end) {
            continue;
        }
        SLUICE_TRY(auto payload, storage::read_checkpoint(fs, dir / producer_snapshot_name(*it),
                                                          producer_snapshot_payload_max));
        if (!payload) {
            continue;  // damaged: an older one, or the replay from the log start, stands in
        }
        auto s = decode_producer_snapshot(*payload);
        if (s && s->end_offset == *it) {
            return std::optional<producer_snapshot>(std::move(*s));
        }
    }
    return std::optional<producer_snapshot>{};
}

result<void> remove_producer_snapshots_above(storage::file_system& fs,
                                             const std::filesystem::path& dir, offset_t end) {
    SLUICE_TRY(auto offsets, list_producer_snapshots(fs, dir));
    bool removed = false;
    for (offset_t o : offsets) {
        if (o > end) {
            SLUICE_TRY(fs.remove(dir / producer_snapshot_name(o)));
            removed = true;
        }
    }
    if (removed) {
        return fs.sync_directory(dir);
    }
    return success();
}

result<void> remove_producer_snapshots_before(storage::file_system& fs,
                                              const std::filesystem::path& dir, offset_t start) {
    SLUICE_TRY(auto offsets, list_producer_snapshots(fs, dir));
    auto keep = std::upper_bound(offsets.begin(), offsets.end(), start);
    if (keep == offsets.begin()) {
        return success();  // none at or below `start`
    }
    --keep;  // the newest at or below `start` stays
    for (auto it = offsets.begin(); it != keep; ++it) {
        SLUICE_TRY(fs.remove(dir / producer_snapshot_name(*it)));
    }
    return success();
}

result<void> remove_producer_snapshot_leftovers(storage::file_system& fs,
                                                const std::filesystem::path& dir) {
    SLUICE_TRY(auto names, fs.list(dir));
    constexpr std::string_view suffix = ".snapshot.tmp";
    for (const std::string& n : names) {
        if (n.size() > suffix.size() && n.ends_with(suffix)) {
            SLUICE_TRY(fs.remove(dir / n));
        }
    }
    return success();
}

}  // namespace sluice::broker
