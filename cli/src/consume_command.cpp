// `sluice consume TOPIC`: prints records to stdout, like kcat -C.
//
// Starts at -o (default: the beginning, as kcat does) on every partition of the topic, or on -p
// only. -e stops at the end offsets taken when the command starts (records appended later are
// not printed); -n stops after COUNT records. SIGINT/SIGTERM stop it cleanly with exit 0.
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "client_setup.h"
#include "command.h"
#include "sluice/cli/format.h"
#include "sluice/consumer/consumer.h"
#include "sluice/protocol/errc.h"
#include "stop_signal.h"

namespace sluice::cli {
namespace {

constexpr std::string_view cmd = "consume";

constexpr std::array consume_options{
    bootstrap_option,
    option{'o', "offset", "OFFSET",
           "where to start: beginning (default), end, N (absolute) or -N (N before the end)"},
    option{'p', "partition", "N", "consume this partition only (default: all partitions)"},
    option{'n', "count", "COUNT", "exit after COUNT records"},
    option{'e', "exit", "", "exit at the end of the log (end offsets taken at start)"},
    option{
        'f', "format", "FORMAT",
        "output format (default '%s\\n'); tokens %s %S %k %K %o %p %t %T %h %%, escapes \\n \\t"},
    option{'X', "property", "KEY=VALUE", "a consumer property, e.g. fetch.max.wait.ms=100", true},
    option{'G', "group", "GROUP",
           "join consumer group GROUP and read the partitions it assigns, from the committed "
           "offsets (-o beginning|end where there are none; default end), committing as it goes"},
};

constexpr auto poll_interval = std::chrono::milliseconds(200);

struct start_offset {
    enum class kind { beginning, end, absolute, from_end } what = kind::beginning;
    int64_t value = 0;
};

cli_result<start_offset> parse_offset(const std::string& text) {
    if (text == "beginning") {
        return start_offset{start_offset::kind::beginning, 0};
    }
    if (text == "end") {
        return start_offset{start_offset::kind::end, 0};
    }
    auto v = parse_int(text, "-o/--offset", INT64_MIN + 1, INT64_MAX);
    if (!v) {
        return cli_error(fmt::format("-o/--offset: '{}' is not beginning, end, N or -N", text));
    }
    if (v.value() < 0) {
        return start_offset{start_offset::kind::from_end, -v.value()};
    }
    return start_offset{start_offset::kind::absolute, v.value()};
}

// Moves every partition to its start offset.
result<void> seek_start(consumer& c, const std::vector<topic_partition>& tps, start_offset at) {
    switch (at.what) {
        case start_offset::kind::beginning:
            return c.seek_to_beginning(tps);
        case start_offset::kind::end:
            return c.seek_to_end(tps);
        case start_offset::kind::absolute:
            for (const auto& tp : tps) {
                SLUICE_TRY(c.seek(tp, at.value));
            }
            return success();
        case start_offset::kind::from_end: {
            SLUICE_TRY(auto begin, c.beginning_offsets(tps));
            SLUICE_TRY(auto end, c.end_offsets(tps));
            for (const auto& tp : tps) {
                SLUICE_TRY(c.seek(tp, std::max(begin[tp], end[tp] - at.value)));
            }
            return success();
        }
    }
    return success();
}

// Appends record `r` to `out` in `format`; `fields` is reused from record to record (its topic is
// the caller's to set).
void append_record(const output_format& format, const consumer_record_ref& r, record_fields& fields,
                   std::string& out) {
    fields.partition = r.partition;
    fields.offset = r.offset;
    fields.timestamp_ms = r.timestamp_ms;
    fields.key = r.key;
    fields.value = r.value;
    fields.headers.clear();
    if (format.uses_headers()) {
        for (const header_ref& h : r.headers) {
            fields.headers.emplace_back(h.key, h.value);
        }
    }
    format.append(fields, out);
}

// Writes `out` to stdout. False if the write failed (errno set).
bool write_out(const std::string& out) {
    if (out.empty()) {
        return true;
    }
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) {
        return false;
    }
    return std::fflush(stdout) == 0;
}

// Whether `c` holds partitions and each one's position has reached its end in `ends`; the ends of
// held partitions not in `ends` are asked for and added.
result<bool> held_at_end(consumer& c, std::map<topic_partition, int64_t>& ends) {
    SLUICE_TRY(auto held, c.assignment());
    std::vector<topic_partition> unknown;
    for (const auto& tp : held) {
        if (!ends.contains(tp)) {
            unknown.push_back(tp);
        }
    }
    if (!unknown.empty()) {
        SLUICE_TRY(auto found, c.end_offsets(unknown));
        ends.insert(found.begin(), found.end());
    }
    if (held.empty()) {
        return false;
    }
    for (const auto& tp : held) {
        auto pos = c.position(tp);
        auto end = ends.find(tp);
        if (end == ends.end() || !pos || pos.value() < end->second) {
            return false;
        }
    }
    return true;
}

// `sluice consume -G GROUP TOPIC...`: a member of the group (kcat -G). Starts each partition it
// is given at the group's committed offset (else by -o: beginning or end), commits what it has
// printed every auto.commit.interval.ms and when partitions are revoked, and leaves the group at
// the end. -e: exits (committing) once every partition it holds has reached the end it had when
// it was assigned.
int run_group_consume(const parsed_args& a) {
    const std::string group = *a.get("group");
    if (a.get("partition")) {
        return usage_error(cmd, "-p/--partition cannot be used with -G: the group assigns them");
    }
    std::string reset = "latest";
    if (auto o = a.get("offset")) {
        if (*o == "beginning") {
            reset = "earliest";
        } else if (*o != "end") {
            return usage_error(cmd,
                               "with -G, -o/--offset is beginning or end (where the group "
                               "has no committed offset)");
        }
    }
    int64_t count_max = -1;
    if (auto n = a.get("count")) {
        auto v = parse_int(*n, "-n/--count", 0, INT64_MAX);
        if (!v) {
            return usage_error(cmd, v.error());
        }
        count_max = v.value();
    }
    const bool exit_at_end = a.has("exit");
    auto format = output_format::parse(a.get("format").value_or("%s\\n"));
    if (!format) {
        return usage_error(cmd, format.error());
    }
    const std::string servers = bootstrap_servers(a);
    auto config = consumer_config_from(a, "property", "-X/--property");
    if (!config) {
        return usage_error(cmd, config.error());
    }
    config.value().group_id = group;
    config.value().auto_offset_reset = reset;
    for (const auto& kv : a.all("property")) {
        if (kv.starts_with("auto.offset.reset=")) {
            config.value().auto_offset_reset = kv.substr(kv.find('=') + 1);
        }
    }
    if (count_max == 0) {
        return exit_ok;
    }
    auto created = consumer::create(config.value());
    if (!created) {
        return fail(error_line(cmd, created.error(), "", servers));
    }
    consumer& c = *created.value();
    // -e: each held partition's end, taken at the first poll after it was assigned; done once
    // every held partition's position has reached its end. A partition given up (revoked or
    // lost: on_partitions_lost calls on_partitions_revoked) is forgotten, and its end taken
    // again should it come back.
    struct ends_tracker : rebalance_listener {
        std::map<topic_partition, int64_t> ends;
        void on_partitions_revoked(const std::vector<topic_partition>& tps) override {
            for (const auto& tp : tps) {
                ends.erase(tp);
            }
        }
    } tracker;
    if (auto r = c.subscribe(a.positional, &tracker); !r) {
        return fail(error_line(cmd, r.error(), fmt::format("group '{}'", group), servers));
    }
    install_stop_signals();
    std::signal(SIGPIPE, SIG_IGN);
    int64_t printed = 0;
    std::string out;
    record_fields fields;
    bool done = false;
    while (!stop_requested() && !done) {
        auto polled = c.poll_view(poll_interval);
        if (!polled) {
            write_out(out);
            return fail(error_line(cmd, polled.error(), fmt::format("group '{}'", group), servers));
        }
        out.clear();
        const consumer_records& recs = polled.value();
        for (size_t i = 0; i < recs.size(); ++i) {
            const consumer_record_ref& r = recs[i];
            fields.topic = r.topic;
            append_record(format.value(), r, fields, out);
            if (++printed == count_max) {
                done = true;
                // The records after this one were not printed: each partition they belong to
                // goes back to its first unprinted one, so the commit stops there.
                std::set<topic_partition> rewound;
                for (size_t j = i + 1; j < recs.size(); ++j) {
                    topic_partition tp{std::string(recs[j].topic), recs[j].partition};
                    if (rewound.insert(tp).second) {
                        (void)c.seek(tp, recs[j].offset);
                    }
                }
                break;
            }
        }
        if (!write_out(out)) {
            if (errno == EPIPE) {
                return exit_ok;
            }
            return fail(fmt::format("{}: writing to stdout failed: {}", cmd, std::strerror(errno)));
        }
        if (exit_at_end && !done) {
            auto at_end = held_at_end(c, tracker.ends);
            if (!at_end) {
                return fail(error_line(cmd, at_end.error(), "end offsets", servers));
            }
            done = at_end.value();
        }
    }
    if (auto r = c.commit_sync(); !r && done) {
        return fail(
            error_line(cmd, r.error(), fmt::format("commit of group '{}'", group), servers));
    }
    c.close();
    return exit_ok;
}

}  // namespace

