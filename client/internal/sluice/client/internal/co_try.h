// SLUICE_TRY for coroutines: the same, with co_return.
//   SLUICE_CO_TRY(auto c, co_await cl.any());   SLUICE_CO_TRY(co_await c->flush());
#pragma once

#include "sluice/protocol/result.h"

#define SLUICE_CO_TRY(...) \
    SLUICE_TRY_PICK_(__VA_ARGS__, SLUICE_CO_TRY_BIND_, SLUICE_CO_TRY_ONLY_)(__VA_ARGS__)

#define SLUICE_CO_TRY_ONLY_(expr)               \
    do {                                        \
        auto&& sluice_co_try_r_ = (expr);       \
        if (!sluice_co_try_r_) {                \
            co_return sluice_co_try_r_.error(); \
        }                                       \
    } while (false)
#define SLUICE_CO_TRY_BIND_(decl, expr) \
    SLUICE_CO_TRY_BIND_IMPL_(SLUICE_TRY_CAT_(sluice_co_try_r_, __COUNTER__), decl, expr)
#define SLUICE_CO_TRY_BIND_IMPL_(tmp, decl, expr) \
    auto&& tmp = (expr);                          \
    if (!tmp) {                                   \
        co_return tmp.error();                    \
    }                                             \
    decl = std::move(tmp).value()
