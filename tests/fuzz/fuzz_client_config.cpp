// Fuzz target: the client configs, producer_config::from_properties and
// consumer_config::from_properties, with each value also read as a bootstrap list
// (split_servers, then parse_endpoint on every entry).
//
// The clients have no properties-file reader of their own: their properties arrive as
// `key=value` pairs (the `sluice` command's -X options). The input is split the same way, one
// pair per line at the first '='; a line without '=' is a key with an empty value.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "sluice/client/config.h"
#include "sluice/client/internal/config_parse.h"
#include "sluice/consumer/consumer.h"
#include "sluice/producer/producer.h"

namespace {

using namespace sluice;

volatile size_t sink;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::map<std::string, std::string> props;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        size_t eq = line.find('=');
        std::string_view value = eq == std::string_view::npos ? "" : line.substr(eq + 1);
        props[std::string(line.substr(0, eq))] = std::string(value);
    }

    auto p = producer_config::from_properties(props);
    sink = p ? p.value().bootstrap_servers.size() : p.error().message().size();
    auto c = consumer_config::from_properties(props);
    sink = c ? c.value().bootstrap_servers.size() : c.error().message().size();

    for (const auto& [key, value] : props) {
        for (const std::string& server : split_servers(value)) {
            auto e = client::parse_endpoint(server);
            sink = e ? e.value().text().size() : e.error().message().size();
        }
    }
    return 0;
}
