#include "broker_fixture.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

namespace sluice::testing {
namespace {

constexpr size_t tail_lines_max = 200;

// "... listeners=PLAINTEXT://127.0.0.1:41234 ..." -> 41234, or 0.
uint16_t port_of(const std::string& line) {
    const std::string key = "listeners=PLAINTEXT://";
    const size_t at = line.find(key);
    if (line.find(" started: ") == std::string::npos || at == std::string::npos) {
        return 0;
    }
    const size_t end = line.find(' ', at);
    const std::string hostport = line.substr(at + key.size(), end - at - key.size());
    const size_t colon = hostport.rfind(':');
    return colon == std::string::npos ? 0 : uint16_t(std::stoi(hostport.substr(colon + 1)));
}

}  // namespace

broker_fixture::broker_fixture(std::vector<std::string> overrides)
    : dir_("sluice-client-broker"), overrides_(std::move(overrides)) {
    start(0);
}

broker_fixture::~broker_fixture() {
    stop_child(SIGTERM);
}

bool broker_fixture::start(uint16_t port) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        return false;
    }
    std::vector<std::string> args{SLUICE_BROKER_PATH, "--override",
                                  "listeners=PLAINTEXT://127.0.0.1:" + std::to_string(port),
                                  "--override", "log.dirs=" + (dir_.path() / "data").string()};
    for (const std::string& o : overrides_) {
        args.push_back("--override");
        args.push_back(o);
    }
    // Built before fork(): the child of a multi-threaded process may only make
    // async-signal-safe calls until execv.
    std::vector<char*> argv;
    for (std::string& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // no orphaned broker if the test dies
        ::dup2(fds[1], 2);
        ::close(fds[0]);
        ::close(fds[1]);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(fds[1]);
    if (pid_ < 0) {
        ::close(fds[0]);
        return false;
    }
    // Read lines until the start line (or 30 s, or the end of the output).
    std::string pending;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    uint16_t found = 0;
    while (found == 0 && std::chrono::steady_clock::now() < deadline) {
        pollfd p{fds[0], POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) {
            continue;
        }
        char buf[4096];
        const ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n <= 0) {
            break;
        }
        pending.append(buf, size_t(n));
        for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
            std::string line = pending.substr(0, nl);
            pending.erase(0, nl + 1);
            found = found != 0 ? found : port_of(line);
            std::lock_guard lk(mutex_);
            lines_.push_back(std::move(line));
        }
    }
    port_ = found;
    drain_ = std::thread([this, fd = fds[0]] {
        std::string rest;
        char buf[4096];
        ssize_t n;
        while ((n = ::read(fd, buf, sizeof buf)) > 0) {
            rest.append(buf, size_t(n));
            for (size_t nl; (nl = rest.find('\n')) != std::string::npos;) {
                std::lock_guard lk(mutex_);
                lines_.push_back(rest.substr(0, nl));
                rest.erase(0, nl + 1);
                if (lines_.size() > tail_lines_max) {
                    lines_.pop_front();
                }
            }
        }
        ::close(fd);
    });
    return port_ != 0;
}

void broker_fixture::stop_child(int signal) {
    if (pid_ > 0) {
        ::kill(pid_, signal);
        int status = 0;
        for (int i = 0; i < 1000; ++i) {
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                break;
            }
            ::usleep(10000);
        }
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
            pid_ = -1;
        }
    }
    if (drain_.joinable()) {
        drain_.join();
    }
}

void broker_fixture::kill() {
    stop_child(SIGKILL);
}

bool broker_fixture::restart() {
    const uint16_t port = port_;
    return start(port) && port_ == port;
}

std::string broker_fixture::log_tail() const {
    std::lock_guard lk(mutex_);
    std::string out;
    for (const std::string& l : lines_) {
        out += l;
        out += '\n';
    }
    return out;
}

}  // namespace sluice::testing
