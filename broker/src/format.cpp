#include "sluice/broker/format.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "cluster_member.h"
#include "config_values.h"
#include "metadata_store.h"
#include "sluice/controller/quorum_bootstrap.h"
#include "sluice/controller/quorum_state.h"

namespace sluice::broker {
namespace {

namespace ctl = controller;

format_outcome failed(std::string why) {
    return {false, std::move(why)};
}

// --initial-controllers, checked against controller.quorum.voters: the same nodes at the same
// addresses, each with a directory id.
std::optional<std::string> parse_initial(const broker_config& config, std::string_view text,
                                         ctl::quorum_bootstrap& out) {
    std::vector<quorum_voter> named;
    for (auto part : values::split(text, ',')) {
        const size_t colon = part.rfind(':');
        const auto dir = colon == std::string_view::npos
                             ? std::nullopt
                             : ctl::parse_directory(part.substr(colon + 1));
        if (!dir) {
            return fmt::format(
                "--initial-controllers: '{}': expected id@host:port:directory-id, the directory "
                "id as sluice-broker random-uuid prints it",
                part);
        }
        auto voter = parse_quorum_voters(part.substr(0, colon));
        if (!voter || voter.value().size() != 1) {
            return fmt::format("--initial-controllers: '{}': {}", part,
                               voter ? "expected one id@host:port" : voter.error().reason);
        }
        named.push_back(voter.value().front());
        out.voters.emplace_back(voter.value().front().id, *dir);
    }
    auto by_id = [](const auto& a, const auto& b) { return a.id < b.id; };
    std::vector<quorum_voter> configured = config.quorum_voters;
    std::sort(configured.begin(), configured.end(), by_id);
    std::sort(named.begin(), named.end(), by_id);
    if (named != configured) {
        return std::string(
            "--initial-controllers must name exactly the nodes and addresses of "
            "controller.quorum.voters, each with its directory id");
    }
    std::sort(out.voters.begin(), out.voters.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 1; i < out.voters.size(); ++i) {
        if (out.voters[i].second == out.voters[i - 1].second) {
            return fmt::format("--initial-controllers: nodes {} and {} have the same directory id",
                               out.voters[i - 1].first, out.voters[i].first);
        }
    }
    for (const auto& [id, d] : out.voters) {
        if (id == config.node_id) {
            out.directory = d;
        }
    }
    return std::nullopt;
}

// Why a metadata directory that was never formatted can not be formatted now (empty: it can).
// An interrupted format leaves temporary files and a quorum-state that voted for no one; anything
// else is a metadata log, or a quorum-state that is damaged or another node's.
result<std::string> holds_a_log(storage::file_system& fs, const std::filesystem::path& dir,
                                node_id_t self) {
    SLUICE_TRY(bool present, fs.exists(dir));
    if (!present) {
        return std::string();
    }
    SLUICE_TRY(auto names, fs.list(dir));
    for (const auto& name : names) {
        if (name.ends_with(".tmp")) {
            continue;
        }
        if (name == ctl::quorum_state_file) {
            SLUICE_TRY(auto q, ctl::load_quorum_state(fs, dir, self));
            if (!q.problem.empty()) {
                return q.problem;
            }
            if (q.state && *q.state == raft::hard_state{}) {
                continue;
            }
        }
        return fmt::format(
            "{} holds a metadata log but was never formatted: it is from before directory ids; "
            "remove it only if this node is new to the cluster",
            dir.string());
    }
    return std::string();
}

}  // namespace

format_outcome format_storage(const broker_config& config, const format_options& o,
                              storage::file_system& fs) {
    if (config.quorum_voters.empty()) {
        return failed(
            "nothing to format: without controller.quorum.voters this node is a quorum of one, "
            "which formats log.dirs itself at its first start");
    }
    ctl::quorum_bootstrap bootstrap;
    bootstrap.node_id = config.node_id;
    if (config.controller_role) {
        if (o.initial_controllers.empty()) {
            return failed(
                "a controller is formatted with --initial-controllers "
                "id@host:port:directory-id,... (every voter, each with a directory id from "
                "sluice-broker random-uuid)");
        }
        if (auto bad = parse_initial(config, o.initial_controllers, bootstrap)) {
            return failed(*bad);
        }
    } else if (!o.initial_controllers.empty()) {
        return failed("--initial-controllers is for controllers; this node is a broker only");
    }
    const auto& log_dir = config.log_dir;
    if (auto r = fs.create_directories(log_dir); !r) {
        return failed(fmt::format("log.dirs={}: cannot create it: {}", log_dir.string(),
                                  r.error().message()));
    }
    // A running broker holds the lock: never format under it.
    const auto lock_path = log_dir / lock_file;
    const int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock < 0 || ::flock(lock, LOCK_EX | LOCK_NB) != 0) {
        if (lock >= 0) {
            ::close(lock);
        }
        return failed(fmt::format("log.dirs={} is in use by a running broker (it holds {})",
                                  log_dir.string(), lock_path.string()));
    }
    struct closer {
        int fd;
        ~closer() { ::close(fd); }
    } unlock{lock};

