// Big-endian loads and stores for wire and disk formats. Callers check bounds first.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace sluice {

namespace detail {
inline uint16_t bswap(uint16_t v) noexcept {
    return __builtin_bswap16(v);
}
inline uint32_t bswap(uint32_t v) noexcept {
    return __builtin_bswap32(v);
}
inline uint64_t bswap(uint64_t v) noexcept {
    return __builtin_bswap64(v);
}
}  // namespace detail

template <typename T>
requires std::is_integral_v<T>
inline T load_be(const std::byte* p) noexcept {
    std::make_unsigned_t<T> u;
    std::memcpy(&u, p, sizeof(u));
    if constexpr (std::endian::native == std::endian::little && sizeof(T) > 1) {
        u = detail::bswap(u);
    }
    return static_cast<T>(u);
}

template <typename T>
requires std::is_integral_v<T>
inline void store_be(std::byte* p, T v) noexcept {
    auto u = static_cast<std::make_unsigned_t<T>>(v);
    if constexpr (std::endian::native == std::endian::little && sizeof(T) > 1) {
        u = detail::bswap(u);
    }
    std::memcpy(p, &u, sizeof(u));
}

// Appends `v`, big endian, to `out`.
template <typename T>
requires std::is_integral_v<T>
inline void put_be(std::vector<std::byte>& out, T v) {
    const size_t at = out.size();
    out.resize(at + sizeof(T));
    store_be<T>(out.data() + at, v);
}

}  // namespace sluice
