// sluice-broker format: a controller's log.dirs gets its directory id and the voters' from
// --initial-controllers, which must match controller.quorum.voters; a directory is formatted
// once; a running broker's directory is never touched; the command line takes its flags.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "sluice/broker/command_line.h"
#include "sluice/broker/format.h"
#include "sluice/controller/quorum_bootstrap.h"
#include "temp_dir.h"

using namespace sluice;
using namespace sluice::broker;

namespace {

const std::string d1 = "ASNFZ4mrze_-3LqYdlQyEA";
const std::string d2 = "AAAAAAAAAAAAAAAAAAAB9A";  // 500: the first 100 are reserved
const std::string d3 = "AAAAAAAAAAAAAAAAAAAB9Q";

broker_config controller_config(const std::filesystem::path& dir, const std::string& roles) {
    auto c = make_config(
        {{"node.id", roles == "broker" ? "4" : "1"},
         {"process.roles", roles},
         {"cluster.id", "c1"},
         {"log.dirs", dir.string()},
         {"listeners", roles == "broker" ? "PLAINTEXT://127.0.0.1:9192"
                                         : "PLAINTEXT://127.0.0.1:9192,CONTROLLER://h1:9193"},
         {"controller.quorum.voters", "1@h1:9193,2@h2:9193,3@h3:9193"}});
    REQUIRE_MESSAGE(c, c.error().to_string());
    return c.value();
}

format_outcome format(const broker_config& c, std::string initial, bool ignore = false,
                      bool new_directory = false) {
    return format_storage(c, {std::move(initial), new_directory, ignore},
                          storage::posix_file_system());
}

}  // namespace

TEST_CASE("format writes the directory ids once; the broker then finds them") {
    testing::temp_dir dir("sluice-format");
    const auto c = controller_config(dir.path() / "data", "broker,controller");
    const std::string initial = "1@h1:9193:" + d1 + ",3@h3:9193:" + d3 + ",2@h2:9193:" + d2;
    const auto done = format(c, initial);
    REQUIRE_MESSAGE(done.ok, done.message);
    CHECK(done.message.find("directory id " + d1) != std::string::npos);
    auto loaded = controller::load_quorum_bootstrap(
        storage::posix_file_system(), dir.path() / "data" / "__cluster_metadata-0", node_id_t(1));
    REQUIRE(loaded);
    REQUIRE(loaded.value().bootstrap);
    CHECK(loaded.value().bootstrap->directory == controller::parse_directory(d1));
    REQUIRE(loaded.value().bootstrap->voters.size() == 3);
    CHECK(loaded.value().bootstrap->voters[2].second == controller::parse_directory(d3));

    // It voted for no one yet, on disk.
    CHECK(std::filesystem::exists(dir.path() / "data" / "__cluster_metadata-0" / "quorum-state"));

    const auto again = format(c, initial);
    CHECK_FALSE(again.ok);
    CHECK(again.message.find("is formatted already") != std::string::npos);
    CHECK(format(c, initial, true).ok);  // --ignore-formatted, for the same voters
    const auto other = format(c, "1@h1:9193:" + d1 + ",2@h2:9193:" + d3 + ",3@h3:9193:" + d2, true);
    CHECK_FALSE(other.ok);
    CHECK(other.message.find("for other voters or directory ids") != std::string::npos);

    // The quorum-state gone, with its votes: not "formatted already", and no start either.
    std::filesystem::remove(dir.path() / "data" / "__cluster_metadata-0" / "quorum-state");
    const auto lost = format(c, initial, true);
    CHECK_FALSE(lost.ok);
    CHECK(lost.message.find("is formatted but its quorum-state is gone") != std::string::npos);
}

