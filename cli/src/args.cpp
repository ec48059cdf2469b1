#include "sluice/cli/args.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace sluice::cli {
namespace {

const option* find_long(std::span<const option> options, std::string_view name) {
    auto it = std::find_if(options.begin(), options.end(),
                           [&](const option& o) { return o.long_name == name; });
    return it == options.end() ? nullptr : &*it;
}

const option* find_short(std::span<const option> options, char name) {
    auto it = std::find_if(options.begin(), options.end(), [&](const option& o) {
        return o.short_name != 0 && o.short_name == name;
    });
    return it == options.end() ? nullptr : &*it;
}

std::string spelling(const option& o) {
    return o.short_name != 0 ? fmt::format("-{}/--{}", o.short_name, o.long_name)
                             : fmt::format("--{}", o.long_name);
}

// Records one occurrence of `o` with `value` (empty for flags).
cli_result<void> add(parsed_args& out, const option& o, std::string value) {
    auto& slot = out.values[std::string(o.long_name)];
    if (!slot.empty() && !o.repeatable) {
        return cli_error(fmt::format("option {} given more than once", spelling(o)));
    }
    slot.push_back(std::move(value));
    return boost::outcome_v2::success();
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

}  // namespace

std::optional<std::string> parsed_args::get(std::string_view long_name) const {
    auto it = values.find(long_name);
    if (it == values.end() || it->second.empty()) {
        return std::nullopt;
    }
    return it->second.back();
}

std::vector<std::string> parsed_args::all(std::string_view long_name) const {
    auto it = values.find(long_name);
    return it == values.end() ? std::vector<std::string>{} : it->second;
}

cli_result<parsed_args> parse_args(std::span<const std::string> words,
                                   std::span<const option> options) {
    parsed_args out;
    bool options_ended = false;
    for (size_t i = 0; i < words.size(); ++i) {
        const std::string& w = words[i];
        if (options_ended || w.size() < 2 || w[0] != '-') {
            out.positional.push_back(w);
            continue;
        }
        if (w == "--") {
            options_ended = true;
            continue;
        }
        if (w == "--help" || w == "-h") {
            out.help = true;
            continue;
        }
        const option* o = nullptr;
        std::optional<std::string> inline_value;
        if (w.starts_with("--")) {
            std::string_view body = std::string_view(w).substr(2);
            auto eq = body.find('=');
            std::string_view name = body.substr(0, eq);
            o = find_long(options, name);
            if (o == nullptr) {
                return cli_error(fmt::format("unknown option '--{}'", name));
            }
            if (eq != std::string_view::npos) {
                inline_value = std::string(body.substr(eq + 1));
            }
        } else {
            o = find_short(options, w[1]);
            if (o == nullptr) {
                return cli_error(fmt::format("unknown option '-{}'", w[1]));
            }
            if (w.size() > 2) {
                if (o->value_name.empty()) {
                    return cli_error(fmt::format("unknown option '{}'", w));
                }
                inline_value = w.substr(2);
            }
        }
        if (o->value_name.empty()) {
            if (inline_value) {
                return cli_error(fmt::format("option {} takes no value", spelling(*o)));
            }
            if (auto r = add(out, *o, ""); !r) {
                return cli_error(r.error());
            }
            continue;
        }
        std::string value;
        if (inline_value) {
            value = std::move(*inline_value);
        } else if (i + 1 < words.size()) {
            value = words[++i];
        } else {
            return cli_error(
                fmt::format("option {} needs a value ({})", spelling(*o), o->value_name));
        }
        if (auto r = add(out, *o, std::move(value)); !r) {
            return cli_error(r.error());
        }
    }
    return out;
}

std::string usage_text(std::string_view synopsis, std::string_view description,
                       std::span<const option> options) {
    std::string out = fmt::format("Usage: {}\n\n{}\n", synopsis, description);
    if (options.empty()) {
        return out;
    }
    std::vector<std::string> left;
    size_t width = 0;
    for (const option& o : options) {
        std::string l = o.short_name != 0 ? fmt::format("-{}, --{}", o.short_name, o.long_name)
                                          : fmt::format("    --{}", o.long_name);
        if (!o.value_name.empty()) {
            l += fmt::format(" {}", o.value_name);
        }
        width = std::max(width, l.size());
        left.push_back(std::move(l));
    }
    out += "\nOptions:\n";
    for (size_t i = 0; i < options.size(); ++i) {
        out += fmt::format("  {:<{}}  {}{}\n", left[i], width, options[i].help,
                           options[i].repeatable ? " (repeatable)" : "");
    }
    out += fmt::format("  {:<{}}  {}\n", "-h, --help", width, "print this help");
    return out;
}

cli_result<int64_t> parse_int(std::string_view text, std::string_view what, int64_t min,
                              int64_t max) {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
        return cli_error(fmt::format("{}: '{}' is not an integer", what, text));
    }
    if (v < min || v > max) {
        return cli_error(fmt::format("{}: {} is out of range [{}, {}]", what, v, min, max));
    }
    return v;
}

cli_result<std::pair<std::string, std::string>> parse_key_value(std::string_view text,
                                                                std::string_view what) {
    auto eq = text.find('=');
    if (eq == std::string_view::npos || eq == 0) {
        return cli_error(fmt::format("{}: expected key=value, got '{}'", what, text));
    }
    return std::pair{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
}

cli_result<std::map<std::string, std::string>> parse_properties(
    const std::vector<std::string>& items, std::string_view what) {
    std::map<std::string, std::string> out;
    for (const std::string& item : items) {
        auto kv = parse_key_value(item, what);
        if (!kv) {
            return cli_error(kv.error());
        }
        out[kv.value().first] = kv.value().second;
    }
    return out;
}

cli_result<std::string> unescape(std::string_view text, std::string_view what) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '\\' || i + 1 == text.size()) {
            out += text[i];
            continue;
        }
        char c = text[++i];
        switch (c) {
            case 'n':
                out += '\n';
                break;
            case 'r':
                out += '\r';
                break;
            case 't':
                out += '\t';
                break;
            case '\\':
                out += '\\';
                break;
            case 'x': {
                int hi = i + 1 < text.size() ? hex_digit(text[i + 1]) : -1;
                int lo = i + 2 < text.size() ? hex_digit(text[i + 2]) : -1;
                if (hi < 0 || lo < 0) {
                    return cli_error(fmt::format("{}: \\x needs two hex digits", what));
                }
                out += char(hi * 16 + lo);
                i += 2;
                break;
            }
            default:
                out += '\\';
                out += c;
        }
    }
    return out;
}

}  // namespace sluice::cli
