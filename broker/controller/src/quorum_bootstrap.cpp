#include "sluice/controller/quorum_bootstrap.h"

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "sluice/controller/quorum_state.h"
#include "sluice/fbs/controller_disk_generated.h"
#include "sluice/storage/checkpoint.h"

namespace sluice::controller {
namespace {

namespace disk = fbs::controller_disk;

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string damaged(const std::filesystem::path& path, std::string_view what) {
    return fmt::format(
        "{} is damaged ({}): this node's directory id and the quorum's voters are lost; restore "
        "the file (a node formatted again is a new replica, not a voter)",
        path.string(), what);
}

// Kafka reserves the ids below 100 (hi 0): none is ever a directory's.
bool reserved(const raft::directory_id& d) {
    return d.hi == 0 && d.lo < 100;
}

}  // namespace

result<quorum_bootstrap_load> load_quorum_bootstrap(storage::file_system& fs,
                                                    const std::filesystem::path& dir,
                                                    node_id_t self) {
    const auto path = dir / quorum_bootstrap_file;
    SLUICE_TRY(bool present, fs.exists(path));
    if (!present) {
        return quorum_bootstrap_load{};
    }
    SLUICE_TRY(auto payload, storage::read_checkpoint(fs, path));
    if (!payload) {
        return quorum_bootstrap_load{{}, damaged(path, "bad magic, length or CRC")};
    }
    flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(payload->data()), payload->size());
    if (!v.VerifyBuffer<disk::QuorumBootstrap>(nullptr)) {
        return quorum_bootstrap_load{{}, damaged(path, "not a QuorumBootstrap")};
    }
    const auto* q = flatbuffers::GetRoot<disk::QuorumBootstrap>(payload->data());
    if (q->node_id() != self.value()) {
        return quorum_bootstrap_load{
            {},
            fmt::format("{} belongs to node.id={}, not node.id={}; give this node its own "
                        "metadata directory",
                        path.string(), q->node_id(), self.value())};
    }
    quorum_bootstrap out{self, raft::directory_id{q->directory_hi(), q->directory_lo()}, {}};
    if (q->voters() != nullptr) {
        for (const auto* voter : *q->voters()) {
            out.voters.emplace_back(
                node_id_t(voter->node_id()),
                raft::directory_id{voter->directory_hi(), voter->directory_lo()});
        }
    }
    std::sort(out.voters.begin(), out.voters.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    const bool unique =
        std::adjacent_find(out.voters.begin(), out.voters.end(), [](const auto& a, const auto& b) {
            return a.first == b.first;
        }) == out.voters.end();
    const bool known = std::all_of(out.voters.begin(), out.voters.end(), [](const auto& vd) {
        return vd.first >= node_id_t{0} && vd.second.known();
    });
    if (!out.directory.known() || out.voters.empty() || !unique || !known) {
        return quorum_bootstrap_load{{}, damaged(path, "no directory id, or a bad voter list")};
    }
    // Formatting writes the quorum-state before this file: without it, the votes this node cast
    // are gone, and voting again could elect two leaders in one term.
    SLUICE_TRY(bool voted, fs.exists(dir / quorum_state_file));
    if (!voted) {
        return quorum_bootstrap_load{
            {},
            fmt::format("{} is formatted but its {} is gone, with the votes it held: voting again "
                        "could elect two leaders in one term; restore the file, or remove the "
                        "directory and format this node again with --new-directory",
                        dir.string(), quorum_state_file)};
    }
    return quorum_bootstrap_load{std::move(out), {}};
}

result<void> save_quorum_bootstrap(storage::file_system& fs, const std::filesystem::path& dir,
                                   const quorum_bootstrap& b) {
    flatbuffers::FlatBufferBuilder fbb(256);
    std::vector<flatbuffers::Offset<disk::VoterDirectory>> voters;
    for (const auto& [id, d] : b.voters) {
        voters.push_back(disk::CreateVoterDirectory(fbb, id.value(), d.hi, d.lo));
    }
    const auto list = fbb.CreateVector(voters);
    fbb.Finish(
        disk::CreateQuorumBootstrap(fbb, b.node_id.value(), b.directory.hi, b.directory.lo, list));
    return storage::write_checkpoint(
        fs, dir / quorum_bootstrap_file,
        std::span(reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()), fbb.GetSize()));
}

std::string directory_text(const raft::directory_id& d) {
    uint8_t bytes[16];
    for (int i = 0; i < 8; ++i) {
        bytes[i] = uint8_t(d.hi >> (56 - 8 * i));
        bytes[8 + i] = uint8_t(d.lo >> (56 - 8 * i));
    }
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (uint8_t b : bytes) {
        acc = (acc << 8) | b;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(alphabet[(acc >> bits) & 63]);
        }
    }
    out.push_back(alphabet[(acc << (6 - bits)) & 63]);  // the last 2 bits, 4 zero bits after
    return out;
}

std::optional<raft::directory_id> parse_directory(std::string_view text) {
    if (text.size() != 22) {
        return std::nullopt;
    }
    uint8_t bytes[16];
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : text) {
        const size_t v = alphabet.find(c);
        if (v == std::string_view::npos) {
            return std::nullopt;
        }
        acc = (acc << 6) | uint32_t(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n < 16) {
                bytes[n++] = uint8_t(acc >> bits);
            }
        }
    }
    if ((acc & ((1u << bits) - 1)) != 0) {
        return std::nullopt;  // the padding bits of the last character must be zero
    }
    raft::directory_id d;
    for (int i = 0; i < 8; ++i) {
        d.hi = (d.hi << 8) | bytes[i];
        d.lo = (d.lo << 8) | bytes[8 + i];
    }
    if (reserved(d)) {
        return std::nullopt;
    }
    return d;
}

raft::directory_id random_directory() {
    std::random_device dev;
    raft::directory_id d;
    // As Kafka's: never reserved, and never printed with a leading '-' (it would read as a flag).
    while (reserved(d) || directory_text(d).front() == '-') {
        d.hi = (uint64_t(dev()) << 32) | dev();
        d.lo = (uint64_t(dev()) << 32) | dev();
    }
    return d;
}

}  // namespace sluice::controller