TEST_CASE("format --new-directory: the quorum's list, and a new directory id of its own") {
    testing::temp_dir dir("sluice-format");
    const auto c = controller_config(dir.path() / "data", "broker,controller");
    const std::string initial = "1@h1:9193:" + d1 + ",2@h2:9193:" + d2 + ",3@h3:9193:" + d3;
    // An interrupted format leaves a temporary file and a quorum-state that voted for no one:
    // a format goes on from there.
    std::filesystem::create_directories(dir.path() / "data" / "__cluster_metadata-0");
    std::ofstream(dir.path() / "data" / "__cluster_metadata-0" / "quorum-bootstrap.tmp") << "x";
    const auto done = format(c, initial, false, true);
    REQUIRE_MESSAGE(done.ok, done.message);
    CHECK(done.message.find("never votes as the voter it was") != std::string::npos);
    auto loaded = controller::load_quorum_bootstrap(
        storage::posix_file_system(), dir.path() / "data" / "__cluster_metadata-0", node_id_t(1));
    REQUIRE(loaded.value().bootstrap);
    const auto& b = *loaded.value().bootstrap;
    CHECK(b.voters[0].second == controller::parse_directory(d1));  // the quorum's, as it was
    CHECK(b.directory.known());
    CHECK_FALSE(b.directory == b.voters[0].second);  // its own is new

    // A damaged file is reported as damaged, never as formatted.
    std::ofstream(dir.path() / "data" / "__cluster_metadata-0" / "quorum-bootstrap",
                  std::ios::trunc)
        << "garbage";
    const auto damaged = format(c, initial, true);
    CHECK_FALSE(damaged.ok);
    CHECK(damaged.message.find("is damaged") != std::string::npos);
}

TEST_CASE("format refuses what does not fit controller.quorum.voters, with the reason") {
    testing::temp_dir dir("sluice-format");
    const auto c = controller_config(dir.path() / "data", "broker,controller");
    auto why = [&](const std::string& initial) { return format(c, initial).message; };
    CHECK(why("").find("a controller is formatted with --initial-controllers") !=
          std::string::npos);
    CHECK(why("1@h1:9193:" + d1 + ",2@h2:9193:" + d2).find("must name exactly") !=
          std::string::npos);
    CHECK(why("1@h1:9193:" + d1 + ",2@h2:9194:" + d2 + ",3@h3:9193:" + d3)
              .find("must name exactly") != std::string::npos);
    CHECK(why("1@h1:9193:" + d1 + ",2@h2:9193:" + d1 + ",3@h3:9193:" + d3)
              .find("nodes 1 and 2 have the same directory id") != std::string::npos);
    CHECK(why("1@h1:9193:nope,2@h2:9193:" + d2 + ",3@h3:9193:" + d3)
              .find("'1@h1:9193:nope': expected id@host:port:directory-id") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir.path() / "data" / "__cluster_metadata-0"));

    // A broker only needs no directory ids; a lone node formats itself.
    const auto b = controller_config(dir.path() / "broker", "broker");
    CHECK(format(b, "1@h1:9193:" + d1).message.find("is for controllers") != std::string::npos);
    CHECK(format(b, "").ok);
    auto lone = make_config({{"log.dirs", (dir.path() / "lone").string()}});
    REQUIRE(lone);
    CHECK(format(lone.value(), "").message.find("nothing to format") != std::string::npos);
}

TEST_CASE("format never touches the directory of a running broker") {
    testing::temp_dir dir("sluice-format");
    const auto c = controller_config(dir.path() / "data", "broker,controller");
    std::filesystem::create_directories(dir.path() / "data");
    const int held = ::open((dir.path() / "data" / ".lock").c_str(), O_RDWR | O_CREAT, 0644);
    REQUIRE(held >= 0);
    REQUIRE(::flock(held, LOCK_EX | LOCK_NB) == 0);
    const auto done = format(c, "1@h1:9193:" + d1 + ",2@h2:9193:" + d2 + ",3@h3:9193:" + d3);
    ::close(held);
    CHECK_FALSE(done.ok);
    CHECK(done.message.find("in use by a running broker") != std::string::npos);
}

TEST_CASE("the format and random-uuid command lines") {
    auto parse = [](std::vector<std::string_view> args) { return parse_command_line(args); };
    auto cl = parse({"format", "--config", "a.properties", "--initial-controllers=1@h:1:x",
                     "--ignore-formatted"});
    REQUIRE(cl);
    CHECK(cl.value().what == command_line::action::format);
    CHECK(cl.value().initial_controllers == "1@h:1:x");
    CHECK(cl.value().ignore_formatted);
    CHECK(cl.value().config_file == "a.properties");
    CHECK(parse({"format", "--new-directory"}).value().new_directory);
    CHECK(parse({"random-uuid"}).value().what == command_line::action::random_uuid);
    CHECK_FALSE(parse({"random-uuid", "x"}));
    CHECK_FALSE(parse({"format", "--initial-controllers"}));
    // Outside format, its flags are unknown.
    CHECK_FALSE(parse({"--ignore-formatted"}));
}