    const auto meta_dir = log_dir / metadata_dir_name;
    if (config.controller_role) {
        auto loaded = ctl::load_quorum_bootstrap(fs, meta_dir, config.node_id);
        if (!loaded) {
            return failed(fmt::format("{}: {}", meta_dir.string(), loaded.error().message()));
        }
        if (!loaded.value().problem.empty()) {
            return failed(loaded.value().problem);
        }
        if (const auto& had = loaded.value().bootstrap) {
            if (!o.ignore_formatted) {
                return failed(
                    fmt::format("log.dirs={} is formatted already (a directory is formatted once; "
                                "--ignore-formatted makes this a success)",
                                log_dir.string()));
            }
            if (had->voters != bootstrap.voters) {
                return failed(fmt::format(
                    "log.dirs={} is formatted already, for other voters or directory ids than "
                    "--initial-controllers names",
                    log_dir.string()));
            }
            const auto listed =
                std::find_if(had->voters.begin(), had->voters.end(),
                             [&](const auto& v) { return v.first == config.node_id; });
            if (o.new_directory && listed != had->voters.end() &&
                listed->second == had->directory) {
                return failed(fmt::format(
                    "log.dirs={} is formatted already under this node's old directory id; "
                    "--new-directory needs its metadata directory removed first",
                    log_dir.string()));
            }
            return {true, fmt::format("log.dirs={} is formatted already; left as it is",
                                      log_dir.string())};
        }
        auto log = holds_a_log(fs, meta_dir, config.node_id);
        if (!log) {
            return failed(fmt::format("{}: {}", meta_dir.string(), log.error().message()));
        }
        if (!log.value().empty()) {
            return failed(log.value());
        }
        if (o.new_directory) {
            bootstrap.directory = ctl::random_directory();
        }
    } else if (o.new_directory) {
        return failed("--new-directory is for controllers; this node is a broker only");
    }
    auto meta = load_broker_meta(fs, log_dir, config.node_id, config.cluster_id);
    if (!meta) {
        return failed(fmt::format("log.dirs={}: {}", log_dir.string(), meta.error().message()));
    }
    if (!meta.value().problem.empty()) {
        return failed(meta.value().problem);
    }
    if (!config.controller_role) {
        return {true, fmt::format("formatted log.dirs={} for node.id={} of cluster {}",
                                  log_dir.string(), config.node_id, meta.value().cluster_id)};
    }
    if (auto r = fs.create_directories(meta_dir); !r) {
        return failed(
            fmt::format("{}: cannot create it: {}", meta_dir.string(), r.error().message()));
    }
    // The quorum-state first: a node formatted has one, so its loss is told from a node that
    // never voted (cluster_member refuses to start without it).
    if (auto r = ctl::save_quorum_state(fs, meta_dir, config.node_id, raft::hard_state{}); !r) {
        return failed(fmt::format("{}: {}", meta_dir.string(), r.error().message()));
    }
    if (auto r = ctl::save_quorum_bootstrap(fs, meta_dir, bootstrap); !r) {
        return failed(fmt::format("{}: {}", meta_dir.string(), r.error().message()));
    }
    return {true,
            fmt::format("formatted log.dirs={} for node.id={} of cluster {}: directory id {}, "
                        "{} voters{}",
                        log_dir.string(), config.node_id, meta.value().cluster_id,
                        ctl::directory_text(bootstrap.directory), bootstrap.voters.size(),
                        o.new_directory ? "; a new directory: this node follows the metadata "
                                          "log and never votes as the voter it was"
                                        : "")};
}

}  // namespace sluice::broker
