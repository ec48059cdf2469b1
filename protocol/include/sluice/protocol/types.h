// Strong types for the identifiers that flow through Sluice.
//
// An offset, a leader epoch, a partition id, a node id and a producer id are all integers on the
// wire, and mixing them up is a classic source of silent corruption. Each gets its own type so
// that the compiler refuses `log.truncate(epoch)`. The wrappers are trivially copyable and have
// the size of the underlying integer.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <limits>

#include <fmt/format.h>

namespace sluice {

template <typename Tag, typename Rep>
class named_int {
  public:
    using rep = Rep;

    constexpr named_int() = default;
    constexpr explicit named_int(Rep v) : v_(v) {}

    constexpr Rep value() const { return v_; }

    constexpr auto operator<=>(const named_int&) const = default;

    // Offsets, sequences and epochs are counted; give them just the arithmetic that counting
    // needs. Anything else goes through value() so that it is visible at the call site.
    constexpr named_int operator+(Rep d) const { return named_int(static_cast<Rep>(v_ + d)); }
    constexpr named_int operator-(Rep d) const { return named_int(static_cast<Rep>(v_ - d)); }
    constexpr Rep operator-(named_int o) const { return static_cast<Rep>(v_ - o.v_); }
    constexpr named_int& operator++() {
        ++v_;
        return *this;
    }

    static constexpr named_int min() { return named_int(std::numeric_limits<Rep>::min()); }
    static constexpr named_int max() { return named_int(std::numeric_limits<Rep>::max()); }

  private:
    Rep v_{};
};

// Position of a record in a partition's log.
using offset_t = named_int<struct offset_tag, int64_t>;
// Epoch of a partition's leadership (Kafka's partitionLeaderEpoch); fences stale leaders.
using leader_epoch_t = named_int<struct leader_epoch_tag, int32_t>;
// Raft term of the controller quorum.
using term_t = named_int<struct term_tag, int64_t>;
using partition_id_t = named_int<struct partition_id_tag, int32_t>;
using node_id_t = named_int<struct node_id_tag, int32_t>;
using producer_id_t = named_int<struct producer_id_tag, int64_t>;
// Epoch of a producer id; fences zombie producers.
using producer_epoch_t = named_int<struct producer_epoch_tag, int16_t>;
// Per-partition batch sequence of an idempotent producer.
using sequence_t = named_int<struct sequence_tag, int32_t>;
// Milliseconds since the Unix epoch (record timestamps, retention).
using timestamp_ms_t = named_int<struct timestamp_ms_tag, int64_t>;

// Kafka's "no value" markers, as they appear on the wire.
inline constexpr producer_id_t no_producer_id{-1};
inline constexpr producer_epoch_t no_producer_epoch{-1};
inline constexpr sequence_t no_sequence{-1};
inline constexpr leader_epoch_t no_leader_epoch{-1};
inline constexpr timestamp_ms_t no_timestamp{-1};

}  // namespace sluice

template <typename Tag, typename Rep>
struct std::hash<sluice::named_int<Tag, Rep>> {
    size_t operator()(sluice::named_int<Tag, Rep> v) const noexcept {
        return std::hash<Rep>{}(v.value());
    }
};

template <typename Tag, typename Rep>
struct fmt::formatter<sluice::named_int<Tag, Rep>> : fmt::formatter<Rep> {
    auto format(sluice::named_int<Tag, Rep> v, fmt::format_context& ctx) const {
        return fmt::formatter<Rep>::format(v.value(), ctx);
    }
};
