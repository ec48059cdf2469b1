// The broker's configuration: properties parsing, every kind of bad value, precedence, the
// command line, and agreement between the key table, --help and docs/broker.md.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "sluice/broker/command_line.h"
#include "sluice/broker/config.h"
#include "sluice/broker/topic_config.h"
#include "temp_dir.h"

using namespace sluice;
using namespace sluice::broker;

namespace {

broker_config must(const properties& p) {
    auto c = make_config(p);
    REQUIRE_MESSAGE(c.has_value(), (c ? "" : c.error().to_string()));
    return c.value();
}

std::string error_of(const properties& p) {
    auto c = make_config(p);
    REQUIRE_FALSE(c.has_value());
    return c.error().to_string();
}

// Every field, so that two configs can be compared.
std::string describe(const broker_config& c) {
    std::ostringstream o;
    o << c.node_id.value() << '|' << c.listen.to_string() << '|'
      << (c.advertised ? c.advertised->to_string() : "-") << '|' << c.log_dir << '|'
      << c.num_partitions << '|' << c.default_replication_factor << '|' << c.log.segment_bytes
      << '|' << c.log.segment_ms << '|' << c.log.index_interval_bytes << '|'
      << c.log.retention_bytes << '|' << c.log.retention_ms << '|' << int(c.log.flush) << '|'
      << c.log.preallocate << '|' << c.log_retention_check_interval_ms << '|'
      << (c.log_flush_interval_ms ? *c.log_flush_interval_ms : -7) << '|'
      << c.auto_create_topics_enable << '|' << c.message_max_bytes << '|'
      << c.socket_request_max_bytes << '|' << c.fetch_max_bytes << '|' << c.max_connections << '|'
      << c.connections_max_idle_ms << '|' << c.queued_max_requests_per_connection << '|'
      << c.queued_max_request_bytes_per_connection << '|' << c.queued_max_request_bytes << '|'
      << c.num_io_threads << '|' << c.background_threads << '|' << c.log_open_files_max << '|'
      << (c.fetch_sendfile ? int(*c.fetch_sendfile) : -1) << '|' << int(c.level) << '|'
      << c.log_cleanup_compact << c.log_cleanup_delete << '|' << c.log_cleaner_delete_retention_ms
      << '|' << c.log_cleaner_min_cleanable_ratio << '|' << c.log_cleaner_enable << '|'
      << c.log_cleaner_dedupe_buffer_size << '|' << c.log_cleaner_io_max_bytes_per_second << '|'
      << c.log_cleaner_backoff_ms;
    return o.str();
}

}  // namespace

TEST_CASE("no configuration at all gives a usable single broker") {
    auto c = must({});
    CHECK(c.node_id == node_id_t{0});
    CHECK(c.listen.to_string() == "PLAINTEXT://127.0.0.1:9192");
    CHECK_FALSE(c.advertised.has_value());
    CHECK(c.log_dir == "/tmp/sluice-logs");
    CHECK(c.num_partitions == 1);
    CHECK(c.default_replication_factor == 1);
    CHECK(c.log.segment_bytes == 1073741824u);
    CHECK(c.log.segment_ms == 168ll * 3600 * 1000);
    CHECK(c.log.retention_ms == 168ll * 3600 * 1000);
    CHECK(c.log.retention_bytes == -1);
    CHECK(c.log.index_interval_bytes == 4096u);
    CHECK(c.log.flush == storage::flush_mode::page_cache);
    CHECK(c.log.preallocate);
    CHECK(c.log_retention_check_interval_ms == 300000);
    CHECK_FALSE(c.log_flush_interval_ms.has_value());
    CHECK(c.auto_create_topics_enable);
    CHECK(c.message_max_bytes == 1048588);
    CHECK(c.socket_request_max_bytes == 104857600);
    CHECK(c.max_connections == 1000);
    CHECK(c.connections_max_idle_ms == 600000);
    CHECK(c.queued_max_requests_per_connection == 100);
    CHECK(c.num_io_threads >= 1);
    CHECK(c.level == log_level::info);
}

