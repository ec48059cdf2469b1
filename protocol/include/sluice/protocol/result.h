// Errors are values. Every fallible operation in Sluice returns `result<T>`: either a T or a
// std::error_code. Operating errors (bad input, full disk, dead peer) travel this way; bugs are
// asserts. Boost.Outcome provides the type; SLUICE_TRY propagates an error to the caller.
#pragma once

#include <system_error>
#include <utility>

#include <boost/outcome/result.hpp>

namespace sluice {

template <typename T>
using result = boost::outcome_v2::result<T, std::error_code>;

using boost::outcome_v2::success;

// Propagates the error of a result-returning expression; optionally binds its value:
//   SLUICE_TRY(auto n, file.append(buf));   SLUICE_TRY(file.sync());
#define SLUICE_TRY(...) \
    SLUICE_TRY_PICK_(__VA_ARGS__, SLUICE_TRY_BIND_, SLUICE_TRY_ONLY_)(__VA_ARGS__)

#define SLUICE_TRY_PICK_(a, b, name, ...) name
#define SLUICE_TRY_CAT2_(a, b) a##b
#define SLUICE_TRY_CAT_(a, b) SLUICE_TRY_CAT2_(a, b)
#define SLUICE_TRY_ONLY_(expr)            \
    do {                                  \
        auto&& sluice_try_r_ = (expr);    \
        if (!sluice_try_r_) {             \
            return sluice_try_r_.error(); \
        }                                 \
    } while (false)
#define SLUICE_TRY_BIND_(decl, expr) \
    SLUICE_TRY_BIND_IMPL_(SLUICE_TRY_CAT_(sluice_try_r_, __COUNTER__), decl, expr)
#define SLUICE_TRY_BIND_IMPL_(tmp, decl, expr) \
    auto&& tmp = (expr);                       \
    if (!tmp) {                                \
        return tmp.error();                    \
    }                                          \
    decl = std::move(tmp).value()

// An error_code from the current errno, for POSIX calls.
std::error_code errno_code();

}  // namespace sluice
