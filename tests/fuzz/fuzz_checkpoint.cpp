// Fuzz target: a storage checkpoint file (checkpoint.h) read back with read_checkpoint from an
// in-memory file system.
//
// Checks the format's one-to-one contract: a file that read_checkpoint accepts is exactly what
// write_checkpoint makes of the payload it returned, so writing that payload again gives the
// same bytes, which read back to the same payload.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "memory_fs.h"
#include "require.h"
#include "sluice/storage/checkpoint.h"

namespace {

using namespace sluice;

using fuzz::require;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
    fuzz::memory_fs fs;
    fs.put("/log/topic-0/recovery-point.checkpoint", in);

    auto payload = storage::read_checkpoint(fs, "/log/topic-0/recovery-point.checkpoint");
    require(payload.has_value());  // the memory file system has no I/O errors
    if (!payload.value()) {
        return 0;
    }
    const std::vector<std::byte>& p = *payload.value();
    require(storage::write_checkpoint(fs, "/log/topic-0/copy.checkpoint", p).has_value());
    auto written = fs.get("/log/topic-0/copy.checkpoint");
    require(std::equal(written.begin(), written.end(), in.begin(), in.end()));
    auto again = storage::read_checkpoint(fs, "/log/topic-0/copy.checkpoint");
    require(again.has_value() && again.value() && *again.value() == p);
    return 0;
}
