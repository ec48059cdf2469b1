// Child processes for the integration tests: run a command to completion with its output
// captured (the `sluice` CLI), or keep one running with its stderr piped back (the broker).
//
// Processes are started with posix_spawn from an argument vector: no shell, so arguments are
// passed verbatim and nothing in them is interpreted. The test process ignores SIGPIPE once any
// of these is used, so a child that exits early cannot kill it through a pipe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sluice/protocol/result.h"

namespace sluice::testing {

struct exit_status {
    int code = -1;   // the exit code, if the process exited
    int signal = 0;  // the signal that ended it, if one did

    bool exited_with(int c) const { return signal == 0 && code == c; }
    std::string to_string() const;  // "exit 0", "signal 9"
};

struct run_result {
    exit_status status;
    std::string out;
    std::string err;
    bool timed_out = false;  // killed with SIGKILL after the timeout

    // stderr split into lines (without the newlines).
    std::vector<std::string> err_lines() const;
    std::vector<std::string> out_lines() const;
};

// Environment changes for a child: a value sets the variable, nullopt removes it.
using env_changes = std::map<std::string, std::optional<std::string>>;

// Runs argv (argv[0] is a path) with `input` on stdin, capturing stdout and stderr, and waits
// for it. After `timeout` the child is killed with SIGKILL and timed_out is set.
run_result run_process(const std::vector<std::string>& argv, const std::string& input = {},
                       std::chrono::milliseconds timeout = std::chrono::seconds(60),
                       const env_changes& env = {});

// A running child whose stdin is /dev/null, stdout goes to a file, and stderr comes back
// through a pipe (stderr_fd(), owned here). Destruction kills (SIGKILL) and reaps it if it is
// still running.
class child_process {
  public:
    static result<child_process> spawn(const std::vector<std::string>& argv,
                                       const std::string& stdout_path);
    child_process(child_process&& other) noexcept;
    child_process& operator=(child_process&& other) noexcept;
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;
    ~child_process();

    pid_t pid() const { return pid_; }
    int stderr_fd() const { return stderr_fd_; }
    bool running() const { return pid_ > 0 && !status_; }

    // Sends a signal; false if the process is gone.
    bool send_signal(int sig);
    // Waits up to `timeout` for the process to end; its status, or nullopt if still running.
    std::optional<exit_status> wait_for(std::chrono::milliseconds timeout);

  private:
    child_process(pid_t pid, int stderr_fd) : pid_(pid), stderr_fd_(stderr_fd) {}
    void reset();

    pid_t pid_ = -1;
    int stderr_fd_ = -1;
    std::optional<exit_status> status_;
};

}  // namespace sluice::testing
