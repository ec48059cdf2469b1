// A real sluice-broker child process for the client tests: its own temporary log.dirs,
// listeners=PLAINTEXT://127.0.0.1:0, the bound port read from its start line. stderr is drained
// on a thread (the last lines are kept for failure messages). The destructor stops the broker
// with SIGTERM (SIGKILL if it does not exit within 10 s) and removes its directory. The broker
// gets SIGKILL when the thread that started it ends (so no broker outlives a crashed test): start
// and restart it from a thread that lives as long as it should.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "temp_dir.h"

namespace sluice::testing {

class broker_fixture {
  public:
    // Starts the broker with `overrides` ("key=value"); check ok() (and log_tail() if not).
    explicit broker_fixture(std::vector<std::string> overrides = {});
    ~broker_fixture();
    broker_fixture(const broker_fixture&) = delete;
    broker_fixture& operator=(const broker_fixture&) = delete;

    bool ok() const { return port_ != 0; }
    uint16_t port() const { return port_; }
    std::string bootstrap() const { return "127.0.0.1:" + std::to_string(port_); }
    // SIGKILL and wait; the port is free afterwards.
    void kill();
    // Starts again on the same port and log.dirs (after kill()).
    bool restart();
    std::string log_tail() const;

  private:
    bool start(uint16_t port);
    void stop_child(int signal);

    temp_dir dir_;
    std::vector<std::string> overrides_;
    pid_t pid_ = -1;
    uint16_t port_ = 0;
    std::thread drain_;
    mutable std::mutex mutex_;
    std::deque<std::string> lines_;
};

}  // namespace sluice::testing