TEST_CASE("every default in the key table is the value the broker uses") {
    const std::string base = describe(must({}));
    for (const auto& k : config_keys()) {
        CAPTURE(k.name);
        if (k.default_text.empty() || k.name == "num.io.threads") {
            continue;  // unset by default, or computed (the number of cores)
        }
        CHECK(describe(must({{std::string(k.name), std::string(k.default_text)}})) == base);
    }
}

TEST_CASE("properties: comments, blank lines, whitespace, later duplicates win") {
    auto p = parse_properties(
        "# a comment\n"
        "! another comment\n"
        "\n"
        "   node.id = 7   \n"
        "log.dirs=/var/sluice\r\n"
        "\tnum.partitions=3\n"
        "num.partitions = 4\n"
        "advertised.listeners=PLAINTEXT://broker.example:9000",
        "test.properties");
    REQUIRE(p.has_value());
    CHECK(p.value().size() == 4);
    auto c = must(p.value());
    CHECK(c.node_id == node_id_t{7});
    CHECK(c.log_dir == "/var/sluice");
    CHECK(c.num_partitions == 4);
    REQUIRE(c.advertised.has_value());
    CHECK(c.advertised->host == "broker.example");
    CHECK(c.advertised->port == 9000);
}

TEST_CASE("properties: a line without '=' names the file and line") {
    auto p = parse_properties("node.id=1\n\njust-a-word\n", "server.properties");
    REQUIRE_FALSE(p.has_value());
    CHECK(p.error().to_string() == "server.properties:3: expected key=value");
    auto q = parse_properties("=5\n", "x");
    REQUIRE_FALSE(q.has_value());
    CHECK(q.error().to_string() == "x:1: empty key");
}

TEST_CASE("bad values name the key, the value and the reason") {
    CHECK(error_of({{"log.segment.bytes", "12"}}) == "log.segment.bytes=12: must be at least 4096");
    CHECK(error_of({{"log.segment.bytes", "4294967296"}}) ==
          "log.segment.bytes=4294967296: must be at most 2147483647");
    CHECK(error_of({{"node.id", "abc"}}) == "node.id=abc: not an integer");
    CHECK(error_of({{"node.id", "-1"}}) == "node.id=-1: must be at least 0");
    CHECK(error_of({{"num.partitions", "1x"}}) == "num.partitions=1x: not an integer");
    CHECK(error_of({{"num.partitions", "0"}}) == "num.partitions=0: must be at least 1");
    CHECK(error_of({{"auto.create.topics.enable", "yes"}}) ==
          "auto.create.topics.enable=yes: must be true or false");
    CHECK(error_of({{"fetch.sendfile", "maybe"}}) ==
          "fetch.sendfile=maybe: must be true, false or auto");
    CHECK(error_of({{"log.level", "loud"}}) ==
          "log.level=loud: must be one of error, warn, info, debug");
    CHECK(error_of({{"connections.max.idle.ms", "0"}}) ==
          "connections.max.idle.ms=0: must be -1 (never) or at least 1");
    CHECK(error_of({{"log.retention.ms", "-2"}}) == "log.retention.ms=-2: must be at least -1");
    CHECK(error_of({{"num.io.threads", "0"}}) == "num.io.threads=0: must be at least 1");
    CHECK(error_of({{"message.max.bytes", "200000000"}}).starts_with("message.max.bytes="));
    CHECK(error_of({{"socket.request.max.bytes", "100"}}) ==
          "socket.request.max.bytes=100: must be at least 1024");
}

