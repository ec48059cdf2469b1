#include "fault_fs.h"

#include <algorithm>
#include <random>
#include <stdexcept>
#include <thread>

namespace sluice::testing {
namespace {

std::error_code io_error() {
    return std::make_error_code(std::errc::io_error);
}

}  // namespace

// A file of the wrapped file system, with the faults applied. `n` is null for directories and
// read-only files, which the crash model leaves alone.
class fault_file final : public storage::file {
  public:
    fault_file(fault_fs& fs, std::unique_ptr<storage::file> base, std::shared_ptr<fault_fs::node> n,
               bool is_directory)
        : fs_(fs), base_(std::move(base)), node_(std::move(n)), is_directory_(is_directory) {
        ++fs_.open_files_;
    }
    ~fault_file() override { --fs_.open_files_; }
    fault_file(const fault_file&) = delete;
    fault_file& operator=(const fault_file&) = delete;

    result<size_t> append(std::span<const std::byte> data) override {
        if (data.empty()) {
            return base_->append(data);
        }
        if (!fs_.admit_change()) {
            return io_error();
        }
        size_t allowed = fs_.admit_write(data.size());
        if (allowed == 0) {
            ++fs_.failed_writes_;
            return std::make_error_code(std::errc::no_space_on_device);
        }
        auto r = base_->append(data.first(allowed));
        fs_.account_write(allowed, r ? r.value() : 0);
        return r;
    }

    result<size_t> read_at(uint64_t pos, std::span<std::byte> out) override {
        return base_->read_at(pos, out);
    }

    result<size_t> read_cached(uint64_t pos, std::span<std::byte> out) override {
        const uint64_t below = fs_.cached_below_.load();
        if (pos >= below) {
            return std::make_error_code(std::errc::operation_would_block);
        }
        ++fs_.cached_reads_;
        return base_->read_at(pos, out.first(size_t(std::min<uint64_t>(out.size(), below - pos))));
    }

    result<void> sync() override {
        if (!fs_.admit_change()) {
            return io_error();
        }
        uint64_t truncations = 0;
        uint64_t size = 0;
        std::chrono::microseconds delay{0};
        {
            std::lock_guard lock(fs_.mutex_);
            if (sync_fails()) {
                ++fs_.failed_syncs_;
                return io_error();
            }
            delay = fs_.sync_delay_;
            if (node_) {
                // Read under the lock so that no truncate slips between the two.
                truncations = node_->truncations;
                SLUICE_TRY(size, base_->size());
            }
        }
        if (delay.count() > 0 && !is_directory_) {
            std::this_thread::sleep_for(delay);
            std::lock_guard lock(fs_.mutex_);
            if (sync_fails()) {
                ++fs_.failed_syncs_;
                return io_error();
            }
        }
        // Everything up to `size` was in the page cache before the sync began, so a successful
        // sync makes it durable; bytes appended meanwhile may or may not be, and count as not.
        auto r = base_->sync();
        if (!r) {
            ++fs_.failed_syncs_;
            return r;
        }
        ++fs_.syncs_;
        if (node_) {
            std::lock_guard lock(fs_.mutex_);
            if (node_->truncations == truncations) {
                node_->durable_size = std::max(node_->durable_size, size);
            }
        }
        return success();
    }

    result<void> truncate(uint64_t size) override {
        if (!fs_.admit_change()) {
            return io_error();
        }
        std::lock_guard lock(fs_.mutex_);
        if (fs_.fail_truncate_) {
            return io_error();
        }
        SLUICE_TRY(uint64_t before, base_->size());
        SLUICE_TRY(base_->truncate(size));
        // To the same size it changes no byte (it frees blocks reserved past the end), so a
        // sync under way still vouches for everything it covers.
        if (node_ && size != before) {
            node_->durable_size = std::min(node_->durable_size, size);
            ++node_->truncations;
        }
        return success();
    }

    result<uint64_t> size() override { return base_->size(); }

    // With a space limit set, a reserve fails as on a disk too full for it (the log then writes
    // without one); the limit itself counts written bytes only.
    result<void> reserve(uint64_t pos, uint64_t length) override {
        {
            std::lock_guard lock(fs_.mutex_);
            if (fs_.space_left_ && *fs_.space_left_ < length) {
                return std::make_error_code(std::errc::no_space_on_device);
            }
        }
        return base_->reserve(pos, length);
    }

  private:
    // Whether the knobs make this sync fail; the caller holds fs_.mutex_.
    bool sync_fails() const {
        return is_directory_ ? fs_.fail_directory_sync_ : fs_.fail_file_sync_;
    }

