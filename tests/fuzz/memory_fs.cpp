#include "memory_fs.h"

#include <algorithm>
#include <cstring>
#include <system_error>

namespace sluice::fuzz {
namespace {

using bytes = std::vector<std::byte>;

std::error_code error(std::errc e) {
    return std::make_error_code(e);
}

// Every path is absolute and normal here, without a trailing separator ("/a/b", never "/a/b/").
std::filesystem::path normal(const std::filesystem::path& p) {
    auto n = (std::filesystem::path("/") / p).lexically_normal();
    if (n != "/" && !n.has_filename()) {
        n = n.parent_path();
    }
    return n;
}

class memory_file final : public storage::file {
  public:
    memory_file(std::shared_ptr<bytes> data, bool writable)
        : data_(std::move(data)), writable_(writable) {}

    result<size_t> append(std::span<const std::byte> in) override {
        if (!writable_) {
            return error(std::errc::bad_file_descriptor);
        }
        size_t room =
            memory_fs::file_bytes_max - std::min(data_->size(), memory_fs::file_bytes_max);
        if (!in.empty() && room == 0) {
            return error(std::errc::no_space_on_device);
        }
        size_t n = std::min(in.size(), room);
        data_->insert(data_->end(), in.begin(), in.begin() + ptrdiff_t(n));
        return n;
    }

    result<size_t> read_at(uint64_t pos, std::span<std::byte> out) override {
        if (pos >= data_->size()) {
            return size_t{0};
        }
        size_t n = std::min<uint64_t>(out.size(), data_->size() - pos);
        if (n > 0) {
            std::memcpy(out.data(), data_->data() + pos, n);
        }
        return n;
    }

    result<void> sync() override { return success(); }

    result<void> truncate(uint64_t size) override {
        if (!writable_) {
            return error(std::errc::bad_file_descriptor);
        }
        if (size > memory_fs::file_bytes_max) {
            return error(std::errc::file_too_large);
        }
        data_->resize(size);
        return success();
    }

    result<uint64_t> size() override { return uint64_t(data_->size()); }

  private:
    std::shared_ptr<bytes> data_;
    bool writable_;
};

// What a directory handle does: nothing but exist.
class memory_directory final : public storage::file {
  public:
    result<size_t> append(std::span<const std::byte>) override {
        return error(std::errc::is_a_directory);
    }
    result<size_t> read_at(uint64_t, std::span<std::byte>) override {
        return error(std::errc::is_a_directory);
    }
    result<void> sync() override { return success(); }
    result<void> truncate(uint64_t) override { return error(std::errc::is_a_directory); }
    result<uint64_t> size() override { return uint64_t{0}; }
};

}  // namespace

void memory_fs::put(const std::filesystem::path& p, std::span<const std::byte> data) {
    auto n = normal(p);
    (void)create_directories(n.parent_path());
    files_[n] = std::make_shared<bytes>(data.begin(), data.end());
}

std::vector<std::byte> memory_fs::get(const std::filesystem::path& p) const {
    auto it = files_.find(normal(p));
    return it == files_.end() ? bytes{} : *it->second;
}

result<std::unique_ptr<storage::file>> memory_fs::open(const std::filesystem::path& p,
                                                       storage::open_mode m) {
    auto n = normal(p);
    if (m == storage::open_mode::directory) {
        if (!dirs_.contains(n)) {
            return error(std::errc::no_such_file_or_directory);
        }
        return std::unique_ptr<storage::file>(new memory_directory());
    }
    if (dirs_.contains(n)) {
        return error(std::errc::is_a_directory);
    }
    auto it = files_.find(n);
    if (it == files_.end()) {
        if (m == storage::open_mode::read_only || !dirs_.contains(n.parent_path())) {
            return error(std::errc::no_such_file_or_directory);
        }
        it = files_.emplace(n, std::make_shared<bytes>()).first;
    }
    return std::unique_ptr<storage::file>(
        new memory_file(it->second, m == storage::open_mode::read_write));
}

result<std::vector<std::string>> memory_fs::list(const std::filesystem::path& dir) {
    auto n = normal(dir);
    if (!dirs_.contains(n)) {
        return error(std::errc::no_such_file_or_directory);
    }
    std::vector<std::string> out;
    for (const auto& [path, data] : files_) {
        if (path.parent_path() == n) {
            out.push_back(path.filename().string());
        }
    }
    for (const auto& d : dirs_) {
        if (d != n && d.parent_path() == n) {
            out.push_back(d.filename().string());
        }
    }
    return out;
}

result<void> memory_fs::create_directories(const std::filesystem::path& dir) {
    auto n = normal(dir);
    for (auto d = n; d != "/"; d = d.parent_path()) {
        if (files_.contains(d)) {
            return error(std::errc::not_a_directory);
        }
    }
    for (auto d = n; d != "/"; d = d.parent_path()) {
        dirs_.insert(d);
    }
    return success();
}

result<void> memory_fs::rename(const std::filesystem::path& from, const std::filesystem::path& to) {
    auto f = normal(from);
    auto t = normal(to);
    auto it = files_.find(f);
    if (it == files_.end()) {
        return error(std::errc::no_such_file_or_directory);
    }
    if (dirs_.contains(t) || !dirs_.contains(t.parent_path())) {
        return error(std::errc::no_such_file_or_directory);
    }
    auto data = it->second;
    files_.erase(it);
    files_[t] = std::move(data);
    return success();
}

result<void> memory_fs::remove(const std::filesystem::path& p) {
    auto n = normal(p);
    if (files_.erase(n) > 0) {
        return success();
    }
    if (!dirs_.contains(n)) {
        return success();
    }
    auto children = list(n);
    if (!children) {
        return children.error();
    }
    if (!children.value().empty()) {
        return error(std::errc::directory_not_empty);
    }
    if (n != "/") {
        dirs_.erase(n);
    }
    return success();
}

result<void> memory_fs::sync_directory(const std::filesystem::path& dir) {
    if (!dirs_.contains(normal(dir))) {
        return error(std::errc::no_such_file_or_directory);
    }
    return success();
}

result<bool> memory_fs::exists(const std::filesystem::path& p) {
    auto n = normal(p);
    return files_.contains(n) || dirs_.contains(n);
}

}  // namespace sluice::fuzz