TEST_CASE("log.cleanup.policy and the cleaner's keys") {
    CHECK_FALSE(must({}).log_cleanup_compact);
    CHECK(must({}).log_cleanup_delete);
    auto c = must({{"log.cleanup.policy", "compact"}});
    CHECK(c.log_cleanup_compact);
    CHECK_FALSE(c.log_cleanup_delete);
    c = must({{"log.cleanup.policy", " Delete , compact "}});
    CHECK((c.log_cleanup_compact && c.log_cleanup_delete));
    CHECK(error_of({{"log.cleanup.policy", "shred"}}) ==
          "log.cleanup.policy=shred: must be delete, compact, or compact,delete");
    CHECK(error_of({{"log.cleanup.policy", ""}}).starts_with("log.cleanup.policy="));
    CHECK(must({{"log.cleaner.min.cleanable.ratio", "0.25"}}).log_cleaner_min_cleanable_ratio ==
          doctest::Approx(0.25));
    CHECK(error_of({{"log.cleaner.min.cleanable.ratio", "1.5"}}) ==
          "log.cleaner.min.cleanable.ratio=1.5: must be a number from 0 to 1");
    CHECK(error_of({{"log.cleaner.min.cleanable.ratio", "half"}})
              .starts_with("log.cleaner.min.cleanable.ratio=half: must be a number"));
    CHECK(must({{"log.cleaner.io.max.bytes.per.second", "1048576"}})
              .log_cleaner_io_max_bytes_per_second == doctest::Approx(1048576.0));
    CHECK(error_of({{"log.cleaner.dedupe.buffer.size", "10"}}) ==
          "log.cleaner.dedupe.buffer.size=10: must be at least 1024");
    // Topic defaults follow the broker's keys; a topic override wins.
    auto t = default_topic_settings(
        must({{"log.cleanup.policy", "compact,delete"}, {"log.cleaner.delete.retention.ms", "5"}}));
    CHECK((t.cleanup_compact && t.cleanup_delete));
    CHECK(t.delete_retention_ms == 5);
    auto o = apply_topic_configs(t, {{"cleanup.policy", "delete"}, {"delete.retention.ms", "7"}});
    REQUIRE(o.has_value());
    CHECK_FALSE(o.value().cleanup_compact);
    CHECK(o.value().delete_retention_ms == 7);
    CHECK_FALSE(apply_topic_configs(t, {{"min.cleanable.dirty.ratio", "-0.1"}}).has_value());
}

TEST_CASE("fetch.sendfile is true, false or auto (unset), in any case") {
    CHECK_FALSE(must({}).fetch_sendfile.has_value());
    CHECK(must({{"fetch.sendfile", "true"}}).fetch_sendfile == std::optional<bool>(true));
    CHECK(must({{"fetch.sendfile", "FALSE"}}).fetch_sendfile == std::optional<bool>(false));
    CHECK_FALSE(must({{"fetch.sendfile", "Auto"}}).fetch_sendfile.has_value());
}

TEST_CASE("log.flush.interval.messages takes only the two supported settings") {
    CHECK(must({{"log.flush.interval.messages", "1"}}).log.flush == storage::flush_mode::fsync);
    CHECK(must({{"log.flush.interval.messages", "9223372036854775807"}}).log.flush ==
          storage::flush_mode::page_cache);
    auto e = error_of({{"log.flush.interval.messages", "1000"}});
    CHECK(e.starts_with("log.flush.interval.messages=1000: only two settings are supported"));
    CHECK(e.find("fsync") != std::string::npos);
}

