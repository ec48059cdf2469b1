// A file system for tests that wraps a real one and injects the faults a disk can produce: a full
// disk (ENOSPC), short writes, failing fsyncs and truncates, and a machine crash that loses what
// was never fsynced.
//
// Threading: a `file` from this file system may be appended to by one thread while another
// syncs it (the flusher), as file_system.h allows; the knobs and counters may be set and read
// from any thread at any time. One mutex guards the knobs and the crash bookkeeping; it is never
// held across a sync of the wrapped file system.
//
// Crash model (drop_unsynced): data-level granularity per file. Each file written through this
// file system remembers the size it had when its last successful sync() began; a crash cuts it
// back to that size (0 if never synced). A truncate is treated as durable at once (it can only
// lower that size). Directory entries (creations, renames, removals) are assumed durable, so a
// file created and never synced survives a crash as an empty file. Files that were already on
// disk when first opened here count as synced at the size they had then.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>

#include "sluice/storage/file_system.h"

namespace sluice::testing {

class fault_fs final : public storage::file_system {
  public:
    explicit fault_fs(storage::file_system& base = storage::posix_file_system()) : base_(base) {}
    fault_fs(const fault_fs&) = delete;
    fault_fs& operator=(const fault_fs&) = delete;

    // --- knobs ----------------------------------------------------------------------------------

    // Writes fail with ENOSPC once `bytes` more bytes have been written, counted across all
    // files: the write that crosses the limit writes only what fits (a short write), the next
    // one fails.
    void set_space_left(uint64_t bytes);
    // Every append writes at most `bytes` and returns that count (0: no limit).
    void set_short_writes(size_t bytes);
    // Syncs of files (and, if `directories`, of directories) fail with EIO.
    void set_fail_sync(bool files, bool directories = false);
    // Every sync of a file takes at least this long, as on a real disk; a sync that is under
    // way when set_fail_sync() is called fails too, as if the crash came before it ended.
    void set_sync_delay(std::chrono::microseconds delay);
    // Truncates fail with EIO.
    void set_fail_truncate(bool fail);
    // read_cached answers for the bytes of each file below `pos` (read from the disk, counted
    // in cached_reads) and says the page cache lacks any from there on. Default 0: it lacks
    // every byte, as the base class says.
    void set_cached_below(uint64_t pos) { cached_below_.store(pos); }
    // The machine stops after `ops` more changes (appends, syncs, truncates, renames, removals,
    // opens for writing, directory syncs): every later one fails with EIO and changes nothing,
    // so drop_unsynced() then shows the disk as a crash at that point would leave it. nullopt:
    // never.
    void set_crash_after(std::optional<uint64_t> ops);
    // Turns every fault off.
    void clear_faults();

    // --- crash ----------------------------------------------------------------------------------

    // Cuts every file written through this file system back to its durable size (see the model
    // above) and starts a new "boot": whatever is on disk now counts as durable. Call it only
    // when no file from here is open any more (the log and the flusher are gone); throws
    // std::logic_error otherwise.
    void drop_unsynced();
    // As drop_unsynced(), but each file keeps a random prefix of its unsynced bytes, as when the
    // page cache was partly written back before the crash (a torn tail).
    void drop_unsynced_keep_random(uint64_t seed);

    // --- counters -------------------------------------------------------------------------------

    uint64_t writes() const { return writes_.load(); }  // append() calls that wrote bytes
    uint64_t bytes_written() const { return bytes_written_.load(); }
    uint64_t syncs() const { return syncs_.load(); }  // successful syncs, files and directories
    uint64_t failed_syncs() const { return failed_syncs_.load(); }
    uint64_t failed_writes() const { return failed_writes_.load(); }
    uint64_t cached_reads() const { return cached_reads_.load(); }  // read_cached calls served
    uint64_t changes() const { return changes_.load(); }  // the changes set_crash_after counts

    // --- file_system ----------------------------------------------------------------------------

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
    friend class fault_file;

    // What the crash model knows about one file (an inode: it follows renames).
    struct node {
        uint64_t durable_size = 0;
        uint64_t truncations = 0;  // lets a sync that raced with a truncate record nothing
    };

    // Counts a change; false once the machine has stopped (set_crash_after).
    bool admit_change();
    // Decides how many of `wanted` bytes the next append may write; 0 means it fails (ENOSPC).
    size_t admit_write(size_t wanted);
    void account_write(size_t asked, size_t written);
    void drop(std::optional<uint64_t> seed);

    storage::file_system& base_;
    mutable std::mutex mutex_;
    // Knobs, guarded by mutex_.
    std::optional<uint64_t> space_left_;
    size_t short_write_bytes_ = 0;
    bool fail_file_sync_ = false;
    bool fail_directory_sync_ = false;
    bool fail_truncate_ = false;
    std::chrono::microseconds sync_delay_{0};
    std::optional<uint64_t> changes_left_;
    // Files written or opened for writing in this boot, by their current path; guarded by mutex_.
    std::map<std::filesystem::path, std::shared_ptr<node>> nodes_;

    std::atomic<int> open_files_{0};
    std::atomic<uint64_t> writes_{0};
    std::atomic<uint64_t> bytes_written_{0};
    std::atomic<uint64_t> syncs_{0};
    std::atomic<uint64_t> failed_syncs_{0};
    std::atomic<uint64_t> failed_writes_{0};
    std::atomic<uint64_t> cached_below_{0};
    std::atomic<uint64_t> cached_reads_{0};
    std::atomic<uint64_t> changes_{0};
};

}  // namespace sluice::testing
