#include "topic_pattern.h"

#include <fmt/format.h>

// GCC 12 at -O1 warns inside libstdc++'s <regex> (a std::function of a regex state "may be used
// uninitialized"): a false positive in the library's code, not this file's.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop
#else
#include <regex>
#endif

#include "sluice/client/errc.h"

namespace sluice::detail {

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

struct topic_pattern::compiled {
    std::regex re;
};

result<topic_pattern> topic_pattern::compile(const std::string& text) {
    topic_pattern p;
    p.text_ = text;
    try {
        p.re_ =
            std::make_shared<const compiled>(compiled{std::regex(text, std::regex::ECMAScript)});
    } catch (const std::regex_error& e) {
        return make_client_error(
            client_errc::invalid_config,
            fmt::format("'{}' is not a regular expression: {}", text, e.what()));
    }
    return p;
}

bool topic_pattern::matches(std::string_view topic) const {
    return std::regex_match(topic.begin(), topic.end(), re_->re);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace sluice::detail
