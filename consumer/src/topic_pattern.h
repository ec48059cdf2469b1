// A subscription pattern (subscribe_pattern): an ECMAScript regular expression that a topic name
// must match in full. std::regex stays inside topic_pattern.cpp.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "sluice/protocol/result.h"

namespace sluice::detail {

class topic_pattern {
  public:
    // The pattern, or client_errc::invalid_config saying why it is not one.
    static result<topic_pattern> compile(const std::string& text);

    bool matches(std::string_view topic) const;
    const std::string& text() const { return text_; }

  private:
    struct compiled;
    std::string text_;
    std::shared_ptr<const compiled> re_;
};

}  // namespace sluice::detail