int run_consume(std::span<const std::string> args) {
    int rc = exit_ok;
    auto a = parse_command(cmd, args, consume_options,
                           "sluice consume TOPIC [-o beginning|end|N|-N] [-p PARTITION] "
                           "[-n COUNT] [-e] [-f FORMAT] [-X property=value ...]\n"
                           "       sluice consume -G GROUP TOPIC [TOPIC...] [-o beginning|end] "
                           "[-n COUNT] [-e] [-f FORMAT] [-X ...]",
                           "Prints the records of a topic, one per line (the value) by default; "
                           "with -G, of the\npartitions a consumer group assigns this member.",
                           one_or_more, rc);
    if (!a) {
        return rc;
    }
    if (a->get("group")) {
        return run_group_consume(*a);
    }
    if (a->positional.size() != 1) {
        return usage_error(cmd, "name one topic (several only with -G GROUP)");
    }
    const std::string& topic = a->positional[0];
    start_offset at;
    if (auto o = a->get("offset")) {
        auto v = parse_offset(*o);
        if (!v) {
            return usage_error(cmd, v.error());
        }
        at = v.value();
    }
    std::optional<int32_t> only_partition;
    if (auto p = a->get("partition")) {
        auto v = parse_int(*p, "-p/--partition", 0, INT32_MAX);
        if (!v) {
            return usage_error(cmd, v.error());
        }
        only_partition = int32_t(v.value());
    }
    int64_t count_max = -1;
    if (auto n = a->get("count")) {
        auto v = parse_int(*n, "-n/--count", 0, INT64_MAX);
        if (!v) {
            return usage_error(cmd, v.error());
        }
        count_max = v.value();
    }
    const bool exit_at_end = a->has("exit");
    auto format = output_format::parse(a->get("format").value_or("%s\\n"));
    if (!format) {
        return usage_error(cmd, format.error());
    }
    const std::string servers = bootstrap_servers(*a);
    auto config = consumer_config_from(*a, "property", "-X/--property");
    if (!config) {
        return usage_error(cmd, config.error());
    }
    if (count_max == 0) {
        return exit_ok;
    }

    auto created = consumer::create(config.value());
    if (!created) {
        return fail(error_line(cmd, created.error(), "", servers));
    }
    consumer& c = *created.value();
    auto partitions = c.partitions_for(topic);
    if (!partitions) {
        return fail(topic_error_line(cmd, partitions.error(), topic, servers));
    }
    std::vector<topic_partition> tps;
    for (int32_t p : partitions.value()) {
        if (!only_partition || p == *only_partition) {
            tps.push_back({topic, p});
        }
    }
    if (tps.empty()) {
        return fail(fmt::format("{}: {}: topic '{}' has no partition {}", cmd,
                                errc_name(errc::unknown_topic_or_partition), topic,
                                only_partition.value_or(-1)));
    }
    if (auto r = c.assign(tps); !r) {
        return fail(error_line(cmd, r.error(), "assign", servers));
    }
    if (auto r = seek_start(c, tps, at); !r) {
        return fail(error_line(cmd, r.error(), "seek", servers));
    }

    // With -e: the end of each partition, taken now; a partition is done once its position
    // reaches it.
    std::map<topic_partition, int64_t> ends;
    std::set<topic_partition> pending(tps.begin(), tps.end());
    auto refresh_done = [&]() -> result<void> {
        for (auto it = pending.begin(); it != pending.end();) {
            SLUICE_TRY(int64_t pos, c.position(*it));
            it = pos >= ends[*it] ? pending.erase(it) : std::next(it);
        }
        return success();
    };
    if (exit_at_end) {
        auto e = c.end_offsets(tps);
        if (!e) {
            return fail(error_line(cmd, e.error(), "end offsets", servers));
        }
        ends = std::move(e).value();
        if (auto r = refresh_done(); !r) {
            return fail(error_line(cmd, r.error(), "position", servers));
        }
    }

    install_stop_signals();
    std::signal(SIGPIPE, SIG_IGN);
    int64_t printed = 0;
    std::string out;
    record_fields fields;
    fields.topic = topic;
    while (!stop_requested() && !(exit_at_end && pending.empty())) {
        auto polled = c.poll_view(poll_interval);
        if (!polled) {
            write_out(out);
            return fail(error_line(cmd, polled.error(), fmt::format("topic '{}'", topic), servers));
        }
        out.clear();
        for (const consumer_record_ref& r : polled.value()) {
            if (exit_at_end && r.offset >= ends[{topic, r.partition}]) {
                continue;
            }
            append_record(format.value(), r, fields, out);
            if (++printed == count_max) {
                break;
            }
        }
        if (!write_out(out)) {
            if (errno == EPIPE) {
                return exit_ok;  // the reader went away (e.g. `| head`); nothing is wrong here
            }
            return fail(fmt::format("{}: writing to stdout failed: {}", cmd, std::strerror(errno)));
        }
        if (printed == count_max) {
            break;
        }
        if (exit_at_end) {
            if (auto r = refresh_done(); !r) {
                return fail(error_line(cmd, r.error(), "position", servers));
            }
        }
    }
    c.close();
    return exit_ok;
}

}  // namespace sluice::cli
