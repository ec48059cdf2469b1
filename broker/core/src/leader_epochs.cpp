#include "sluice/core/leader_epochs.h"

#include <algorithm>
#include <iterator>

#include "sluice/fbs/partition_disk_generated.h"
#include "sluice/protocol/aligned.h"
#include "sluice/storage/checkpoint.h"

namespace sluice::broker {

namespace disk = fbs::disk;

leader_epoch_cache::leader_epoch_cache(const std::vector<epoch_entry>& entries) {
    for (const auto& e : entries) {
        if (e.epoch < leader_epoch_t{0} || e.start_offset < offset_t{0}) {
            continue;
        }
        if (!entries_.empty() &&
            (e.epoch <= entries_.back().epoch || e.start_offset < entries_.back().start_offset)) {
            continue;
        }
        if (!entries_.empty() && e.start_offset == entries_.back().start_offset) {
            entries_.back() = e;  // the earlier epoch wrote nothing
            continue;
        }
        entries_.push_back(e);
    }
}

leader_epoch_t leader_epoch_cache::latest_epoch() const {
    return entries_.empty() ? leader_epoch_t{-1} : entries_.back().epoch;
}

bool leader_epoch_cache::assign(leader_epoch_t epoch, offset_t start) {
    if (epoch < leader_epoch_t{0} || start < offset_t{0} || epoch < latest_epoch()) {
        return false;
    }
    if (!entries_.empty() && entries_.back().epoch == epoch) {
        return false;
    }
    while (!entries_.empty() && entries_.back().start_offset >= start) {
        entries_.pop_back();
    }
    entries_.push_back({epoch, start});
    return true;
}

epoch_end leader_epoch_cache::end_offset_for(leader_epoch_t epoch, offset_t log_end) const {
    if (entries_.empty() || epoch < leader_epoch_t{0} || epoch > latest_epoch()) {
        return {};
    }
    if (epoch == latest_epoch()) {
        return {epoch, log_end};
    }
    // The first epoch above the one asked for: where the asked one's offsets end.
    auto higher = std::upper_bound(
        entries_.begin(), entries_.end(), epoch,
        [](leader_epoch_t e, const epoch_entry& entry) { return e < entry.epoch; });
    if (higher == entries_.begin()) {
        // Below every epoch known (retention removed it): it ended where the first one begins.
        return {epoch, higher->start_offset};
    }
    return {std::prev(higher)->epoch, higher->start_offset};
}

bool leader_epoch_cache::truncate_from_end(offset_t end) {
    const size_t before = entries_.size();
    while (!entries_.empty() && entries_.back().start_offset >= end) {
        entries_.pop_back();
    }
    return entries_.size() != before;
}

bool leader_epoch_cache::truncate_from_start(offset_t start) {
    // The last epoch that began at or below `start` holds it; the ones before it are gone.
    size_t keep = 0;
    while (keep + 1 < entries_.size() && entries_[keep + 1].start_offset <= start) {
        ++keep;
    }
    bool changed = keep > 0;
    entries_.erase(entries_.begin(), entries_.begin() + std::ptrdiff_t(keep));
    if (!entries_.empty() && entries_.front().start_offset < start) {
        entries_.front().start_offset = start;
        changed = true;
    }
    return changed;
}

result<void> write_leader_epochs(storage::file_system& fs, const std::filesystem::path& dir,
                                 const std::vector<epoch_entry>& entries) {
    flatbuffers::FlatBufferBuilder fbb(128);
    std::vector<disk::EpochEntry> es;
    for (const auto& e : entries) {
        es.emplace_back(e.epoch.value(), e.start_offset.value());
    }
    fbb.Finish(disk::CreateLeaderEpochs(fbb, fbb.CreateVectorOfStructs(es)));
    std::span<const std::byte> bytes{reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()),
                                     fbb.GetSize()};
    return storage::write_checkpoint(fs, dir / leader_epoch_file, bytes);
}

result<std::vector<epoch_entry>> read_leader_epochs(storage::file_system& fs,
                                                    const std::filesystem::path& dir) {
    std::vector<epoch_entry> out;
    SLUICE_TRY(auto payload, storage::read_checkpoint(fs, dir / leader_epoch_file));
    if (!payload) {
        return out;
    }
    flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(payload->data()), payload->size());
    if (!v.VerifyBuffer<disk::LeaderEpochs>(nullptr)) {
        return out;
    }
    const auto* rec = flatbuffers::GetRoot<disk::LeaderEpochs>(payload->data());
    if (rec->entries() == nullptr || !elements_aligned(rec->entries())) {
        return out;
    }
    for (const auto* e : *rec->entries()) {
        out.push_back({leader_epoch_t{e->epoch()}, offset_t{e->start_offset()}});
    }
    return out;
}

}  // namespace sluice::broker
