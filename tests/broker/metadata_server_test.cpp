// The broker on its metadata log (docs/controller.md, "Brokers"): topics live in the metadata log
// and survive restarts and deletions as it says; a data directory from before the metadata log
// keeps its topics and data; partition directories that no topic places here are removed, and a
// directory left by a deleted topic is never taken for a new topic of the same name; a damaged
// metadata log stops the start with a reason.
#include <doctest/doctest.h>

#include <fstream>

#include "metadata_store.h"
#include "server_helpers.h"
#include "sluice/core/partition_identity.h"

using namespace sluice;
using namespace sluice::testing;

namespace {

namespace fs = std::filesystem;

const fs::path metadata_dir = "__cluster_metadata-0";

storage::file_system& disk() {
    return storage::posix_file_system();
}

}  // namespace

TEST_CASE("deletions and re-creations are kept by the metadata log across restarts") {
    temp_dir dir("sluice-metadata-broker");
    auto path = dir.path();
    {
        broker_fixture b({}, &path);
        wire_client c(b.port());
        REQUIRE(create(c, "gone", 1) == errc::none);
        REQUIRE(create(c, "again", 1) == errc::none);
        REQUIRE(produce(c, "again", 0, batch(1, 5)).error == errc::none);
        auto del = c.call(delete_topics_request(c.next_correlation(), {"gone", "again"}));
        REQUIRE(del.envelope->body_as_DeleteTopicsResponse()->results()->Get(1)->error_code() == 0);
        REQUIRE(create(c, "again", 2) == errc::none);
        CHECK(fs::exists(path / metadata_dir));
        CHECK_FALSE(fs::exists(path / "gone-0"));
    }
    broker_fixture b({}, &path);
    wire_client c(b.port());
    CHECK(produce(c, "gone", 0, batch(2, 1)).error == errc::unknown_topic_or_partition);
    // The new "again" has two partitions and none of the old one's records.
    CHECK(fetch(c, "again", 0, 0).high_watermark == 0);
    CHECK(produce(c, "again", 1, batch(3, 1)).base_offset == 0);
    auto id = broker::read_partition_topic_id(disk(), path / "again-0");
    REQUIRE(id);
    CHECK(id.value().has_value());
    CHECK(id.value()->size() == 32);
}

TEST_CASE("a data directory from before the metadata log keeps its topics and data") {
    temp_dir dir("sluice-metadata-legacy");
    auto path = dir.path();
    {
        broker_fixture b({}, &path);
        wire_client c(b.port());
        REQUIRE(create(c, "old", 2, -1, {{"retention.ms", "-1"}}) == errc::none);
        REQUIRE(produce(c, "old", 1, batch(1, 3)).error == errc::none);
    }
    // Make it look as the broker left it before topics lived in the metadata log: a topic
    // record per topic, no metadata log, no topic ids in the partitions.
    fs::remove_all(path / metadata_dir);
    fs::remove(path / "old-0" / broker::partition_identity_file);
    fs::remove(path / "old-1" / broker::partition_identity_file);
    broker::topic_record rec{"old", 2, 1, {{"retention.ms", "-1"}}, broker::new_topic_id()};
    REQUIRE(broker::write_topic_record(disk(), path, rec));
    CHECK(fs::exists(path / "old-0" / broker::topic_record_file));

    for (int round = 0; round < 2; ++round) {
        CAPTURE(round);
        broker_fixture b({}, &path);
        wire_client c(b.port());
        CHECK(create(c, "old", 1) == errc::topic_already_exists);
        CHECK(fetch(c, "old", 1, 0).high_watermark == 3 + round);
        CHECK(produce(c, "old", 1, batch(2, 1)).base_offset == 3 + round);
        // Adopted: the old record is gone, the metadata log holds the topic from now on.
        CHECK_FALSE(fs::exists(path / "old-0" / broker::topic_record_file));
        CHECK(fs::exists(path / metadata_dir));
    }
}

TEST_CASE("partition directories that no topic places here are removed at start") {
    temp_dir dir("sluice-metadata-strays");
    auto path = dir.path();
    {
        broker_fixture b({}, &path);
        wire_client c(b.port());
        REQUIRE(create(c, "live", 1) == errc::none);
        REQUIRE(create(c, "renewed", 1) == errc::none);
        REQUIRE(produce(c, "live", 0, batch(1, 2)).error == errc::none);
        REQUIRE(produce(c, "renewed", 0, batch(2, 2)).error == errc::none);
    }
    // A partition of a topic this broker never heard of (a deletion it missed) ...
    fs::copy(path / "live-0", path / "ghost-3", fs::copy_options::recursive);
    // ... and one that holds another topic's id: the topic was deleted and created again while
    // this broker was away, so the directory holds the old topic's records.
    REQUIRE(broker::write_partition_topic_id(disk(), path / "renewed-0",
                                             "0123456789abcdef0123456789abcdef"));
    broker_fixture b({}, &path);
    wire_client c(b.port());
    CHECK_FALSE(fs::exists(path / "ghost-3"));
    CHECK(fetch(c, "live", 0, 0).high_watermark == 2);
    CHECK(fetch(c, "renewed", 0, 0).high_watermark == 0);
    CHECK(fs::exists(path / metadata_dir));  // not taken for a partition
}

TEST_CASE("a single broker that lost its metadata directory adopts its partitions again") {
    temp_dir dir("sluice-metadata-lost");
    auto path = dir.path();
    {
        broker_fixture b({}, &path);
        wire_client c(b.port());
        REQUIRE(create(c, "kept", 2) == errc::none);
        REQUIRE(produce(c, "kept", 1, batch(1, 4)).error == errc::none);
        REQUIRE(create(c, "half", 2) == errc::none);
    }
    fs::remove_all(path / metadata_dir);
    fs::remove_all(path / "half-0");  // not a whole topic any more: kept, not adopted
    broker_fixture b({}, &path);
    wire_client c(b.port());
    CHECK(fetch(c, "kept", 1, 0).high_watermark == 4);
    CHECK(produce(c, "kept", 0, batch(2, 1)).base_offset == 0);
    CHECK(produce(c, "half", 1, batch(3, 1)).error == errc::unknown_topic_or_partition);
    CHECK(fs::exists(path / "half-1"));
}

TEST_CASE("a damaged metadata log stops the start with a reason") {
    temp_dir dir("sluice-metadata-damaged");
    auto path = dir.path();
    { broker_fixture b({}, &path); }
    {
        std::ofstream out(path / metadata_dir / "quorum-state", std::ios::trunc);
        out << "not a quorum state";
    }
    auto cfg = broker::make_config(
        {{"listeners", "PLAINTEXT://127.0.0.1:0"}, {"log.dirs", path.string()}});
    REQUIRE(cfg.has_value());
    broker::server s(cfg.value());
    CHECK_FALSE(s.start().has_value());
}
