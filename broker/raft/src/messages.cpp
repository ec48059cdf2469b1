#include "sluice/raft/messages.h"

#include <fmt/format.h>

namespace sluice::raft {
namespace {

template <typename... F>
struct overloaded : F... {
    using F::operator()...;
};
template <typename... F>
overloaded(F...) -> overloaded<F...>;

std::string_view fetch_error_name(fetch_error e) {
    switch (e) {
        case fetch_error::none:
            return "none";
        case fetch_error::not_leader:
            return "not_leader";
        case fetch_error::fenced_epoch:
            return "fenced_epoch";
    }
    return "?";
}

}  // namespace

std::string_view role_name(role r) noexcept {
    switch (r) {
        case role::follower:
            return "follower";
        case role::pre_candidate:
            return "pre_candidate";
        case role::candidate:
            return "candidate";
        case role::leader:
            return "leader";
    }
    return "?";
}

term_t term_of(const message& m) noexcept {
    return std::visit([](const auto& b) { return b.term; }, m.body);
}

std::string_view type_name(const message& m) noexcept {
    static constexpr std::string_view names[] = {"pre_vote_request",
                                                 "pre_vote_response",
                                                 "vote_request",
                                                 "vote_response",
                                                 "begin_epoch",
                                                 "fetch_request",
                                                 "fetch_response",
                                                 "fetch_snapshot_request",
                                                 "fetch_snapshot_response"};
    static_assert(std::size(names) == std::variant_size_v<message_body>);
    return names[m.body.index()];
}

std::string describe(const message& m) {
    std::string detail = std::visit(
        overloaded{
            [](const pre_vote_request& r) {
                return fmt::format("end={} last_epoch={}", r.end_offset, r.last_epoch);
            },
            [](const pre_vote_response& r) {
                return fmt::format("granted={} leader={}", r.granted, r.leader);
            },
            [](const vote_request& r) {
                return fmt::format("end={} last_epoch={}", r.end_offset, r.last_epoch);
            },
            [](const vote_response& r) {
                return fmt::format("granted={} leader={}", r.granted, r.leader);
            },
            [](const begin_epoch&) { return std::string(); },
            [](const fetch_request& r) {
                return fmt::format("offset={} last_epoch={} hw={}", r.fetch_offset,
                                   r.last_fetched_epoch, r.high_watermark);
            },
            [](const fetch_response& r) {
                std::string s = fmt::format("leader={} error={} offset={} hw={} entries={}",
                                            r.leader, fetch_error_name(r.error), r.fetch_offset,
                                            r.high_watermark, r.entries.size());
                if (r.diverging) {
                    s += fmt::format(" diverging={}@{}", r.diverging->epoch,
                                     r.diverging->end_offset);
                }
                if (r.snapshot) {
                    s += fmt::format(" snapshot={}@{}", r.snapshot->term, r.snapshot->end_offset);
                }
                return s;
            },
            [](const fetch_snapshot_request& r) {
                return fmt::format("snapshot={}@{} position={}", r.id.term, r.id.end_offset,
                                   r.position_bytes);
            },
            [](const fetch_snapshot_response& r) {
                return fmt::format("snapshot={}@{} found={} position={} chunk={} size={}",
                                   r.id.term, r.id.end_offset, r.found, r.position_bytes,
                                   r.chunk.size(), r.size_bytes);
            },
        },
        m.body);
    return fmt::format("{}->{} {} term={} {}", m.from, m.to, type_name(m), term_of(m), detail);
}

}  // namespace sluice::raft
