#include "sluice/cli/format.h"

#include <fmt/format.h>

namespace sluice::cli {

cli_result<output_format> output_format::parse(std::string_view spec, std::string_view option) {
    auto text = unescape(spec, option);
    if (!text) {
        return cli_error(text.error());
    }
    const std::string& s = text.value();
    output_format f;
    std::string literal;
    auto flush_literal = [&] {
        if (!literal.empty()) {
            f.pieces_.push_back({kind::literal, std::move(literal)});
            literal.clear();
        }
    };
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            literal += s[i];
            continue;
        }
        if (i + 1 == s.size()) {
            return cli_error(fmt::format("{}: the format ends in a lone '%'", option));
        }
        char c = s[++i];
        kind k;
        switch (c) {
            case '%':
                literal += '%';
                continue;
            case 's':
                k = kind::value;
                break;
            case 'S':
                k = kind::value_length;
                break;
            case 'k':
                k = kind::key;
                break;
            case 'K':
                k = kind::key_length;
                break;
            case 'o':
                k = kind::offset;
                break;
            case 'p':
                k = kind::partition;
                break;
            case 't':
                k = kind::topic;
                break;
            case 'T':
                k = kind::timestamp;
                break;
            case 'h':
                k = kind::headers;
                f.uses_headers_ = true;
                break;
            default:
                return cli_error(fmt::format("{}: unsupported token '%{}'", option, c));
        }
        flush_literal();
        f.pieces_.push_back({k, {}});
    }
    flush_literal();
    return f;
}

void output_format::append(const record_fields& r, std::string& out) const {
    auto length = [](const std::optional<std::string_view>& v) -> int64_t {
        return v ? int64_t(v->size()) : -1;
    };
    for (const piece& p : pieces_) {
        switch (p.what) {
            case kind::literal:
                out += p.text;
                break;
            case kind::value:
                if (r.value) {
                    out += *r.value;
                }
                break;
            case kind::value_length:
                fmt::format_to(std::back_inserter(out), "{}", length(r.value));
                break;
            case kind::key:
                if (r.key) {
                    out += *r.key;
                }
                break;
            case kind::key_length:
                fmt::format_to(std::back_inserter(out), "{}", length(r.key));
                break;
            case kind::offset:
                fmt::format_to(std::back_inserter(out), "{}", r.offset);
                break;
            case kind::partition:
                fmt::format_to(std::back_inserter(out), "{}", r.partition);
                break;
            case kind::topic:
                out += r.topic;
                break;
            case kind::timestamp:
                fmt::format_to(std::back_inserter(out), "{}", r.timestamp_ms);
                break;
            case kind::headers:
                for (size_t i = 0; i < r.headers.size(); ++i) {
                    if (i > 0) {
                        out += ',';
                    }
                    out += r.headers[i].first;
                    out += '=';
                    if (r.headers[i].second) {
                        out += *r.headers[i].second;
                    }
                }
                break;
        }
    }
}

}  // namespace sluice::cli
