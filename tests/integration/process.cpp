#include "process.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace sluice::testing {
namespace {

using clock_type = std::chrono::steady_clock;

void ignore_sigpipe() {
    static std::once_flag once;
    std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

// The current environment with `changes` applied, as "K=V" strings.
std::vector<std::string> make_env(const env_changes& changes) {
    std::vector<std::string> out;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string_view kv(*e);
        std::string key(kv.substr(0, kv.find('=')));
        if (!changes.contains(key)) {
            out.emplace_back(kv);
        }
    }
    for (const auto& [k, v] : changes) {
        if (v) {
            out.push_back(k + "=" + *v);
        }
    }
    return out;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (auto& s : strings) {
        out.push_back(s.data());
    }
    out.push_back(nullptr);
    return out;
}

exit_status decode(int wstatus) {
    exit_status s;
    if (WIFEXITED(wstatus)) {
        s.code = WEXITSTATUS(wstatus);
    } else if (WIFSIGNALED(wstatus)) {
        s.signal = WTERMSIG(wstatus);
    }
    return s;
}

struct pipe_pair {
    int read = -1;
    int write = -1;
};

result<pipe_pair> make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        return errno_code();
    }
    return pipe_pair{fds[0], fds[1]};
}

void close_fd(int& fd) {
    if (fd >= 0) {
        ::close(fd);
        fd = -1;
    }
}

// Spawns argv with the given descriptors on 0, 1, 2 (each dup2'ed; the originals are
// close-on-exec so the child keeps only 0, 1 and 2).
result<pid_t> spawn(const std::vector<std::string>& argv, int in, int out, int err,
                    const env_changes& env) {
    ignore_sigpipe();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in, 0);
    posix_spawn_file_actions_adddup2(&actions, out, 1);
    posix_spawn_file_actions_adddup2(&actions, err, 2);
    std::vector<std::string> args = argv;
    std::vector<std::string> envs = make_env(env);
    auto c_args = c_strings(args);
    auto c_env = c_strings(envs);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, c_args[0], &actions, nullptr, c_args.data(), c_env.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        return std::error_code(rc, std::generic_category());
    }
    return pid;
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < text.size()) {
        size_t nl = text.find('\n', start);
        if (nl == std::string::npos) {
            lines.push_back(text.substr(start));
            break;
        }
        lines.push_back(text.substr(start, nl - start));
        start = nl + 1;
    }
    return lines;
}

}  // namespace

std::string exit_status::to_string() const {
    return signal != 0 ? "signal " + std::to_string(signal) : "exit " + std::to_string(code);
}

std::vector<std::string> run_result::err_lines() const {
    return split_lines(err);
}
std::vector<std::string> run_result::out_lines() const {
    return split_lines(out);
}

run_result run_process(const std::vector<std::string>& argv, const std::string& input,
                       std::chrono::milliseconds timeout, const env_changes& env) {
    run_result r;
    auto in = make_pipe();
    auto out = make_pipe();
    auto err = make_pipe();
    if (!in || !out || !err) {
        r.err = "pipe failed";
        return r;
    }
    auto pid = spawn(argv, in.value().read, out.value().write, err.value().write, env);
    close_fd(in.value().read);
    close_fd(out.value().write);
    close_fd(err.value().write);
    if (!pid) {
        r.err = "spawn " + argv[0] + ": " + pid.error().message();
        close_fd(in.value().write);
        close_fd(out.value().read);
        close_fd(err.value().read);
        return r;
    }
    int in_fd = in.value().write;
    int out_fd = out.value().read;
    int err_fd = err.value().read;
    ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
    size_t written = 0;
    if (input.empty()) {
        close_fd(in_fd);
    }
    const auto deadline = clock_type::now() + timeout;
    char buf[65536];
    while (out_fd >= 0 || err_fd >= 0) {
        auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
        if (left.count() <= 0) {
            ::kill(pid.value(), SIGKILL);
            r.timed_out = true;
            break;
        }
        pollfd fds[3];
        nfds_t n = 0;
        int* owners[3];
        for (int* fd : {&in_fd, &out_fd, &err_fd}) {
            if (*fd >= 0) {
                fds[n] = {*fd, short(fd == &in_fd ? POLLOUT : POLLIN), 0};
                owners[n++] = fd;
            }
        }
        if (::poll(fds, n, int(left.count())) < 0 && errno != EINTR) {
            break;
        }
        for (nfds_t i = 0; i < n; ++i) {
            if (fds[i].revents == 0) {
                continue;
            }
            int* fd = owners[i];
            if (fd == &in_fd) {
                ssize_t w = ::write(in_fd, input.data() + written, input.size() - written);
                if (w > 0) {
                    written += size_t(w);
                }
                if ((w < 0 && errno != EAGAIN) || written == input.size()) {
                    close_fd(in_fd);
                }
                continue;
            }
            ssize_t got = ::read(*fd, buf, sizeof buf);
            if (got > 0) {
                (fd == &out_fd ? r.out : r.err).append(buf, size_t(got));
            } else if (got == 0 || errno != EINTR) {
                close_fd(*fd);
            }
        }
    }
    close_fd(in_fd);
    close_fd(out_fd);
    close_fd(err_fd);
    int wstatus = 0;
    while (::waitpid(pid.value(), &wstatus, 0) < 0 && errno == EINTR) {
    }
    r.status = decode(wstatus);
    return r;
}

result<child_process> child_process::spawn(const std::vector<std::string>& argv,
                                           const std::string& stdout_path) {
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = ::open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    auto err = make_pipe();
    if (devnull < 0 || out < 0 || !err) {
        std::error_code ec = !err ? err.error() : errno_code();
        close_fd(devnull);
        close_fd(out);
        return ec;
    }
    auto pid = testing::spawn(argv, devnull, out, err.value().write, {});
    close_fd(devnull);
    close_fd(out);
    close_fd(err.value().write);
    if (!pid) {
        close_fd(err.value().read);
        return pid.error();
    }
    return child_process(pid.value(), err.value().read);
}

child_process::child_process(child_process&& other) noexcept
    : pid_(other.pid_), stderr_fd_(other.stderr_fd_), status_(other.status_) {
    other.pid_ = -1;
    other.stderr_fd_ = -1;
}

child_process& child_process::operator=(child_process&& other) noexcept {
    if (this != &other) {
        reset();
        pid_ = other.pid_;
        stderr_fd_ = other.stderr_fd_;
        status_ = other.status_;
        other.pid_ = -1;
        other.stderr_fd_ = -1;
    }
    return *this;
}

child_process::~child_process() {
    reset();
}

void child_process::reset() {
    if (running()) {
        ::kill(pid_, SIGKILL);
        int wstatus = 0;
        while (::waitpid(pid_, &wstatus, 0) < 0 && errno == EINTR) {
        }
    }
    close_fd(stderr_fd_);
    pid_ = -1;
    status_.reset();
}

bool child_process::send_signal(int sig) {
    return running() && ::kill(pid_, sig) == 0;
}

std::optional<exit_status> child_process::wait_for(std::chrono::milliseconds timeout) {
    if (status_ || pid_ <= 0) {
        return status_;
    }
    const auto deadline = clock_type::now() + timeout;
    for (;;) {
        int wstatus = 0;
        pid_t r = ::waitpid(pid_, &wstatus, WNOHANG);
        if (r == pid_) {
            status_ = decode(wstatus);
            return status_;
        }
        if (r < 0 && errno != EINTR) {
            return std::nullopt;
        }
        if (clock_type::now() >= deadline) {
            return std::nullopt;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

}  // namespace sluice::testing