TEST_CASE("listeners") {
    auto c = must({{"listeners", "PLAINTEXT://127.0.0.1:0"}});
    CHECK(c.listen.host == "127.0.0.1");
    CHECK(c.listen.port == 0);
    CHECK(must({{"listeners", "plaintext://:9092"}}).listen.to_string() == "PLAINTEXT://:9092");
    auto v6 = must({{"listeners", "PLAINTEXT://[::1]:9093"}});
    CHECK(v6.listen.host == "::1");
    CHECK(v6.listen.to_string() == "PLAINTEXT://[::1]:9093");
    CHECK(error_of({{"listeners", "SSL://h:1"}}) ==
          "listeners=SSL://h:1: listener 'SSL' is not supported; only PLAINTEXT and CONTROLLER "
          "are");
    CHECK(error_of({{"listeners", "PLAINTEXT://a:1,PLAINTEXT://b:2"}}) ==
          "listeners=PLAINTEXT://a:1,PLAINTEXT://b:2: names PLAINTEXT twice");
    // A controller listener beside the client one; its name is controller.listener.names.
    auto both = must({{"listeners", "PLAINTEXT://127.0.0.1:9192, CONTROLLER://127.0.0.1:9193"}});
    CHECK(both.listen.port == 9192);
    REQUIRE(both.controller_listen.has_value());
    CHECK(both.controller_listen->port == 9193);
    CHECK(must({{"controller.listener.names", "quorum"},
                {"listeners", "PLAINTEXT://h:1,QUORUM://h:2"}})
              .controller_listen->name == "QUORUM");
    CHECK(error_of({{"listeners", "PLAINTEXT://h:1,CONTROLLER://h:2,CONTROLLER://h:3"}})
              .ends_with("names CONTROLLER twice"));
    CHECK(error_of({{"listeners", "PLAINTEXT://h:1,SSL://h:2"}}) ==
          "listeners=PLAINTEXT://h:1,SSL://h:2: SSL://h:2: listener 'SSL' is not supported; only "
          "PLAINTEXT and CONTROLLER are");
    CHECK(error_of({{"listeners", "PLAINTEXT://h:70000"}}) ==
          "listeners=PLAINTEXT://h:70000: port '70000' is not a number from 0 to 65535");
    CHECK(
        error_of({{"listeners", "127.0.0.1:9092"}}).ends_with(": expected PLAINTEXT://host:port"));
    CHECK(error_of({{"listeners", "PLAINTEXT://bad host:1"}}).find("not a host name") !=
          std::string::npos);
    CHECK(error_of({{"advertised.listeners", "PLAINTEXT://0.0.0.0:9092"}})
              .ends_with("must name the host clients connect to"));
}

