// A file system held in memory, for fuzz targets that feed storage and the broker's metadata
// store with file contents taken from the fuzzer's input: no disk I/O, nothing left behind, and
// every run starts from exactly the files it was given.
//
// Semantics follow POSIX closely enough for the storage layer: files live in directories that
// must exist; a directory is removed only when empty; rename replaces the target; sync() and
// sync_directory() succeed and do nothing (there is no crash to survive). Paths are compared
// after lexically_normal(). Files grow up to file_bytes_max, then append fails with ENOSPC, so a
// hostile input cannot make a target allocate without bound.
//
// One thread at a time; file handles share the bytes of their file, so a handle that outlives a
// remove() keeps the old contents, as an open POSIX file does.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "sluice/storage/file_system.h"

namespace sluice::fuzz {

class memory_fs final : public storage::file_system {
  public:
    static constexpr size_t file_bytes_max = 64u << 20;

    memory_fs() = default;
    memory_fs(const memory_fs&) = delete;
    memory_fs& operator=(const memory_fs&) = delete;

    // Creates `p` (and its parent directories) holding `bytes`, replacing any file there.
    void put(const std::filesystem::path& p, std::span<const std::byte> bytes);
    // As put(), but only for non-empty `bytes`: an empty file of a bundle stands for none.
    void put_if_any(const std::filesystem::path& p, std::span<const std::byte> bytes) {
        if (!bytes.empty()) {
            put(p, bytes);
        }
    }
    // The bytes of the file at `p`; empty if there is none.
    std::vector<std::byte> get(const std::filesystem::path& p) const;

    result<std::unique_ptr<storage::file>> open(const std::filesystem::path& p,
                                                storage::open_mode m) override;
    result<std::vector<std::string>> list(const std::filesystem::path& dir) override;
    result<void> create_directories(const std::filesystem::path& dir) override;
    result<void> rename(const std::filesystem::path& from,
                        const std::filesystem::path& to) override;
    result<void> remove(const std::filesystem::path& p) override;
    result<void> sync_directory(const std::filesystem::path& dir) override;
    result<bool> exists(const std::filesystem::path& p) override;

  private:
    using bytes = std::vector<std::byte>;

    std::map<std::filesystem::path, std::shared_ptr<bytes>> files_;
    std::set<std::filesystem::path> dirs_{"/"};
};

}  // namespace sluice::fuzz
