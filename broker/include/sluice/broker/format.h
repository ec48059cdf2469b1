// sluice-broker format: prepares log.dirs of a node of a cluster of several before its first
// start (Kafka's `kafka-storage format`; docs/controller.md, "Formatting").
//
// A controller's metadata directory gets the quorum-bootstrap file (quorum_bootstrap.h): its
// directory id and the directory of every voter, from --initial-controllers, and a quorum-state
// file that has voted for no one (so a lost quorum-state is told from a node that never voted).
// Every node's log.dirs is tied to its node.id and cluster.id. A directory formatted once is
// never formatted again by this command, and a controller that lost its directory is formatted
// with --new-directory: under its old directory id it could vote twice in one term.
#pragma once

#include <string>

#include "sluice/broker/config.h"
#include "sluice/storage/file_system.h"

namespace sluice::broker {

struct format_options {
    // id@host:port:directory-id,... : the controller.quorum.voters with each one's directory id
    // (sluice-broker random-uuid makes one). Controllers only.
    std::string initial_controllers;
    // A controller that lost its metadata directory: the list as when the quorum was formatted,
    // but a new directory id for this node, so it is never taken for the voter it was (it
    // follows the log and never votes).
    bool new_directory = false;
    bool ignore_formatted = false;  // a directory formatted already (for these voters) is fine
};

struct format_outcome {
    bool ok = false;
    std::string message;  // one line: what was done, or what is wrong and what to do
};

format_outcome format_storage(const broker_config& config, const format_options& o,
                              storage::file_system& fs);

}  // namespace sluice::broker
