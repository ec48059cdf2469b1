// `sluice group list|describe|delete|reset-offsets`: consumer groups, as kafka-consumer-groups
// shows and changes them; thin wrappers over sluice::admin.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "command.h"
#include "sluice/client/admin.h"
#include "sluice/protocol/errc.h"
#include "table.h"

namespace sluice::cli {
namespace {

constexpr std::string_view group_help =
    "Usage: sluice group <list|describe|delete|reset-offsets> [options]\n"
    "\n"
    "Consumer groups: their members, assignments, committed offsets and lag.\n"
    "\n"
    "  sluice group list [--state]\n"
    "  sluice group describe GROUP\n"
    "  sluice group delete GROUP\n"
    "  sluice group reset-offsets GROUP --topic T (--to-earliest | --to-latest | --to-offset N |\n"
    "                             --to-datetime YYYY-MM-DDTHH:MM:SS[.mmm][Z] | --shift-by N)\n"
    "                             [--execute]\n"
    "\n"
    "Every subcommand takes -b/--bootstrap-server HOST:PORT[,...]. 'sluice group <sub> --help' "
    "shows its options.\n";

constexpr std::array common_options{bootstrap_option};
constexpr std::array list_options{
    bootstrap_option,
    option{'s', "state", "", "show each group's state and protocol type too"},
};
constexpr std::array reset_options{
    bootstrap_option,
    option{'t', "topic", "TOPIC", "the topic whose offsets to reset (every partition)"},
    option{0, "to-earliest", "", "to each partition's first offset"},
    option{0, "to-latest", "", "to each partition's end"},
    option{0, "to-offset", "N", "to offset N (kept within each partition's range)"},
    option{0, "to-datetime", "TIME",
           "to the first record at or after TIME: YYYY-MM-DDTHH:MM:SS[.mmm] in UTC (a trailing Z "
           "is allowed), or milliseconds since the epoch"},
    option{0, "shift-by", "N", "move each committed offset by N (negative: back)"},
    option{0, "execute", "", "commit the new offsets (without it: show them only)"},
};

std::string join_assignment(const std::map<std::string, std::vector<int32_t>>& a) {
    std::string out;
    for (const auto& [topic, parts] : a) {
        if (!out.empty()) {
            out += ' ';
        }
        out += topic + ':';
        for (size_t i = 0; i < parts.size(); ++i) {
            out += (i ? "," : "") + std::to_string(parts[i]);
        }
    }
    return out.empty() ? "-" : out;
}

int list(std::span<const std::string> words) {
    constexpr std::string_view cmd = "group list";
    int rc = exit_ok;
    auto a = parse_command(cmd, words, list_options, "sluice group list [--state]",
                           "Lists the consumer groups of every broker, sorted.", 0, rc);
    if (!a) {
        return rc;
    }
    auto s = connect(*a);
    if (!s) {
        return fail(error_line(cmd, s.error(), "", bootstrap_servers(*a)));
    }
    auto groups = s.value().client->list_groups();
    if (!groups) {
        return fail(error_line(cmd, groups.error(), "", s.value().servers));
    }
    if (!a->has("state")) {
        for (const auto& g : groups.value()) {
            std::printf("%s\n", g.group_id.c_str());
        }
        return exit_ok;
    }
    table tab({"GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR"});
    for (const auto& g : groups.value()) {
        tab.add({g.group_id, g.state, g.protocol_type.empty() ? "-" : g.protocol_type,
                 std::to_string(g.coordinator)});
    }
    std::fputs(tab.render("").c_str(), stdout);
    return exit_ok;
}

int describe(std::span<const std::string> words) {
    constexpr std::string_view cmd = "group describe";
    int rc = exit_ok;
    auto a = parse_command(cmd, words, common_options, "sluice group describe GROUP",
                           "Shows a group's state and members, and per partition its committed "
                           "offset, the log end\nand the lag between them.",
                           1, rc);
    if (!a) {
        return rc;
    }
    const std::string& group = a->positional[0];
    auto s = connect(*a);
    if (!s) {
        return fail(error_line(cmd, s.error(), "", bootstrap_servers(*a)));
    }
    admin& ad = *s.value().client;
    auto d = ad.describe_group(group);
    if (!d) {
        return fail(
            error_line(cmd, d.error(), fmt::format("group '{}'", group), s.value().servers));
    }
    auto offsets = ad.group_offsets(group);
    if (!offsets) {
        return fail(
            error_line(cmd, offsets.error(), fmt::format("group '{}'", group), s.value().servers));
    }
    if (d.value().state == "Dead" && offsets.value().empty()) {
        return fail(fmt::format("{}: {}: group '{}' does not exist", cmd,
                                errc_name(errc::group_id_not_found), group));
    }
    const auto& g = d.value();
    std::printf(
        "Group:        %s\nState:        %s\nProtocol:     %s\nGeneration:   %d\n"
        "Coordinator:  %d\nMembers:      %zu\n\n",
        g.group_id.c_str(), g.state.c_str(),
        g.protocol_type.empty() ? "-" : (g.protocol_type + "/" + g.protocol).c_str(), g.generation,
        g.coordinator, g.members.size());
    std::map<std::pair<std::string, int32_t>, const group_member_info*> owner;
    if (!g.members.empty()) {
        table members({"MEMBER-ID", "CLIENT-ID", "HOST", "INSTANCE-ID", "ASSIGNMENT"});
        for (const auto& m : g.members) {
            members.add({m.member_id, m.client_id, m.host, m.instance_id.value_or("-"),
                         join_assignment(m.assignment)});
            for (const auto& [topic, parts] : m.assignment) {
                for (int32_t p : parts) {
                    owner[{topic, p}] = &m;
                }
            }
        }
        std::fputs(members.render("").c_str(), stdout);
        std::printf("\n");
    }
    // Every partition the group has an offset for or a member owns.
    std::map<std::pair<std::string, int32_t>, int64_t> committed;
    for (const auto& o : offsets.value()) {
        committed[{o.topic, o.partition}] = o.offset;
    }
    std::set<std::pair<std::string, int32_t>> rows;
    for (const auto& [tp, off] : committed) {
        rows.insert(tp);
    }
    for (const auto& [tp, m] : owner) {
        rows.insert(tp);
    }
    std::map<std::string, std::map<int32_t, int64_t>> ends;
    for (const auto& [topic, p] : rows) {
        if (ends.contains(topic)) {
            continue;
        }
        auto t = ad.describe_topic(topic);
        auto& e = ends[topic];
        if (t) {
            for (const auto& pi : t.value().partitions) {
                e[pi.partition] = pi.log_end_offset;
            }
        }
    }
    table parts({"TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID",
                 "HOST", "CLIENT-ID"});
    for (const auto& tp : rows) {
        auto c = committed.find(tp);
        const int64_t cur = c == committed.end() ? -1 : c->second;
        auto et = ends[tp.first].find(tp.second);
        const int64_t end = et == ends[tp.first].end() ? -1 : et->second;
        auto o = owner.find(tp);
        parts.add({tp.first, std::to_string(tp.second), cur >= 0 ? std::to_string(cur) : "-",
                   end >= 0 ? std::to_string(end) : "-",
                   cur >= 0 && end >= 0 ? std::to_string(std::max<int64_t>(0, end - cur)) : "-",
                   o != owner.end() ? o->second->member_id : "-",
                   o != owner.end() ? o->second->host : "-",
                   o != owner.end() ? o->second->client_id : "-"});
    }
    std::fputs(parts.render("").c_str(), stdout);
    return exit_ok;
}

int remove(std::span<const std::string> words) {
    constexpr std::string_view cmd = "group delete";
    int rc = exit_ok;
    auto a = parse_command(cmd, words, common_options, "sluice group delete GROUP",
                           "Deletes a group without members, with its committed offsets.", 1, rc);
    if (!a) {
        return rc;
    }
    const std::string& group = a->positional[0];
    auto s = connect(*a);
    if (!s) {
        return fail(error_line(cmd, s.error(), "", bootstrap_servers(*a)));
    }
    std::string why;
    if (auto r = s.value().client->delete_group(group, &why); !r) {
        return fail(error_line(cmd, r.error(),
                               fmt::format("group '{}'{}{}", group, why.empty() ? "" : ": ", why),
                               s.value().servers));
    }
    std::printf("Deleted group %s.\n", group.c_str());
    return exit_ok;
}

// Milliseconds since the epoch from "YYYY-MM-DDTHH:MM:SS[.mmm][Z]" (UTC) or a number.
std::optional<int64_t> parse_datetime(const std::string& text) {
    if (!text.empty() && std::all_of(text.begin(), text.end(), ::isdigit)) {
        auto v = parse_int(text, "--to-datetime", 0, INT64_MAX);
        return v ? std::optional<int64_t>(v.value()) : std::nullopt;
    }
    std::tm tm{};
    int ms = 0;
    char tail[8] = {};
    const int n =
        std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d%7s", &tm.tm_year, &tm.tm_mon,
                    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, tail);
    if (n < 6) {
        return std::nullopt;
    }
    if (n == 6) {
        const auto rest = text.substr(19);
        if (!rest.empty() && rest != "Z") {
            return std::nullopt;
        }
        ms = 0;
    } else if (n == 8 && std::string(tail) != "Z") {
        return std::nullopt;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    const time_t secs = timegm(&tm);
    if (secs < 0) {
        return std::nullopt;
    }
    return int64_t(secs) * 1000 + ms;
}

int reset_offsets(std::span<const std::string> words) {
    constexpr std::string_view cmd = "group reset-offsets";
    int rc = exit_ok;
    auto a = parse_command(cmd, words, reset_options,
                           "sluice group reset-offsets GROUP --topic T (--to-earliest | "
                           "--to-latest | --to-offset N | --to-datetime TIME | --shift-by N) "
                           "[--execute]",
                           "Computes new committed offsets for every partition of a topic and "
                           "shows them; with\n--execute, commits them. The group must have no "
                           "members (stop its consumers first).",
                           1, rc);
    if (!a) {
        return rc;
    }
    const std::string& group = a->positional[0];
    auto topic = a->get("topic");
    if (!topic) {
        return usage_error(cmd, "--topic is required");
    }
    const int chosen = int(a->has("to-earliest")) + int(a->has("to-latest")) +
                       int(a->get("to-offset").has_value()) +
                       int(a->get("to-datetime").has_value()) + int(a->get("shift-by").has_value());
    if (chosen != 1) {
        return usage_error(cmd,
                           "give exactly one of --to-earliest, --to-latest, --to-offset, "
                           "--to-datetime, --shift-by");
    }
    std::optional<int64_t> to_offset;
    std::optional<int64_t> shift;
    std::optional<int64_t> at_time;
    if (auto o = a->get("to-offset")) {
        auto v = parse_int(*o, "--to-offset", 0, INT64_MAX);
        if (!v) {
            return usage_error(cmd, v.error());
        }
        to_offset = v.value();
    }
    if (auto o = a->get("shift-by")) {
        auto v = parse_int(*o, "--shift-by", INT64_MIN + 1, INT64_MAX);
        if (!v) {
            return usage_error(cmd, v.error());
        }
        shift = v.value();
    }
    if (auto o = a->get("to-datetime")) {
        at_time = parse_datetime(*o);
        if (!at_time) {
            return usage_error(cmd, fmt::format("--to-datetime: '{}' is not "
                                                "YYYY-MM-DDTHH:MM:SS[.mmm][Z] or milliseconds",
                                                *o));
        }
    }
    auto s = connect(*a);
    if (!s) {
        return fail(error_line(cmd, s.error(), "", bootstrap_servers(*a)));
    }
    admin& ad = *s.value().client;
    auto d = ad.describe_group(group);
    if (!d) {
        return fail(
            error_line(cmd, d.error(), fmt::format("group '{}'", group), s.value().servers));
    }
    if (!d.value().members.empty()) {
        return fail(
            fmt::format("{}: group '{}' has {} active members (state {}): offsets can only "
                        "be reset while it has none; stop its consumers first",
                        cmd, group, d.value().members.size(), d.value().state));
    }
    auto t = ad.describe_topic(*topic);
    if (!t) {
        return fail(topic_error_line(cmd, t.error(), *topic, s.value().servers));
    }
    std::map<int32_t, int64_t> current;
    if (shift) {
        auto offs = ad.group_offsets(group);
        if (!offs) {
            return fail(
                error_line(cmd, offs.error(), fmt::format("group '{}'", group), s.value().servers));
        }
        for (const auto& o : offs.value()) {
            if (o.topic == *topic) {
                current[o.partition] = o.offset;
            }
        }
    }
    std::map<int32_t, int64_t> by_time;
    if (at_time) {
        auto found = ad.offsets_for_time(*topic, *at_time);
        if (!found) {
            return fail(topic_error_line(cmd, found.error(), *topic, s.value().servers));
        }
        by_time = std::move(found).value();
    }
    for (const auto& p : t.value().partitions) {
        if (p.log_start_offset < 0 || p.log_end_offset < 0) {
            return fail(
                fmt::format("{}: {}-{} has no leader now, so its offsets are unknown: "
                            "nothing was changed; try again once it has one",
                            cmd, *topic, p.partition));
        }
    }
    std::vector<group_offset> next;
    table tab({"GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"});
    for (const auto& p : t.value().partitions) {
        const int64_t start = p.log_start_offset;
        const int64_t end = p.log_end_offset;
        int64_t to = end;
        if (a->has("to-earliest")) {
            to = start;
        } else if (to_offset) {
            to = *to_offset;
        } else if (shift) {
            auto c = current.find(p.partition);
            const int64_t from = c == current.end() ? start : c->second;
            // Saturating: the clamp below brings it within the log.
            to = *shift > 0 && from > INT64_MAX - *shift   ? INT64_MAX
                 : *shift < 0 && from < INT64_MIN - *shift ? INT64_MIN
                                                           : from + *shift;
        } else if (at_time) {
            auto f = by_time.find(p.partition);
            to = f == by_time.end() || f->second < 0 ? end : f->second;
        }
        to = std::clamp(to, start, end);
        next.push_back(group_offset{*topic, p.partition, to, ""});
        tab.add({group, *topic, std::to_string(p.partition), std::to_string(to)});
    }
    std::fputs(tab.render("").c_str(), stdout);
    if (!a->has("execute")) {
        std::printf("\nDry run: nothing was changed. Add --execute to commit these offsets.\n");
        return exit_ok;
    }
    std::string why;
    if (auto r = ad.alter_group_offsets(group, next, &why); !r) {
        return fail(error_line(cmd, r.error(),
                               fmt::format("group '{}'{}{}", group, why.empty() ? "" : ": ", why),
                               s.value().servers));
    }
    std::printf("\nCommitted the new offsets of group %s.\n", group.c_str());
    return exit_ok;
}

}  // namespace

int run_group(std::span<const std::string> args) {
    if (args.empty()) {
        return usage_error("group",
                           "expected a subcommand: list, describe, delete or reset-offsets");
    }
    const std::string& sub = args[0];
    auto rest = args.subspan(1);
    if (sub == "--help" || sub == "-h" || sub == "help") {
        return print_help(group_help);
    }
    if (sub == "list") {
        return list(rest);
    }
    if (sub == "describe") {
        return describe(rest);
    }
    if (sub == "delete") {
        return remove(rest);
    }
    if (sub == "reset-offsets") {
        return reset_offsets(rest);
    }
    return usage_error("group", fmt::format("unknown subcommand '{}'", sub));
}

}  // namespace sluice::cli
