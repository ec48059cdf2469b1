// file_system over POSIX calls. Every errno becomes an error_code value; nothing throws.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

#include "sluice/protocol/errc.h"
#include "sluice/storage/file_system.h"

namespace sluice::storage {
namespace {

class posix_file final : public file {
  public:
    posix_file(int fd, bool is_directory) : fd_(fd), is_directory_(is_directory) {}
    ~posix_file() override { ::close(fd_); }
    posix_file(const posix_file&) = delete;
    posix_file& operator=(const posix_file&) = delete;

    result<size_t> append(std::span<const std::byte> data) override {
        for (;;) {
            ssize_t n = ::write(fd_, data.data(), data.size());
            if (n >= 0) {
                return size_t(n);
            }
            if (errno != EINTR) {
                return errno_code();
            }
        }
    }

    result<size_t> read_at(uint64_t pos, std::span<std::byte> out) override {
        size_t done = 0;
        while (done < out.size()) {
            ssize_t n = ::pread(fd_, out.data() + done, out.size() - done, off_t(pos + done));
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                return errno_code();
            }
            if (n == 0) {
                break;
            }
            done += size_t(n);
        }
        return done;
    }

    result<size_t> read_cached(uint64_t pos, std::span<std::byte> out) override {
#if defined(__linux__) && defined(RWF_NOWAIT)
        iovec v{out.data(), out.size()};
        for (;;) {
            const ssize_t n = ::preadv2(fd_, &v, 1, off_t(pos), RWF_NOWAIT);
            if (n >= 0) {
                return size_t(n);
            }
            if (errno == EAGAIN || errno == EOPNOTSUPP) {
                return make_error_code(std::errc::operation_would_block);
            }
            if (errno != EINTR) {
                return errno_code();
            }
        }
#else
        return file::read_cached(pos, out);
#endif
    }

    result<void> sync() override {
        // A directory needs fsync for its entries; a file's data needs only fdatasync.
        if ((is_directory_ ? ::fsync(fd_) : ::fdatasync(fd_)) != 0) {
            return errno_code();
        }
        return success();
    }

    result<void> truncate(uint64_t size) override {
        if (::ftruncate(fd_, off_t(size)) != 0) {
            return errno_code();
        }
        return success();
    }

    result<void> reserve(uint64_t pos, uint64_t length) override {
#if defined(__linux__)
        for (;;) {
            if (::fallocate(fd_, FALLOC_FL_KEEP_SIZE, off_t(pos), off_t(length)) == 0) {
                return success();
            }
            if (errno != EINTR) {
                return errno_code();
            }
        }
#else
        (void)pos;
        (void)length;
        return make_error_code(std::errc::operation_not_supported);
#endif
    }

    result<uint64_t> size() override {
        struct stat st {};
        if (::fstat(fd_, &st) != 0) {
            return errno_code();
        }
        return uint64_t(st.st_size);
    }

    int native_handle() const override {
        return fd_;
    }

  private:
    int fd_;
    bool is_directory_;
};

class posix_fs final : public file_system {
  public:
    result<std::unique_ptr<file>> open(const std::filesystem::path& p, open_mode m) override {
        // O_APPEND: writes always land at the current end, also after a truncate.
        int flags = O_RDONLY;
        if (m == open_mode::read_write) {
            flags = O_RDWR | O_CREAT | O_APPEND;
        } else if (m == open_mode::directory) {
            flags = O_RDONLY | O_DIRECTORY;
        }
        int fd = ::open(p.c_str(), flags | O_CLOEXEC, 0644);
        if (fd < 0) {
            return errno_code();
        }
        return std::unique_ptr<file>(new posix_file(fd, m == open_mode::directory));
    }

    result<std::vector<std::string>> list(const std::filesystem::path& dir) override {
        DIR* d = ::opendir(dir.c_str());
        if (d == nullptr) {
            return errno_code();
        }
        std::vector<std::string> names;
        while (dirent* e = ::readdir(d)) {
            std::string name = e->d_name;
            if (name != "." && name != "..") {
                names.push_back(std::move(name));
            }
        }
        ::closedir(d);
        return names;
    }

    result<void> create_directories(const std::filesystem::path& dir) override {
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        if (ec) {
            return ec;
        }
        return success();
    }

    result<void> rename(const std::filesystem::path& from,
                        const std::filesystem::path& to) override {
        if (::rename(from.c_str(), to.c_str()) != 0) {
            return errno_code();
        }
        return success();
    }

    result<void> remove(const std::filesystem::path& p) override {
        if (::remove(p.c_str()) != 0 && errno != ENOENT) {
            return errno_code();
        }
        return success();
    }

    result<void> sync_directory(const std::filesystem::path& dir) override {
        int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            return errno_code();
        }
        int rc = ::fsync(fd);
        int saved = errno;
        ::close(fd);
        if (rc != 0) {
            return std::error_code(saved, std::generic_category());
        }
        return success();
    }

    result<bool> exists(const std::filesystem::path& p) override {
        struct stat st {};
        if (::stat(p.c_str(), &st) == 0) {
            return true;
        }
        if (errno == ENOENT) {
            return false;
        }
        return errno_code();
    }
};

}  // namespace

file_system& posix_file_system() {
    static posix_fs instance;
    return instance;
}

result<void> append_all(file& f, std::span<const std::byte> data, size_t& written) {
    written = 0;
    while (written < data.size()) {
        SLUICE_TRY(auto n, f.append(data.subspan(written)));
        if (n == 0) {
            return std::make_error_code(std::errc::io_error);
        }
        written += n;
    }
    return success();
}

result<void> read_exact(file& f, uint64_t pos, std::span<std::byte> out) {
    SLUICE_TRY(auto n, f.read_at(pos, out));
    if (n != out.size()) {
        return make_error_code(errc::corrupt_message);
    }
    return success();
}

}  // namespace sluice::storage
