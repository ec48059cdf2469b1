// The broker as an object: what sluice-broker's main() runs, and what tests run in-process.
//
//   server s(config, {.config_source = "/etc/sluice/server.properties", .handle_signals = true});
//   if (!s.start()) return 2;   // logs why
//   s.run();                    // until SIGTERM/SIGINT or stop(); returns after "stopped"
//
// Threads: run() runs num.io.threads threads over one io_context: connections, partitions and
// topic administration each own a strand of it (docs/broker.md, "Threads"). The storage
// flusher adds one thread for group-commit fsyncs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "sluice/broker/config.h"
#include "sluice/protocol/result.h"
#include "sluice/storage/clock.h"
#include "sluice/storage/file_system.h"

namespace sluice::broker {

struct server_options {
    // The start line's `config=`: the properties file, or "none".
    std::string config_source = "none";
    // SIGTERM and SIGINT stop the server gracefully.
    bool handle_signals = false;
    // How long a stop waits for in-flight requests before it closes connections anyway.
    int64_t drain_timeout_ms = 5000;
    // Seams: the file system under log.dirs and the clock of the logs. The defaults are the
    // POSIX file system and the system clock; tests pass fault-injecting or simulated ones. Both
    // must outlive the server. (The log.dirs lock is always a real flock.)
    storage::file_system* fs = &storage::posix_file_system();
    storage::clock* time = &storage::system_clock();
};

// Gauges of a running server, for tests and metrics.
struct server_stats {
    size_t queued_bytes = 0;       // requests and responses held now (queued.max.request.bytes)
    size_t queued_bytes_peak = 0;  // the most ever held at once
    int32_t connections = 0;       // connections holding a max.connections slot
    uint64_t sendfile_bytes = 0;   // fetched record bytes sent with sendfile
    uint64_t copied_bytes = 0;     // fetched record bytes read and sent (fetch.sendfile)
};

class server {
  public:
    explicit server(broker_config config, server_options options = {});
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Locks and opens log.dirs, loads every topic (recovering their logs), binds the listener,
    // starts accepting and logs the start line. On failure it logs an ERROR line and returns the
    // error; the server must then be destroyed without run().
    result<void> start();

    // The port the listener is bound to (after start()).
    uint16_t port() const;

    // Any thread, after start().
    server_stats stats() const;

    // Runs the I/O threads until the server has stopped.
    void run();

    // Any thread: begins a graceful stop (stop accepting, let in-flight requests finish up to
    // drain_timeout_ms, close every partition log, log "stopped"). run() then returns.
    void stop();

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace sluice::broker
