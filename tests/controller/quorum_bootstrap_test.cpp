// The quorum-bootstrap file and directory ids: what was saved loads back; no file is a directory
// never formatted; a damaged file or another node's stops the node with a reason; directory ids
// print as Kafka's 22-character ids and parse back, and anything else is refused.
#include <doctest/doctest.h>

#include <fstream>
#include <set>

#include "../support/temp_dir.h"
#include "sluice/controller/quorum_bootstrap.h"
#include "sluice/controller/quorum_state.h"

using namespace sluice;
using namespace sluice::controller;

namespace {

storage::file_system& fs() {
    return storage::posix_file_system();
}

quorum_bootstrap three_voters() {
    return {node_id_t(2),
            raft::directory_id{2, 20},
            {{node_id_t(1), {1, 10}}, {node_id_t(2), {2, 20}}, {node_id_t(3), {3, 30}}}};
}

}  // namespace

TEST_CASE("a saved quorum-bootstrap loads back; no file means not formatted") {
    testing::temp_dir dir;
    auto none = load_quorum_bootstrap(fs(), dir.path(), node_id_t(2));
    REQUIRE(none);
    CHECK_FALSE(none.value().bootstrap);
    CHECK(none.value().problem.empty());

    REQUIRE(save_quorum_bootstrap(fs(), dir.path(), three_voters()));
    // Formatting writes a quorum-state first: a formatted directory without one lost its votes.
    auto lost = load_quorum_bootstrap(fs(), dir.path(), node_id_t(2));
    REQUIRE(lost);
    CHECK_FALSE(lost.value().bootstrap);
    CHECK(lost.value().problem.find("is formatted but its quorum-state is gone") !=
          std::string::npos);
    REQUIRE(save_quorum_state(fs(), dir.path(), node_id_t(2), raft::hard_state{}));
    auto loaded = load_quorum_bootstrap(fs(), dir.path(), node_id_t(2));
    REQUIRE(loaded);
    REQUIRE(loaded.value().bootstrap);
    CHECK(loaded.value().bootstrap->directory == raft::directory_id{2, 20});
    CHECK(loaded.value().bootstrap->voters == three_voters().voters);

    auto other = load_quorum_bootstrap(fs(), dir.path(), node_id_t(3));
    REQUIRE(other);
    CHECK_FALSE(other.value().bootstrap);
    CHECK(other.value().problem.find("belongs to node.id=2, not node.id=3") != std::string::npos);
}

TEST_CASE("a damaged quorum-bootstrap stops the node, never reads as not formatted") {
    testing::temp_dir dir;
    REQUIRE(save_quorum_bootstrap(fs(), dir.path(), three_voters()));
    const auto path = dir.path() / quorum_bootstrap_file;
    {
        std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(20);
        const char was = char(f.get());
        f.seekp(20);
        f.put(char(was ^ 0x5a));
    }
    auto loaded = load_quorum_bootstrap(fs(), dir.path(), node_id_t(2));
    REQUIRE(loaded);
    CHECK_FALSE(loaded.value().bootstrap);
    CHECK(loaded.value().problem.find("is damaged") != std::string::npos);

    // Well formed, but without this node's directory id: as damaged.
    auto bad = three_voters();
    bad.directory = {};
    REQUIRE(save_quorum_bootstrap(fs(), dir.path(), bad));
    CHECK(
        load_quorum_bootstrap(fs(), dir.path(), node_id_t(2)).value().problem.find("is damaged") !=
        std::string::npos);
}

TEST_CASE("directory ids: 22 characters of URL-safe base64, parsed back exactly") {
    const raft::directory_id d{0x0123456789abcdefull, 0xfedcba9876543210ull};
    const auto text = directory_text(d);
    CHECK(text == "ASNFZ4mrze_-3LqYdlQyEA");  // the bytes 01 23 ... 32 10 in base64url
    CHECK(parse_directory(text) == d);
    CHECK_FALSE(parse_directory("ASNFZ4mrze_-3LqYdlQyEB"));  // padding bits set
    CHECK_FALSE(parse_directory("ASNFZ4mrze_-3LqYdlQyE"));   // 21 characters
    CHECK_FALSE(parse_directory("ASNFZ4mrze+/3LqYdlQyEA"));  // not URL-safe
    CHECK_FALSE(parse_directory("AAAAAAAAAAAAAAAAAAAAAA"));  // zero: unknown
    CHECK_FALSE(parse_directory("AAAAAAAAAAAAAAAAAAAAYw"));  // 99: reserved, as in Kafka
    CHECK(parse_directory("AAAAAAAAAAAAAAAAAAAAZA") == raft::directory_id{0, 100});
    std::set<std::string> seen;
    for (int i = 0; i < 100; ++i) {
        const auto r = random_directory();
        CHECK(r.known());
        CHECK(directory_text(r).front() != '-');
        CHECK(parse_directory(directory_text(r)) == r);
        seen.insert(directory_text(r));
    }
    CHECK(seen.size() == 100);
}
