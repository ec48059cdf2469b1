// A record header as producers send it and consumers receive it (Kafka: a string key and a
// nullable byte value).
#pragma once

#include <optional>
#include <string>

namespace sluice {

struct header {
    std::string key;
    std::optional<std::string> value;
};

}  // namespace sluice
