// A fresh directory under the system temp dir, removed with everything in it on destruction.
#pragma once

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <unistd.h>

namespace sluice::testing {

class temp_dir {
  public:
    explicit temp_dir(const std::string& prefix = "sluice-test") {
        static std::atomic<int> counter{0};
        path_ = std::filesystem::temp_directory_path() /
                (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    // SLUICE_KEEP_TEST_DIRS set keeps the directory (and brokers' logs in it) for a post-mortem.
    ~temp_dir() {
        if (std::getenv("SLUICE_KEEP_TEST_DIRS") != nullptr) {
            return;
        }
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

}  // namespace sluice::testing
