#include "broker_process.h"

#include <cerrno>
#include <charconv>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <unistd.h>

namespace sluice::testing {

std::string broker_path() {
    return SLUICE_BROKER_PATH;
}
std::string cli_path() {
    return SLUICE_CLI_PATH;
}

uint16_t parse_start_line(std::string_view line) {
    if (line.find("sluice-broker") == std::string_view::npos ||
        line.find(" started: ") == std::string_view::npos) {
        return 0;
    }
    auto at = line.find("listeners=");
    if (at == std::string_view::npos) {
        return 0;
    }
    auto rest = line.substr(at + std::string_view("listeners=").size());
    rest = rest.substr(0, rest.find_first_of(" ,\t"));
    auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) {
        return 0;
    }
    auto digits = rest.substr(colon + 1);
    unsigned port = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (ec != std::errc{} || end != digits.data() + digits.size() || port == 0 || port > 65535) {
        return 0;
    }
    return uint16_t(port);
}

broker_process::broker_process(std::map<std::string, std::string> overrides)
    : dir_("sluice-it"),
      log_dir_(dir_.path() / "data"),
      log_file_(dir_.path() / "broker.log"),
      overrides_(std::move(overrides)) {
    std::filesystem::create_directories(log_dir_);
}

broker_process::~broker_process() {
    if (running()) {
        (void)kill();
    }
    if (reader_.joinable()) {
        reader_.join();
    }
}

uint16_t broker_process::port() const {
    std::lock_guard lock(mutex_);
    return port_;
}

std::string broker_process::bootstrap() const {
    return "127.0.0.1:" + std::to_string(port());
}

std::string broker_process::log_tail(size_t lines) const {
    std::lock_guard lock(mutex_);
    std::string out = "--- broker log (" + log_file_.string() + "), last lines:\n";
    size_t first = lines_.size() > lines ? lines_.size() - lines : 0;
    for (size_t i = first; i < lines_.size(); ++i) {
        out += lines_[i];
        out += '\n';
    }
    return out;
}

void broker_process::read_stderr(int fd) {
    std::ofstream log(log_file_, std::ios::app);
    std::string pending;
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        pending.append(buf, size_t(n));
        size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
            std::string line = pending.substr(0, nl);
            pending.erase(0, nl + 1);
            log << line << '\n';
            std::lock_guard lock(mutex_);
            if (uint16_t p = parse_start_line(line); p != 0 && !saw_start_line_) {
                port_ = p;
                saw_start_line_ = true;
                started_.notify_all();
            }
            lines_.push_back(std::move(line));
            if (lines_.size() > log_lines_max) {
                lines_.pop_front();
            }
        }
        log.flush();
    }
    if (!pending.empty()) {
        log << pending << '\n';
    }
    std::lock_guard lock(mutex_);
    reader_done_ = true;
    started_.notify_all();
}

result<void> broker_process::start(std::chrono::milliseconds timeout) {
    if (running()) {
        return std::make_error_code(std::errc::device_or_resource_busy);
    }
    if (reader_.joinable()) {
        reader_.join();
    }
    const uint16_t port_before = port();
    std::vector<std::string> argv{broker_path(), "--override", "log.dirs=" + log_dir_.string(),
                                  "--override",
                                  "listeners=PLAINTEXT://127.0.0.1:" + std::to_string(port_before)};
    for (const auto& [k, v] : overrides_) {
        argv.push_back("--override");
        argv.push_back(k + "=" + v);
    }
    {
        std::lock_guard lock(mutex_);
        saw_start_line_ = false;
        reader_done_ = false;
        lines_.push_back("--- harness: starting " + broker_path() + " on port " +
                         std::to_string(port_before));
    }
    SLUICE_TRY(child_process c, child_process::spawn(argv, (dir_.path() / "stdout.log").string()));
    child_.emplace(std::move(c));
    reader_ = std::thread([this, fd = child_->stderr_fd()] { read_stderr(fd); });

    std::unique_lock lock(mutex_);
    bool ready = started_.wait_for(lock, timeout, [&] { return saw_start_line_ || reader_done_; });
    const bool ok = ready && saw_start_line_;
    lock.unlock();
    if (ok) {
        return success();
    }
    if (!ready) {
        (void)kill();
        return std::make_error_code(std::errc::timed_out);
    }
    // stderr closed without a start line: the broker is exiting.
    if (auto s = wait_exit(std::chrono::seconds(10)); !s) {
        (void)kill();
    }
    return std::make_error_code(std::errc::no_such_process);
}

result<exit_status> broker_process::wait_exit(std::chrono::milliseconds timeout) {
    if (!child_) {
        return std::make_error_code(std::errc::no_such_process);
    }
    auto s = child_->wait_for(timeout);
    if (!s) {
        return std::make_error_code(std::errc::timed_out);
    }
    last_exit_ = s;
    if (reader_.joinable()) {
        reader_.join();  // stderr reaches EOF once the process is gone
    }
    child_.reset();
    return *s;
}

result<exit_status> broker_process::stop(std::chrono::milliseconds timeout) {
    if (!running()) {
        return std::make_error_code(std::errc::no_such_process);
    }
    child_->send_signal(SIGCONT);  // a paused broker cannot handle SIGTERM
    child_->send_signal(SIGTERM);
    auto s = wait_exit(timeout);
    if (!s) {
        (void)kill();
    }
    return s;
}

result<exit_status> broker_process::kill() {
    if (!running()) {
        return std::make_error_code(std::errc::no_such_process);
    }
    child_->send_signal(SIGKILL);
    return wait_exit(std::chrono::seconds(30));
}

bool broker_process::pause() {
    if (!running() || !child_->send_signal(SIGSTOP)) {
        return false;
    }
    // kill() only queues the signal: the broker may run on a little, under load long enough to
    // answer a request sent "after" the pause. Wait until every thread has stopped: each one's
    // state in /proc/<pid>/task/<tid>/stat (the field after the parenthesised name) is 'T'.
    const std::filesystem::path tasks = "/proc/" + std::to_string(child_->pid()) + "/task";
    for (int i = 0; i < 5000; ++i) {
        bool all_stopped = true;
        std::error_code ec;
        for (const auto& t : std::filesystem::directory_iterator(tasks, ec)) {
            std::ifstream in(t.path() / "stat");
            std::string line;
            std::getline(in, line);
            const auto close = line.rfind(')');
            all_stopped = all_stopped && close != std::string::npos && close + 2 < line.size() &&
                          line[close + 2] == 'T';
        }
        if (!ec && all_stopped) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
}
bool broker_process::resume() {
    return running() && child_->send_signal(SIGCONT);
}

}  // namespace sluice::testing