    fault_fs& fs_;
    std::unique_ptr<storage::file> base_;
    std::shared_ptr<fault_fs::node> node_;
    bool is_directory_;
};

void fault_fs::set_space_left(uint64_t bytes) {
    std::lock_guard lock(mutex_);
    space_left_ = bytes;
}

void fault_fs::set_short_writes(size_t bytes) {
    std::lock_guard lock(mutex_);
    short_write_bytes_ = bytes;
}

void fault_fs::set_fail_sync(bool files, bool directories) {
    std::lock_guard lock(mutex_);
    fail_file_sync_ = files;
    fail_directory_sync_ = directories;
}

void fault_fs::set_sync_delay(std::chrono::microseconds delay) {
    std::lock_guard lock(mutex_);
    sync_delay_ = delay;
}

void fault_fs::set_fail_truncate(bool fail) {
    std::lock_guard lock(mutex_);
    fail_truncate_ = fail;
}

void fault_fs::set_crash_after(std::optional<uint64_t> ops) {
    std::lock_guard lock(mutex_);
    changes_left_ = ops;
}

bool fault_fs::admit_change() {
    std::lock_guard lock(mutex_);
    if (changes_left_) {
        if (*changes_left_ == 0) {
            return false;
        }
        --*changes_left_;
    }
    ++changes_;
    return true;
}

void fault_fs::clear_faults() {
    std::lock_guard lock(mutex_);
    changes_left_.reset();
    space_left_.reset();
    short_write_bytes_ = 0;
    fail_file_sync_ = false;
    fail_directory_sync_ = false;
    fail_truncate_ = false;
    sync_delay_ = std::chrono::microseconds{0};
}

size_t fault_fs::admit_write(size_t wanted) {
    std::lock_guard lock(mutex_);
    size_t n = wanted;
    if (short_write_bytes_ > 0) {
        n = std::min(n, short_write_bytes_);
    }
    if (space_left_) {
        n = size_t(std::min<uint64_t>(n, *space_left_));
        *space_left_ -= n;  // reserved now, so that concurrent writers cannot overdraw
    }
    return n;
}

void fault_fs::account_write(size_t admitted, size_t written) {
    if (written > 0) {
        ++writes_;
        bytes_written_ += written;
    } else {
        ++failed_writes_;
    }
    std::lock_guard lock(mutex_);
    if (space_left_) {
        *space_left_ += admitted - written;  // return what the wrapped write did not use
    }
}

void fault_fs::drop_unsynced() {
    drop(std::nullopt);
}

void fault_fs::drop_unsynced_keep_random(uint64_t seed) {
    drop(seed);
}

void fault_fs::drop(std::optional<uint64_t> seed) {
    if (open_files_.load() != 0) {
        throw std::logic_error("fault_fs: crash simulated while files are still open");
    }
    std::mt19937_64 rng(seed.value_or(0));
    std::lock_guard lock(mutex_);
    for (const auto& [path, n] : nodes_) {
        std::error_code ec;
        uint64_t actual = std::filesystem::file_size(path, ec);
        if (ec || actual <= n->durable_size) {
            continue;
        }
        uint64_t keep = n->durable_size;
        if (seed) {
            keep += rng() % (actual - keep + 1);
        }
        std::filesystem::resize_file(path, keep);
    }
    nodes_.clear();
}

result<std::unique_ptr<storage::file>> fault_fs::open(const std::filesystem::path& p,
                                                      storage::open_mode m) {
    if (m == storage::open_mode::read_write && !admit_change()) {
        return io_error();
    }
    SLUICE_TRY(auto f, base_.open(p, m));
    std::shared_ptr<node> n;
    if (m == storage::open_mode::read_write) {
        SLUICE_TRY(uint64_t size, f->size());
        std::lock_guard lock(mutex_);
        auto& slot = nodes_[p];
        if (!slot) {
            // First seen in this boot: what is on disk already counts as durable.
            slot = std::make_shared<node>(node{.durable_size = size});
        }
        n = slot;
    } else if (m == storage::open_mode::read_only) {
        // fsync works on the inode, whichever handle asks: a read-only handle's sync makes a
        // file written through another one durable.
        std::lock_guard lock(mutex_);
        if (auto it = nodes_.find(p); it != nodes_.end()) {
            n = it->second;
        }
    }
    bool is_directory = m == storage::open_mode::directory;
    return std::unique_ptr<storage::file>(
        new fault_file(*this, std::move(f), std::move(n), is_directory));
}

result<std::vector<std::string>> fault_fs::list(const std::filesystem::path& dir) {
    return base_.list(dir);
}

result<void> fault_fs::create_directories(const std::filesystem::path& dir) {
    return base_.create_directories(dir);
}

result<void> fault_fs::rename(const std::filesystem::path& from, const std::filesystem::path& to) {
    if (!admit_change()) {
        return io_error();
    }
    SLUICE_TRY(base_.rename(from, to));
    std::lock_guard lock(mutex_);
    auto it = nodes_.find(from);
    if (it == nodes_.end()) {
        nodes_.erase(to);  // replaced by a file the crash model does not track
        return success();
    }
    nodes_[to] = it->second;
    nodes_.erase(it);
    return success();
}

result<void> fault_fs::remove(const std::filesystem::path& p) {
    if (!admit_change()) {
        return io_error();
    }
    SLUICE_TRY(base_.remove(p));
    std::lock_guard lock(mutex_);
    nodes_.erase(p);
    return success();
}

result<void> fault_fs::sync_directory(const std::filesystem::path& dir) {
    if (!admit_change()) {
        return io_error();
    }
    {
        std::lock_guard lock(mutex_);
        if (fail_directory_sync_) {
            ++failed_syncs_;
            return io_error();
        }
    }
    SLUICE_TRY(base_.sync_directory(dir));
    ++syncs_;
    return success();
}

result<bool> fault_fs::exists(const std::filesystem::path& p) {
    return base_.exists(p);
}

}  // namespace sluice::testing
