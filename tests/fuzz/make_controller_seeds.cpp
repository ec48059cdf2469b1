// Writes the seeds of the controller's fuzz targets:
//   - raft_codec: one frame of each Raft message type, with the values a three-voter quorum
//     exchanges (an election, fetches with entries of every kind, a diverging log, a snapshot
//     download in chunks);
//   - quorum_state: the quorum-state files of a node that voted for another and of one that voted
//     for itself, the quorum-bootstrap file of a node of three voters, and a directory id's text;
//   - raft_storage: metadata directories written by raft_storage (entries of every kind, with and
//     without a snapshot), bundled as that target reads them;
//   - metadata_batch: the entries a controller writes for a small cluster's life (brokers
//     registering, topics created, a broker fenced and back, a topic deleted, producer ids) and a
//     snapshot of its image.
//
//   - controller_rpc: one frame of each request a broker sends the active controller and of each
//     answer.
//
//   fuzz-controller-seeds RAFT_CODEC_DIR QUORUM_STATE_DIR RAFT_STORAGE_DIR METADATA_BATCH_DIR
//                         CONTROLLER_RPC_DIR
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "bundle.h"
#include "sluice/controller/controller_rpc.h"
#include "sluice/controller/decisions.h"
#include "sluice/controller/metadata_log.h"
#include "sluice/controller/quorum_bootstrap.h"
#include "sluice/controller/quorum_state.h"
#include "sluice/controller/raft_codec.h"
#include "sluice/controller/raft_storage.h"

using namespace sluice;
using namespace sluice::raft;

namespace {

std::vector<std::byte> read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::vector<char> chars{std::istreambuf_iterator<char>(in), {}};
    std::vector<std::byte> out(chars.size());
    std::memcpy(out.data(), chars.data(), chars.size());
    return out;
}

// A metadata directory with six entries of every kind, a hard state and, with `snapshot_at`, a
// snapshot inside the log; bundled as raft-snapshot, the first segment, quorum-state.
bool write_storage_seed(const std::filesystem::path& out, const std::vector<node_id_t>& voters,
                        std::optional<offset_t> snapshot_at) {
    const auto dir = out.parent_path() / (out.filename().string() + ".d");
    std::filesystem::remove_all(dir);
    {
        auto opened =
            controller::raft_storage::open(storage::posix_file_system(), dir, node_id_t(1));
        if (!opened || !opened.value().storage) {
            return false;
        }
        ready rd;
        rd.entries_offset = offset_t(0);
        rd.entries = {entry{term_t(1), entry_kind::leader_change, {}, {}},
                      entry{term_t(1), entry_kind::voters, {}, voters},
                      entry{term_t(1), entry_kind::data, "broker 1 registered", {}},
                      entry{term_t(2), entry_kind::leader_change, {}, {}},
                      entry{term_t(2), entry_kind::data, "topic t1 created", {}},
                      entry{term_t(2), entry_kind::data, "", {}}};
        rd.hard = hard_state{term_t(2), node_id_t(2), offset_t(4)};
        if (!opened.value().storage->persist(rd)) {
            return false;
        }
        if (snapshot_at) {
            auto& storage = *opened.value().storage;
            const snapshot_id id{*snapshot_at, term_t(2)};
            // A real image: one broker registered by the entry before the snapshot's end.
            auto image = controller::apply_batch(
                controller::metadata_image{}, *snapshot_at - 1,
                controller::plan_register(controller::metadata_image{}, node_id_t(1),
                                          controller::uuid{1, 5},
                                          {{"PLAINTEXT", "127.0.0.1", 9092}}, "", true));
            auto size = controller::write_snapshot_image(storage, image.image, id, voters);
            if (!size || !image.problem.empty()) {
                return false;
            }
            ready snap;
            snap.snap = snapshot{id, voters, size.value()};
            snap.entries_offset = offset_t(6);
            if (!opened.value().storage->persist(snap)) {
                return false;
            }
        }
    }
    const std::vector<std::byte> files[] = {
        read_file(dir / controller::raft_snapshot_file),
        read_file(dir / "00000000000000000000.log"),
        read_file(dir / controller::quorum_state_file),
    };
    const std::vector<fuzz::bytes_view> views(std::begin(files), std::end(files));
    const auto bundle = fuzz::make_bundle(views);
    std::ofstream o(out, std::ios::binary | std::ios::trunc);
    o.write(reinterpret_cast<const char*>(bundle.data()), std::streamsize(bundle.size()));
    std::filesystem::remove_all(dir);
    return bool(o);
}

