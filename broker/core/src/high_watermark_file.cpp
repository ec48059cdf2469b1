#include "sluice/core/high_watermark_file.h"

#include <array>

#include "sluice/protocol/byte_order.h"
#include "sluice/storage/checkpoint.h"

namespace sluice::broker {

result<void> write_high_watermark(storage::file_system& fs, const std::filesystem::path& dir,
                                  offset_t hw) {
    std::array<std::byte, 8> payload{};
    store_be<int64_t>(payload.data(), hw.value());
    return storage::write_checkpoint(fs, dir / high_watermark_file, payload);
}

result<std::optional<offset_t>> read_high_watermark(storage::file_system& fs,
                                                    const std::filesystem::path& dir) {
    SLUICE_TRY(auto payload, storage::read_checkpoint(fs, dir / high_watermark_file));
    if (!payload || payload->size() != 8) {
        return std::optional<offset_t>{};
    }
    const int64_t hw = load_be<int64_t>(payload->data());
    if (hw < 0) {
        return std::optional<offset_t>{};
    }
    return std::optional<offset_t>{offset_t{hw}};
}

}  // namespace sluice::broker
