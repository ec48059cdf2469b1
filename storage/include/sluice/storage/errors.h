// Errors of the storage engine that are neither a wire code (sluice::errc) nor an errno: what a
// log found wrong with its own files. Each message says what happened and what it means.
#pragma once

#include <system_error>

namespace sluice::storage {

enum class storage_errc : int {
    // Recovery found damage (a bad byte, a gap between segments) in data that the recovery
    // checkpoint vouched for as durable. Cutting there would drop acknowledged records silently,
    // so the log refuses to open; an operator decides (restore the files, or remove the
    // partition's directory to give the data up).
    damaged_below_recovery_point = 1,
};

const std::error_category& storage_category() noexcept;

inline std::error_code make_error_code(storage_errc e) noexcept {
    return {static_cast<int>(e), storage_category()};
}

}  // namespace sluice::storage

template <>
struct std::is_error_code_enum<sluice::storage::storage_errc> : std::true_type {};
