// The file-system seam. Storage never calls POSIX directly: it goes through `file_system` and
// `file`, so tests can swap in a version that fails writes, fsyncs or writes short, and that can
// drop whatever was not fsynced (tests/support/fault_fs.h).
//
// Thread contract: a `file` may be used from two threads at once when one only appends, reads
// and truncates (the log's owner) and the other only calls sync() (the flusher).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sluice/protocol/result.h"

namespace sluice::storage {

class file {
  public:
    virtual ~file() = default;

    // Writes at the end of the file. May write fewer bytes than asked (a short write) and then
    // returns how many; an error means nothing more can be said about what reached the file.
    virtual result<size_t> append(std::span<const std::byte> data) = 0;
    // Reads up to out.size() bytes at `pos`; fewer only at the end of the file.
    virtual result<size_t> read_at(uint64_t pos, std::span<std::byte> out) = 0;
    // As read_at, but only from the page cache, never waiting for the disk (preadv2 with
    // RWF_NOWAIT), so that a network thread may call it: fewer bytes where the rest is not
    // cached, and std::errc::operation_would_block where nothing at `pos` is. The default knows
    // of no cache and always answers that.
    virtual result<size_t> read_cached(uint64_t /*pos*/, std::span<std::byte> /*out*/) {
        return make_error_code(std::errc::operation_would_block);
    }
    // Makes everything written so far durable (fdatasync).
    virtual result<void> sync() = 0;
    virtual result<void> truncate(uint64_t size) = 0;
    virtual result<uint64_t> size() = 0;
    // Reserves disk blocks for [pos, pos + length) without changing the file's size, so that
    // later writes there only fill blocks already allocated (fallocate with KEEP_SIZE). Blocks
    // reserved past the end are freed by truncate(size()). A hint: an error (no space, or a file
    // system without it) changes nothing else. The default reserves nothing.
    virtual result<void> reserve(uint64_t /*pos*/, uint64_t /*length*/) { return success(); }
    // The operating system's descriptor, for zero-copy sends (sendfile), or -1 where there is
    // none (files of a test file system): callers then fall back to read_at().
    virtual int native_handle() const { return -1; }
};

enum class open_mode {
    read_only,
    read_write,  // creates the file if missing
    directory,   // a directory, opened so that sync() makes its entries durable
};

class file_system {
  public:
    virtual ~file_system() = default;

    virtual result<std::unique_ptr<file>> open(const std::filesystem::path& p, open_mode m) = 0;
    // Names (not paths) of the entries in `dir`.
    virtual result<std::vector<std::string>> list(const std::filesystem::path& dir) = 0;
    virtual result<void> create_directories(const std::filesystem::path& dir) = 0;
    // Atomically replaces `to` with `from`.
    virtual result<void> rename(const std::filesystem::path& from,
                                const std::filesystem::path& to) = 0;
    // Removes a file or an empty directory; a missing one is not an error.
    virtual result<void> remove(const std::filesystem::path& p) = 0;
    // Makes the directory's entries (creations, renames, removals) durable.
    virtual result<void> sync_directory(const std::filesystem::path& dir) = 0;
    virtual result<bool> exists(const std::filesystem::path& p) = 0;
};

// The real file system. One shared instance; stateless.
file_system& posix_file_system();

// Writes all of `data`, looping over short writes. On error, `written` says how many bytes
// reached the file before it, so that the caller can cut them off again.
result<void> append_all(file& f, std::span<const std::byte> data, size_t& written);

// Reads exactly out.size() bytes at `pos`; errc::corrupt_message when the file ends first.
result<void> read_exact(file& f, uint64_t pos, std::span<std::byte> out);

}  // namespace sluice::storage