bool write_storage_seeds(const std::filesystem::path& dir, const std::vector<node_id_t>& voters) {
    std::filesystem::create_directories(dir);
    if (!write_storage_seed(dir / "log-only", voters, std::nullopt) ||
        !write_storage_seed(dir / "snapshot-inside-log", voters, offset_t(4))) {
        std::fprintf(stderr, "fuzz-controller-seeds: cannot write %s\n", dir.c_str());
        return false;
    }
    return true;
}

// Each batch a controller writes over a small cluster's life, applied as it goes, and at the end
// the snapshot of the image.
bool write_metadata_seeds(const std::filesystem::path& dir) {
    using namespace sluice::controller;
    std::filesystem::create_directories(dir);
    metadata_image im;
    uint64_t next_id = 1;
    auto new_id = [&] { return uuid{next_id++, 0x5eed}; };
    int n = 0;
    auto step = [&](const std::string& name, const std::vector<metadata_record>& batch) {
        auto r = apply_batch(im, im.end_offset(), batch);
        if (batch.empty() || !r.problem.empty()) {
            std::fprintf(stderr, "fuzz-controller-seeds: %s: %s\n", name.c_str(),
                         r.problem.c_str());
            return false;
        }
        im = r.image;
        const auto bytes = encode_batch(batch);
        std::ofstream out(dir / fmt::format("{:02}-{}", n++, name),
                          std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), std::streamsize(bytes.size()));
        return bool(out);
    };
    for (int32_t id = 1; id <= 3; ++id) {
        if (!step(fmt::format("register-{}", id),
                  plan_register(im, node_id_t{id}, new_id(),
                                {{"PLAINTEXT", "127.0.0.1", 9190 + 2 * id},
                                 {"CONTROLLER", "127.0.0.1", 9191 + 2 * id}},
                                id == 2 ? "rack-b" : "", true)) ||
            !step(fmt::format("unfence-{}", id), plan_unfence(im, node_id_t{id}))) {
            return false;
        }
    }
    topic_defaults defaults;
    const std::vector<broker::create_topic_request> topics{
        {"orders", 6, 3, {{"retention.ms", "86400000"}, {"cleanup.policy", "delete"}}, {}},
        {"clicks", 3, 1, {}, {}}};
    for (const auto& plan : plan_create_topics(im, topics, defaults, false, new_id)) {
        if (!step("create-" + plan.result.name, plan.records)) {
            return false;
        }
    }
    const std::vector<std::pair<std::string, std::vector<metadata_record>>> later{
        {"add-partitions", plan_add_partitions(im, "clicks", 5, defaults, false).records}};
    if (!step(later[0].first, later[0].second)) {
        return false;
    }
    if (!step("fence-2", plan_fence(im, node_id_t{2})) ||
        !step("unfence-2", plan_unfence(im, node_id_t{2})) ||
        !step("move-leaders-from-3", plan_move_leaders_away(im, node_id_t{3}))) {
        return false;
    }
    const auto again =
        plan_register(im, node_id_t{3}, new_id(), {{"PLAINTEXT", "127.0.0.1", 9196}}, "", true);
    if (!step("reregister-3", again)) {
        return false;
    }
    const std::map<std::string, std::optional<std::string>> unset{{"retention.ms", std::nullopt}};
    const auto alter = plan_alter_configs(im, "orders", unset, defaults, false);
    const std::vector<metadata_record> ids{records::producer_ids{node_id_t{1}, 0, 1000}};
    if (!step("alter-config", alter.records) || !step("producer-ids", ids)) {
        return false;
    }
    const std::vector<std::string> doomed{"clicks"};
    const auto deleted = plan_delete_topics(im, doomed);
    if (!step("delete-clicks", deleted[0].records)) {
        return false;
    }
    const auto bytes = encode_batch(im.to_records());
    std::ofstream out(dir / "snapshot", std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    return bool(out);
}

