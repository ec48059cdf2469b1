#include "sluice/core/topic_admin.h"

#include <fmt/format.h>

namespace sluice::broker {

std::optional<std::string> topic_name_problem(std::string_view name) {
    if (name.empty()) {
        return std::string("topic name is empty");
    }
    if (name == "." || name == "..") {
        return fmt::format("topic name cannot be '{}'", name);
    }
    if (name.size() > topic_name_max) {
        return fmt::format("topic name is {} characters long; the limit is {}", name.size(),
                           topic_name_max);
    }
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) {
            return std::string(
                "topic name may only contain ASCII letters, digits, '.', '_' and '-'");
        }
    }
    if (name == reserved_metadata_topic) {
        return fmt::format("topic name '{}' is reserved: it names the metadata log", name);
    }
    return std::nullopt;
}

}  // namespace sluice::broker
