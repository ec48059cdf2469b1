#include "sluice/core/partition_identity.h"

#include <cstring>
#include <vector>

#include "sluice/storage/checkpoint.h"

namespace sluice::broker {

namespace {
constexpr std::string_view prefix = "topic_id: ";
}

result<void> write_partition_topic_id(storage::file_system& fs, const std::filesystem::path& dir,
                                      std::string_view topic_id) {
    std::string text = std::string(prefix) + std::string(topic_id) + "\n";
    return storage::write_checkpoint(
        fs, dir / partition_identity_file,
        std::span(reinterpret_cast<const std::byte*>(text.data()), text.size()));
}

result<std::optional<std::string>> read_partition_topic_id(storage::file_system& fs,
                                                           const std::filesystem::path& dir) {
    SLUICE_TRY(bool present, fs.exists(dir / partition_identity_file));
    if (!present) {
        return std::optional<std::string>();
    }
    SLUICE_TRY(auto payload, storage::read_checkpoint(fs, dir / partition_identity_file));
    if (!payload) {
        return std::optional<std::string>();
    }
    std::string text(reinterpret_cast<const char*>(payload->data()), payload->size());
    if (!text.starts_with(prefix) || !text.ends_with("\n")) {
        return std::optional<std::string>();
    }
    return std::optional<std::string>(text.substr(prefix.size(), text.size() - prefix.size() - 1));
}

}  // namespace sluice::broker
