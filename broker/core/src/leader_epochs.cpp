#include "sluice/core/leader_epochs.h"

#include "sluice/fbs/partition_disk_generated.h"
#include "sluice/storage/checkpoint.h"

namespace sluice::broker {

namespace disk = fbs::disk;

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
    if (rec->entries() == nullptr) {
        return out;
    }
    for (const auto* e : *rec->entries()) {
        out.push_back({leader_epoch_t{e->epoch()}, offset_t{e->start_offset()}});
    }
    return out;
}

}  // namespace sluice::broker
