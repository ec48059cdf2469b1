// A fresh directory under the system temp dir, removed with everything in it on destruction.
#pragma once

#include <atomic>
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
    ~temp_dir() {
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
