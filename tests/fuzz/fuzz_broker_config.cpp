// Fuzz target: the broker's configuration text.
//
// The input is read three ways, as the broker meets text: as a properties file (parse_properties,
// then make_config, then the topic-level configs over the broker's defaults with
// apply_topic_configs), as a command line with one argument per line (parse_command_line, then
// load_config when no --config file is named, which keeps it free of file I/O), and line by line
// as a listener (parse_listener) and a topic name (topic_name_problem). No file is opened.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/broker/command_line.h"
#include "sluice/broker/config.h"
#include "sluice/broker/topic_config.h"
#include "sluice/core/topic_admin.h"

namespace {

using namespace sluice::broker;

volatile size_t sink;

std::vector<std::string_view> lines_of(std::string_view text) {
    std::vector<std::string_view> out;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        out.push_back(text.substr(0, nl));
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    }
    return out;
}

// Everything a valid broker config feeds: the topic defaults, with the same properties tried
// as topic overrides.
void use_config(const broker_config& c, const properties& props) {
    sink = c.listen.to_string().size() + (c.advertised ? c.advertised->to_string().size() : 0);
    auto topic = apply_topic_configs(default_topic_settings(c), props);
    sink = topic ? size_t(topic.value().max_message_bytes) : topic.error().to_string().size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);

    auto props = parse_properties(text, "fuzz.properties");
    if (props) {
        auto config = make_config(props.value());
        if (config) {
            use_config(config.value(), props.value());
        } else {
            sink = config.error().to_string().size();
        }
    } else {
        sink = props.error().to_string().size();
    }

    auto lines = lines_of(text);
    auto cl = parse_command_line(lines);
    if (cl && !cl.value().config_file) {
        auto config = load_config(cl.value());
        if (config) {
            properties overrides;
            for (const auto& [key, value] : cl.value().overrides) {
                overrides[key] = value;  // a later override wins, as in load_config
            }
            use_config(config.value(), overrides);
        }
    }

    for (std::string_view line : lines) {
        auto l = parse_listener(line);
        sink = l ? l.value().to_string().size() : l.error().to_string().size();
        auto problem = topic_name_problem(line);
        sink = problem ? problem->size() : 0;
    }
    return 0;
}