TEST_CASE("process.roles, node.id and controller.quorum.voters fit together") {
    // No settings: one combined node, a quorum of itself, no controller listener.
    auto zero = must({});
    CHECK(zero.broker_role);
    CHECK(zero.controller_role);
    CHECK(zero.quorum_voters.empty());
    CHECK_FALSE(zero.controller_listen.has_value());

    auto three =
        must({{"node.id", "2"},
              {"cluster.id", "c1"},
              {"controller.quorum.voters", "1@127.0.0.1:9193, 2@127.0.0.1:9293,3@[::1]:9393"},
              {"listeners", "PLAINTEXT://127.0.0.1:9292,CONTROLLER://127.0.0.1:9293"}});
    REQUIRE(three.quorum_voters.size() == 3);
    CHECK(three.quorum_voters[1] == quorum_voter{node_id_t{2}, "127.0.0.1", 9293});
    CHECK(three.quorum_voters[2].host == "::1");

    auto broker_only = must({{"process.roles", "broker"},
                             {"node.id", "4"},
                             {"controller.quorum.voters", "1@h:9193"},
                             {"cluster.id", "c1"}});
    CHECK(broker_only.broker_role);
    CHECK_FALSE(broker_only.controller_role);
    auto controller_only = must({{"process.roles", "controller"},
                                 {"node.id", "1"},
                                 {"controller.quorum.voters", "1@h:9193"},
                                 {"cluster.id", "c1"},
                                 {"listeners", "CONTROLLER://h:9193"}});
    CHECK_FALSE(controller_only.broker_role);
    CHECK(controller_only.listen.name.empty());

    CHECK(error_of({{"process.roles", "broker,broker"}}) ==
          "process.roles=broker,broker: must be broker, controller, or broker,controller");
    CHECK(error_of({{"process.roles", "worker"}}).starts_with("process.roles=worker: must be"));
    CHECK(error_of({{"process.roles", "controller"}})
              .find("a controller-only node belongs to a "
                    "quorum of several") != std::string::npos);
    CHECK(error_of({{"process.roles", "broker"}})
              .starts_with("process.roles=broker: a broker that is not a controller needs the "
                           "controllers to join"));
    CHECK(error_of({{"controller.quorum.voters", "1@h:9193"}, {"node.id", "2"}})
              .find("is a controller but not one of the voters") != std::string::npos);
    CHECK(error_of({{"controller.quorum.voters", "1@h:9193"},
                    {"node.id", "1"},
                    {"process.roles", "broker"}})
              .find("process.roles must include controller") != std::string::npos);
    CHECK(error_of({{"controller.quorum.voters", "1@h:9193"}, {"node.id", "1"}}) ==
          "cluster.id=: a cluster of several controllers needs cluster.id, the same on every node "
          "(scripts/cluster.sh makes one up)");
    CHECK(error_of({{"cluster.id", "bad id!"}}) ==
          "cluster.id=bad id!: must be 1 to 64 characters of [A-Za-z0-9_-]");
    CHECK(error_of(
              {{"controller.quorum.voters", "1@h:9193"}, {"node.id", "1"}, {"cluster.id", "c"}}) ==
          "listeners=PLAINTEXT://127.0.0.1:9192: a controller in a quorum of several needs a "
          "CONTROLLER listener, such as CONTROLLER://127.0.0.1:9193");
    CHECK_FALSE(must({{"process.roles", "controller"},
                      {"node.id", "1"},
                      {"cluster.id", "c1"},
                      {"controller.quorum.voters", "1@h:1"},
                      {"listeners", "CONTROLLER://h:1"}})
                    .broker_role);
    CHECK(error_of({{"process.roles", "broker,controller"}, {"listeners", "CONTROLLER://h:1"}}) ==
          "listeners=CONTROLLER://h:1: a broker needs a PLAINTEXT listener for its clients");
    CHECK(error_of({{"controller.quorum.voters", "1@h:9193,1@h:9194"}}) ==
          "controller.quorum.voters=1@h:9193,1@h:9194: node 1 is named twice");
    CHECK(error_of({{"controller.quorum.voters", "x@h:1"}})
              .ends_with("expected id@host:port with a node id of 0 or more"));
    CHECK(error_of({{"controller.quorum.voters", "1@h"}}).find("expected id@host:port") !=
          std::string::npos);
    CHECK(error_of({{"controller.listener.names", "PLAINTEXT"}}).find("other than PLAINTEXT") !=
          std::string::npos);
    CHECK(error_of({{"broker.heartbeat.interval.ms", "9000"}}) ==
          "broker.session.timeout.ms=9000: must be more than broker.heartbeat.interval.ms (9000)");
}

TEST_CASE("log.dirs: one directory; log.dirs wins over log.dir") {
    CHECK(must({{"log.dir", "/a"}}).log_dir == "/a");
    CHECK(must({{"log.dir", "/a"}, {"log.dirs", "/b"}}).log_dir == "/b");
    CHECK(error_of({{"log.dirs", "/a,/b"}}) ==
          "log.dirs=/a,/b: several log directories are not supported yet; give exactly one "
          "directory");
    CHECK(error_of({{"log.dirs", ""}}) == "log.dirs=: must name a directory");
}

