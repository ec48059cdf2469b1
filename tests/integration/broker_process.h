// A real `sluice-broker` process for integration tests.
//
// The broker runs with its own temporary log.dirs, listeners=PLAINTEXT://127.0.0.1:0 (an
// ephemeral port) and any overrides the test gives. The harness reads the broker's stderr on a
// thread of its own: it finds the start line
//   sluice-broker 0.1.0 started: node.id=0 listeners=PLAINTEXT://127.0.0.1:41234 log.dirs=...
// to learn the bound port, and appends every line to <log dir>/../broker.log (kept in memory as
// well, the last log_lines_max lines, for failure messages).
//
// Lifecycle: start() -> [pause()/resume()] -> stop() (SIGTERM) or kill() (SIGKILL) -> start()
// again, which restarts on the same port and the same log.dirs. The destructor kills a running
// broker and removes the directory.
//
// Thread safety: the control calls (start, stop, kill, pause, resume) are for one test thread;
// port(), bootstrap() and log_tail() may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "process.h"
#include "sluice/protocol/result.h"
#include "temp_dir.h"

namespace sluice::testing {

// Paths of the binaries under test, from the build (compile definitions).
std::string broker_path();
std::string cli_path();

class broker_process {
  public:
    // Lines of broker output kept in memory for log_tail().
    static constexpr size_t log_lines_max = 400;

    explicit broker_process(std::map<std::string, std::string> overrides = {});
    ~broker_process();
    broker_process(const broker_process&) = delete;
    broker_process& operator=(const broker_process&) = delete;

    // Starts the broker and waits (up to `timeout`) for its start line. The first start binds an
    // ephemeral port; later starts bind the port of the first. Errors: the spawn failed, the
    // broker exited before its start line (std::errc::no_such_process; exit_status() says how),
    // or the timeout passed (std::errc::timed_out; the process is killed).
    result<void> start(std::chrono::milliseconds timeout = std::chrono::seconds(60));

    // SIGTERM, then waits for the exit; the status, or std::errc::timed_out (then it is killed).
    result<exit_status> stop(std::chrono::milliseconds timeout = std::chrono::seconds(30));
    // SIGKILL, then waits for the exit.
    result<exit_status> kill();
    // SIGSTOP / SIGCONT.
    bool pause();
    bool resume();

    bool running() const { return child_ && child_->running(); }
    std::optional<exit_status> last_exit() const { return last_exit_; }

    uint16_t port() const;
    std::string bootstrap() const;  // "127.0.0.1:<port>"
    const std::filesystem::path& log_dir() const { return log_dir_; }
    const std::filesystem::path& log_file() const { return log_file_; }
    // The last `lines` lines the broker wrote to stderr, for failure messages.
    std::string log_tail(size_t lines = 40) const;

  private:
    void read_stderr(int fd);  // runs on reader_
    result<exit_status> wait_exit(std::chrono::milliseconds timeout);

    temp_dir dir_;
    std::filesystem::path log_dir_;
    std::filesystem::path log_file_;
    std::map<std::string, std::string> overrides_;
    std::optional<child_process> child_;
    std::thread reader_;
    std::optional<exit_status> last_exit_;

    mutable std::mutex mutex_;
    std::condition_variable started_;
    uint16_t port_ = 0;              // guarded by mutex_; 0 until the first start line
    bool saw_start_line_ = false;    // guarded by mutex_; for the current run
    bool reader_done_ = false;       // guarded by mutex_; for the current run
    std::deque<std::string> lines_;  // guarded by mutex_
};

// The port from a start line, or 0 if `line` is not one.
uint16_t parse_start_line(std::string_view line);

}  // namespace sluice::testing
