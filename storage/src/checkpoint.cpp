#include "sluice/storage/checkpoint.h"

#include <cstring>

#include "sluice/protocol/byte_order.h"
#include "sluice/protocol/crc32c.h"
#include "sluice/protocol/errc.h"

namespace sluice::storage {
namespace {

constexpr uint32_t checkpoint_magic = 0x534c434b;  // "SLCK"
constexpr uint32_t checkpoint_version = 1;
constexpr size_t prefix_size = 12;
constexpr size_t suffix_size = 4;

}  // namespace

result<void> write_checkpoint(file_system& fs, const std::filesystem::path& path,
                              std::span<const std::byte> payload, size_t payload_max) {
    if (payload.size() > payload_max) {
        return make_error_code(errc::message_too_large);
    }
    std::vector<std::byte> buf(prefix_size + payload.size() + suffix_size);
    store_be<uint32_t>(buf.data(), checkpoint_magic);
    store_be<uint32_t>(buf.data() + 4, checkpoint_version);
    store_be<uint32_t>(buf.data() + 8, uint32_t(payload.size()));
    if (!payload.empty()) {
        std::memcpy(buf.data() + prefix_size, payload.data(), payload.size());
    }
    size_t body = prefix_size + payload.size();
    store_be<uint32_t>(buf.data() + body, crc32c::value({buf.data(), body}));

    auto tmp = path;
    tmp += ".tmp";
    SLUICE_TRY(fs.remove(tmp));
    {
        SLUICE_TRY(auto f, fs.open(tmp, open_mode::read_write));
        size_t written = 0;
        SLUICE_TRY(append_all(*f, buf, written));
        SLUICE_TRY(f->sync());
    }
    SLUICE_TRY(fs.rename(tmp, path));
    return fs.sync_directory(path.parent_path());
}

result<std::optional<std::vector<std::byte>>> read_checkpoint(file_system& fs,
                                                              const std::filesystem::path& path,
                                                              size_t payload_max) {
    using none = std::optional<std::vector<std::byte>>;
    SLUICE_TRY(bool present, fs.exists(path));
    if (!present) {
        return none{};
    }
    SLUICE_TRY(auto f, fs.open(path, open_mode::read_only));
    SLUICE_TRY(uint64_t size, f->size());
    if (size < prefix_size + suffix_size || size > prefix_size + payload_max + suffix_size) {
        return none{};
    }
    std::vector<std::byte> buf(size);
    SLUICE_TRY(read_exact(*f, 0, buf));
    uint32_t len = load_be<uint32_t>(buf.data() + 8);
    if (load_be<uint32_t>(buf.data()) != checkpoint_magic ||
        load_be<uint32_t>(buf.data() + 4) != checkpoint_version ||
        prefix_size + size_t(len) + suffix_size != size) {
        return none{};
    }
    size_t body = prefix_size + len;
    if (load_be<uint32_t>(buf.data() + body) != crc32c::value({buf.data(), body})) {
        return none{};
    }
    return none{std::vector<std::byte>(buf.begin() + prefix_size, buf.begin() + body)};
}

}  // namespace sluice::storage