TEST_CASE("time keys follow Kafka's precedence") {
    CHECK(must({{"log.retention.hours", "2"}}).log.retention_ms == 7'200'000);
    CHECK(must({{"log.retention.hours", "2"}, {"log.retention.minutes", "3"}}).log.retention_ms ==
          180'000);
    CHECK(must({{"log.retention.hours", "2"},
                {"log.retention.minutes", "3"},
                {"log.retention.ms", "5"}})
              .log.retention_ms == 5);
    CHECK(must({{"log.retention.hours", "-1"}}).log.retention_ms == -1);
    CHECK(must({{"log.roll.hours", "1"}}).log.segment_ms == 3'600'000);
    CHECK(must({{"log.roll.hours", "1"}, {"log.roll.ms", "10"}}).log.segment_ms == 10);
    CHECK(must({{"log.flush.interval.ms", "250"}}).log_flush_interval_ms == 250);
}

TEST_CASE("unknown keys stop the start") {
    CHECK(error_of({{"num.network.threads", "3"}}) ==
          "num.network.threads=3: unknown key (sluice-broker --help lists every key)");
}

TEST_CASE("command line") {
    auto parse = [](std::vector<std::string_view> args) { return parse_command_line(args); };
    auto cl =
        parse({"--config", "a.properties", "--override", "node.id=3", "--override=log.dirs=/x"});
    REQUIRE(cl.has_value());
    CHECK(cl.value().what == command_line::action::run);
    CHECK(cl.value().config_file == "a.properties");
    REQUIRE(cl.value().overrides.size() == 2);
    CHECK(cl.value().overrides[1] == std::pair<std::string, std::string>{"log.dirs", "/x"});
    CHECK(parse({"--help"}).value().what == command_line::action::help);
    CHECK(parse({"--version"}).value().what == command_line::action::version);
    CHECK(parse({"--config=b"}).value().config_file == "b");
    CHECK_FALSE(parse({"--config"}).has_value());
    CHECK_FALSE(parse({"--override"}).has_value());
    CHECK(parse({"--override", "novalue"}).error().to_string() ==
          "--override novalue: expected key=value");
    CHECK(parse({"server.properties"}).error().to_string() ==
          "unexpected argument 'server.properties' (sluice-broker --help shows the usage)");
    CHECK(std::string(broker_version()) == "0.1.0");
}

TEST_CASE("overrides win over the file; a missing file is an error") {
    sluice::testing::temp_dir dir("sluice-config");
    auto file = dir.path() / "server.properties";
    std::ofstream(file) << "node.id=1\nnum.partitions=2\n";
    command_line cl;
    cl.config_file = file.string();
    cl.overrides = {{"node.id", "5"}, {"node.id", "6"}};
    auto c = load_config(cl);
    REQUIRE(c.has_value());
    CHECK(c.value().node_id == node_id_t{6});
    CHECK(c.value().num_partitions == 2);

    cl.config_file = (dir.path() / "missing.properties").string();
    auto e = load_config(cl);
    REQUIRE_FALSE(e.has_value());
    CHECK(e.error().to_string().starts_with("cannot read "));

    cl.config_file.reset();
    cl.overrides = {{"bogus.key", "1"}};
    CHECK(load_config(cl).error().key == "bogus.key");
}

TEST_CASE("--help lists every key with its default and description") {
    std::string help = help_text();
    for (const auto& k : config_keys()) {
        CAPTURE(k.name);
        CHECK_FALSE(k.description.empty());
        CHECK(help.find(std::string("  ") + std::string(k.name) + " (default: ") !=
              std::string::npos);
        CHECK(help.find(std::string(k.description)) != std::string::npos);
    }
}

TEST_CASE("docs/broker.md has a row for every key with the same default") {
    std::ifstream in(SLUICE_DOCS_BROKER_MD);
    REQUIRE(in.good());
    std::stringstream text;
    text << in.rdbuf();
    std::string doc = text.str();
    for (const auto& k : config_keys()) {
        CAPTURE(k.name);
        std::string def = k.default_text.empty() ? "unset" : std::string(k.default_text);
        std::string row = "| `" + std::string(k.name) + "` | " + def + " |";
        CHECK(doc.find(row) != std::string::npos);
    }
}
