#include "sluice/controller/quorum_state.h"

#include <fmt/format.h>

#include "sluice/fbs/controller_disk_generated.h"
#include "sluice/storage/checkpoint.h"

namespace sluice::controller {
namespace {

namespace disk = fbs::controller_disk;

std::string damaged(const std::filesystem::path& path, std::string_view what) {
    return fmt::format(
        "{} is damaged ({}): the vote it held is lost, and voting again could elect two leaders "
        "in one term; restore the file, or remove this node's metadata directory so that it "
        "starts as a new, empty replica",
        path.string(), what);
}

}  // namespace

result<quorum_state_load> load_quorum_state(storage::file_system& fs,
                                            const std::filesystem::path& dir, node_id_t self) {
    const auto path = dir / quorum_state_file;
    SLUICE_TRY(bool present, fs.exists(path));
    if (!present) {
        return quorum_state_load{};
    }
    SLUICE_TRY(auto payload, storage::read_checkpoint(fs, path));
    if (!payload) {
        return quorum_state_load{{}, damaged(path, "bad magic, length or CRC")};
    }
    flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(payload->data()), payload->size());
    if (!v.VerifyBuffer<disk::QuorumState>(nullptr)) {
        return quorum_state_load{{}, damaged(path, "not a QuorumState")};
    }
    const auto* q = flatbuffers::GetRoot<disk::QuorumState>(payload->data());
    if (q->node_id() != self.value()) {
        return quorum_state_load{
            {},
            fmt::format("{} belongs to node.id={}, not node.id={}; give this node its own "
                        "metadata directory",
                        path.string(), q->node_id(), self.value())};
    }
    if (q->term() < 0 || q->vote() < -1 || q->commit() < 0) {
        return quorum_state_load{{},
                                 damaged(path, fmt::format("term {}, vote {}, commit {}", q->term(),
                                                           q->vote(), q->commit()))};
    }
    return quorum_state_load{
        raft::hard_state{term_t(q->term()), node_id_t(q->vote()), offset_t(q->commit())}, {}};
}

result<void> save_quorum_state(storage::file_system& fs, const std::filesystem::path& dir,
                               node_id_t self, const raft::hard_state& state) {
    flatbuffers::FlatBufferBuilder fbb(64);
    fbb.Finish(disk::CreateQuorumState(fbb, self.value(), state.term.value(), state.vote.value(),
                                       state.commit.value()));
    return storage::write_checkpoint(
        fs, dir / quorum_state_file,
        std::span(reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()), fbb.GetSize()));
}

}  // namespace sluice::controller
