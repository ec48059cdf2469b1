// Where the corpus recorder puts what it sees: whole frames, in each direction, as seed files of
// the frame target, and the record batches inside produce requests and fetch responses as seeds
// of the record-batch target.
//
//   <out>/frame/req-<ApiKey>-<crc>        a client -> broker frame
//   <out>/frame/resp-<Body>-<crc>         a broker -> client frame
//   <out>/record_batch/batch-<crc>        one batch
//
// The corpus is meant to stay small and varied, so a frame is kept only if no kept frame of the
// same kind (direction and API key, or response body) has its size: frames that differ only in
// correlation ids or timestamps add nothing. Each kind keeps at most kind_files_max frames, the
// batches at most batch_files_max, and nothing larger than file_bytes_max is kept.
//
// Thread-safe: the proxy's relay threads call add() at once.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <utility>

namespace sluice::fuzz {

enum class direction { request, response };

class frame_sink {
  public:
    struct limits {
        size_t kind_files_max = 8;
        size_t batch_files_max = 32;
        size_t file_bytes_max = 16 << 10;
    };

    frame_sink(std::filesystem::path out, limits l);

    // One whole frame, header included.
    void add(direction d, std::span<const std::byte> frame);

    // "frames=N kept=K batches=B", for the recorder's last line.
    std::string summary() const;

  private:
    void add_batches(std::span<const std::byte> records, bool allow_partial_tail);
    void write(const std::filesystem::path& p, std::span<const std::byte> bytes);

    const std::filesystem::path out_;
    const limits limits_;
    mutable std::mutex mutex_;
    size_t frames_ = 0;                                      // guarded by mutex_
    size_t kept_ = 0;                                        // guarded by mutex_
    std::map<std::string, std::set<size_t>> sizes_by_kind_;  // guarded by mutex_
    std::set<std::pair<size_t, uint32_t>> batches_;          // size and CRC; guarded by mutex_
};

}  // namespace sluice::fuzz
