// The output format of `sluice consume -f` and `sluice produce --report`, with kcat's tokens:
//   %s value   %S value length (-1 for null)   %k key   %K key length (-1 for null)
//   %o offset  %p partition   %t topic   %T timestamp (ms since the epoch)
//   %h headers as name=value, comma separated   %% a percent sign
//   \n \r \t \\ \xNN escapes
// A null key or value prints as nothing, as kcat does without -Z. The format is compiled once
// into a list of pieces and then applied to every record.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/cli/args.h"

namespace sluice::cli {

// What a format can print about one record; views stay valid for the call only.
struct record_fields {
    std::string_view topic;
    int32_t partition = 0;
    int64_t offset = 0;
    int64_t timestamp_ms = 0;
    std::optional<std::string_view> key;
    std::optional<std::string_view> value;
    std::vector<std::pair<std::string_view, std::optional<std::string_view>>> headers;
};

class output_format {
  public:
    // Errors name the option and the unsupported token ("-f: unsupported token '%x'").
    static cli_result<output_format> parse(std::string_view spec, std::string_view option = "-f");

    // Appends the formatted record to `out`.
    void append(const record_fields& r, std::string& out) const;

    // True if the format prints headers (so callers can skip collecting them otherwise).
    bool uses_headers() const { return uses_headers_; }

  private:
    enum class kind : uint8_t {
        literal,
        value,
        value_length,
        key,
        key_length,
        offset,
        partition,
        topic,
        timestamp,
        headers,
    };
    struct piece {
        kind what;
        std::string text;  // for literal
    };
    std::vector<piece> pieces_;
    bool uses_headers_ = false;
};

}  // namespace sluice::cli
