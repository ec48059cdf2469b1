// The quorum-state file: what was saved loads back; a missing file is a node that never voted; a
// damaged file or another node's stops the node with a reason, never reads as missing.
#include <doctest/doctest.h>

#include <fstream>

#include "../support/temp_dir.h"
#include "sluice/controller/quorum_state.h"
#include "sluice/storage/checkpoint.h"

using namespace sluice;
using namespace sluice::controller;

namespace {

storage::file_system& fs() {
    return storage::posix_file_system();
}

quorum_state_load load(const std::filesystem::path& dir, int32_t self = 1) {
    auto r = load_quorum_state(fs(), dir, node_id_t(self));
    REQUIRE(r);
    return r.value();
}

std::vector<char> read_all(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

void write_all(const std::filesystem::path& p, const std::vector<char>& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
}

}  // namespace

TEST_CASE("what was saved loads back; no file is a node that never voted") {
    testing::temp_dir dir;
    const auto fresh = load(dir.path());
    CHECK_FALSE(fresh.state);
    CHECK(fresh.problem.empty());

    const raft::hard_state first{term_t(3), node_id_t(2), offset_t(17)};
    REQUIRE(save_quorum_state(fs(), dir.path(), node_id_t(1), first));
    CHECK(load(dir.path()).state == first);

    const raft::hard_state next{term_t(4), raft::no_node, offset_t(20)};
    REQUIRE(save_quorum_state(fs(), dir.path(), node_id_t(1), next));
    const auto loaded = load(dir.path());
    CHECK(loaded.state == next);
    CHECK(loaded.problem.empty());

    // A temporary file left by a crash in the middle of a save is not the state.
    write_all(dir.path() / "quorum-state.tmp", {'x', 'y'});
    CHECK(load(dir.path()).state == next);
}

TEST_CASE("a damaged file stops the node instead of reading as missing") {
    testing::temp_dir dir;
    REQUIRE(
        save_quorum_state(fs(), dir.path(), node_id_t(1), {term_t(3), node_id_t(2), offset_t(17)}));
    const auto path = dir.path() / quorum_state_file;
    const auto good = read_all(path);
    for (size_t at : {size_t(0), size_t(13), good.size() / 2, good.size() - 1}) {
        CAPTURE(at);
        auto bad = good;
        bad[at] = char(bad[at] ^ 0x20);
        write_all(path, bad);
        const auto l = load(dir.path());
        CHECK_FALSE(l.state);
        CHECK(l.problem.find("is damaged (bad magic, length or CRC)") != std::string::npos);
    }
    write_all(path, std::vector<char>(good.begin(), good.begin() + long(good.size()) - 3));
    CHECK(load(dir.path()).problem.find("is damaged") != std::string::npos);
    write_all(path, {});
    CHECK(load(dir.path()).problem.find("is damaged") != std::string::npos);

    // A sound checkpoint whose payload is not a QuorumState.
    const std::vector<std::byte> junk(12, std::byte{0xff});
    REQUIRE(storage::write_checkpoint(fs(), path, junk));
    CHECK(load(dir.path()).problem.find("is damaged (not a QuorumState)") != std::string::npos);

    // Values no node writes.
    REQUIRE(
        save_quorum_state(fs(), dir.path(), node_id_t(1), {term_t(-1), node_id_t(2), offset_t(0)}));
    CHECK(load(dir.path()).problem.find("is damaged (term -1, vote 2, commit 0)") !=
          std::string::npos);
}

TEST_CASE("another node's file stops the node") {
    testing::temp_dir dir;
    REQUIRE(
        save_quorum_state(fs(), dir.path(), node_id_t(1), {term_t(3), node_id_t(1), offset_t(0)}));
    const auto l = load(dir.path(), 2);
    CHECK_FALSE(l.state);
    CHECK(l.problem.find("belongs to node.id=1, not node.id=2") != std::string::npos);
}