// One frame of each request a broker sends the active controller, and of each answer.
bool write_rpc_seeds(const std::filesystem::path& dir) {
    using namespace sluice::controller;
    std::filesystem::create_directories(dir);
    const std::vector<std::pair<std::string, std::vector<std::byte>>> seeds{
        {"register", encode_rpc_request({"cluster-7f3a", 1, node_id_t{4},
                                         broker_registration{node_id_t{4},
                                                             uuid{0x1234, 0x5678},
                                                             {{"PLAINTEXT", "127.0.0.1", 9198}},
                                                             "rack-a"}})},
        {"heartbeat",
         encode_rpc_request({"cluster-7f3a", 2, node_id_t{4},
                             broker_heartbeat{node_id_t{4}, 17, offset_t{42}, false}})},
        {"create-topics",
         encode_rpc_request({"cluster-7f3a", 3, node_id_t{4},
                             create_call{{{"orders", 6, 1, {{"retention.ms", "86400000"}}, {}},
                                          {"clicks", -1, -1, {}, {}}},
                                         false}})},
        {"delete-topics",
         encode_rpc_request({"cluster-7f3a", 4, node_id_t{4}, delete_call{{"orders", "clicks"}}})},
        {"create-partitions",
         encode_rpc_request({"cluster-7f3a", 5, node_id_t{4}, grow_call{{{"orders", 12}}, false}})},
        {"alter-configs",
         encode_rpc_request(
             {"cluster-7f3a", 6, node_id_t{4},
              alter_call{{{"orders",
                           {{"retention.ms", "3600000"}, {"segment.bytes", std::nullopt}},
                           "retention.ms"}},
                         false}})},
        {"describe-quorum", encode_rpc_request({"cluster-7f3a", 7, node_id_t{4}, quorum_call{}})},
        {"elect-leaders",
         encode_rpc_request({"cluster-7f3a", 9, node_id_t{4}, elect_call{{"t", "orders"}}})},
        {"elect-leaders-answer",
         encode_rpc_response(
             {"cluster-7f3a", 9,
              std::vector<broker::election_result>{
                  {"orders", -1, errc::unknown_topic_or_partition, "no topic orders"},
                  {"t", 0, errc::none, ""},
                  {"t", 1, errc::preferred_leader_not_available,
                   "the preferred replica, broker 3, is fenced"}},
              offset_t{46}})},
        // An ISR change of topic "t" (the fuzz target's image has it, with id {1, 7}).
        {"alter-partition",
         encode_rpc_request(
             {"cluster-7f3a", 8, node_id_t{1},
              alter_partition_request{
                  17,
                  isr_change{node_id_t{1}, uuid{1, 7}, 0, leader_epoch_t{0}, 0, {node_id_t{1}}}}})},
        {"alter-partition-answer",
         encode_rpc_response({"cluster-7f3a", 8,
                              alter_partition_result{errc::invalid_update_version,
                                                     "t-0 is at partition epoch 3, not 2",
                                                     leader_epoch_t{4},
                                                     3,
                                                     {node_id_t{1}}},
                              offset_t{45}})},
        {"producer-ids", encode_rpc_request({"cluster-7f3a", 10, node_id_t{4},
                                             producer_ids_request{node_id_t{4}, 17}})},
        {"producer-ids-answer",
         encode_rpc_response(
             {"cluster-7f3a", 10, producer_ids_result{errc::none, "", 3000, 1000}, offset_t{47}})},
        {"quorum-answer",
         encode_rpc_response({"cluster-7f3a", 7,
                              broker::quorum_status{errc::none,
                                                    "",
                                                    node_id_t{2},
                                                    5,
                                                    offset_t{120},
                                                    offset_t{121},
                                                    {{node_id_t{1}, offset_t{121}, 1000, 1000},
                                                     {node_id_t{2}, offset_t{121}, 1001, 1001}},
                                                    {{node_id_t{4}, offset_t{-1}, -1, -1}}},
                              offset_t{-1}})},
        {"registered",
         encode_rpc_response(
             {"cluster-7f3a", 1, registration_result{errc::none, "", 17}, offset_t{18}})},
        {"heartbeat-answer",
         encode_rpc_response(
             {"cluster-7f3a", 2, heartbeat_result{errc::none, "", false, false}, offset_t{43}})},
        {"topics-answer", encode_rpc_response({"cluster-7f3a", 3,
                                               std::vector<broker::topic_result>{
                                                   {"orders", errc::none, ""},
                                                   {"clicks", errc::topic_already_exists,
                                                    "topic 'clicks' already exists"}},
                                               offset_t{44}})},
    };
    for (const auto& [name, frame] : seeds) {
        std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(frame.data()), std::streamsize(frame.size()));
        if (!out) {
            return false;
        }
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 6) {
        std::fprintf(stderr,
                     "usage: fuzz-controller-seeds RAFT_CODEC_DIR QUORUM_STATE_DIR "
                     "RAFT_STORAGE_DIR METADATA_BATCH_DIR CONTROLLER_RPC_DIR\n");
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    const std::filesystem::path quorum_dir = argv[2];
    const std::filesystem::path storage_dir = argv[3];
    std::filesystem::create_directories(dir);
    const node_id_t n1(1), n2(2), n3(3);
    const std::vector<node_id_t> voters{n1, n2, n3};
    const std::vector<std::pair<std::string, message>> seeds{
        {"pre-vote-request",
         {n1, n2, pre_vote_request{term_t(2), offset_t(10), term_t(1), {5, 6}, {3, 4}}}},
        {"pre-vote-response", {n2, n1, pre_vote_response{term_t(2), true, no_node, {5, 6}}}},
        {"vote-request",
         {n1, n3, vote_request{term_t(2), offset_t(10), term_t(1), {7, 8}, {3, 4}}}},
        {"vote-response", {n3, n1, vote_response{term_t(2), true, no_node, {7, 8}}}},
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
    {  // save_quorum_bootstrap writes `quorum-bootstrap`, like save_quorum_state
        const auto tmp = quorum_dir / "bootstrap.d";
        std::filesystem::create_directories(tmp);
        const controller::quorum_bootstrap b{
            n1, {11, 12}, {{n1, {11, 12}}, {n2, {21, 22}}, {n3, {31, 32}}}};
        if (!controller::save_quorum_bootstrap(storage::posix_file_system(), tmp, b)) {
            std::fprintf(stderr, "fuzz-controller-seeds: cannot write %s\n", tmp.c_str());
            return 1;
        }
        std::filesystem::rename(tmp / controller::quorum_bootstrap_file,
                                quorum_dir / "bootstrap-three-voters");
        std::filesystem::remove_all(tmp);
        std::ofstream text(quorum_dir / "directory-id", std::ios::trunc);
        text << controller::directory_text({0x0123456789abcdefull, 0xfedcba9876543210ull});
    }
    if (!write_storage_seeds(storage_dir, voters) || !write_metadata_seeds(argv[4]) ||
        !write_rpc_seeds(argv[5])) {
        return 1;
    }
    return 0;
}
