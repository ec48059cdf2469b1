// Writes the seeds of the controller's fuzz targets:
//   - raft_codec: one frame of each Raft message type, with the values a three-voter quorum
//     exchanges (an election, fetches with entries of every kind, a diverging log, a snapshot
//     download in chunks);
//   - quorum_state: the quorum-state files of a node that voted for another and of one that voted
//     for itself.
//
//   fuzz-controller-seeds RAFT_CODEC_DIR QUORUM_STATE_DIR
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "sluice/controller/quorum_state.h"
#include "sluice/controller/raft_codec.h"

using namespace sluice;
using namespace sluice::raft;

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: fuzz-controller-seeds RAFT_CODEC_DIR QUORUM_STATE_DIR\n");
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    const std::filesystem::path quorum_dir = argv[2];
    std::filesystem::create_directories(dir);
    const node_id_t n1(1), n2(2), n3(3);
    const std::vector<node_id_t> voters{n1, n2, n3};
    const std::vector<std::pair<std::string, message>> seeds{
        {"pre-vote-request", {n1, n2, pre_vote_request{term_t(2), offset_t(10), term_t(1)}}},
        {"pre-vote-response", {n2, n1, pre_vote_response{term_t(2), true, no_node}}},
        {"vote-request", {n1, n3, vote_request{term_t(2), offset_t(10), term_t(1)}}},
        {"vote-response", {n3, n1, vote_response{term_t(2), true, no_node}}},
        {"begin-epoch", {n1, n2, begin_epoch{term_t(2)}}},
        {"fetch-request", {n2, n1, fetch_request{term_t(2), offset_t(10), term_t(1)}}},
        {"fetch-response-entries",
         {n1, n2,
          fetch_response{term_t(2),
                         n1,
                         fetch_error::none,
                         offset_t(10),
                         term_t(1),
                         offset_t(10),
                         {entry{term_t(2), entry_kind::leader_change, {}, {}},
                          entry{term_t(2), entry_kind::data, "topic t1 created", {}},
                          entry{term_t(2), entry_kind::voters, {}, voters}},
                         {},
                         {}}}},
        {"fetch-response-diverging",
         {n1, n3,
          fetch_response{term_t(3),
                         n1,
                         fetch_error::none,
                         offset_t(12),
                         term_t(2),
                         offset_t(11),
                         {},
                         epoch_end{term_t(2), offset_t(11)},
                         {}}}},
        {"fetch-response-snapshot",
         {n1, n3,
          fetch_response{term_t(3),
                         n1,
                         fetch_error::none,
                         offset_t(0),
                         term_t(0),
                         offset_t(40),
                         {},
                         {},
                         snapshot_id{offset_t(30), term_t(3)}}}},
        {"fetch-response-fenced",
         {n2, n3,
          fetch_response{term_t(4),
                         n2,
                         fetch_error::fenced_epoch,
                         offset_t(12),
                         term_t(2),
                         offset_t(0),
                         {},
                         {},
                         {}}}},
        {"fetch-snapshot-request",
         {n3, n1, fetch_snapshot_request{term_t(3), snapshot_id{offset_t(30), term_t(3)}, 512}}},
        {"fetch-snapshot-response",
         {n1, n3,
          fetch_snapshot_response{term_t(3), n1, snapshot_id{offset_t(30), term_t(3)}, true, 512,
                                  1024, voters, std::string(512, 'i')}}},
    };
    for (const auto& [name, m] : seeds) {
        const auto frame = controller::encode_raft_frame("cluster-7f3a", m);
        std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(frame.data()), std::streamsize(frame.size()));
        if (!out) {
            std::fprintf(stderr, "fuzz-controller-seeds: cannot write %s\n", (dir / name).c_str());
            return 1;
        }
    }
    // save_quorum_state writes `quorum-state` in a directory; each seed gets its own.
    const std::vector<std::pair<std::string, hard_state>> states{
        {"voted-for-other", hard_state{term_t(3), n2, offset_t(17)}},
        {"voted-for-self", hard_state{term_t(4), n1, offset_t(21)}},
    };
    for (const auto& [name, state] : states) {
        const auto tmp = quorum_dir / (name + ".d");
        std::filesystem::create_directories(tmp);
        if (!controller::save_quorum_state(storage::posix_file_system(), tmp, n1, state)) {
            std::fprintf(stderr, "fuzz-controller-seeds: cannot write %s\n", tmp.c_str());
            return 1;
        }
        std::filesystem::rename(tmp / controller::quorum_state_file, quorum_dir / name);
        std::filesystem::remove_all(tmp);
    }
    return 0;
}
