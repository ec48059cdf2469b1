#include "bundle.h"

#include <algorithm>
#include <cstdint>

#include "sluice/protocol/byte_order.h"

namespace sluice::fuzz {

namespace {
constexpr size_t length_size = 4;
}  // namespace

std::vector<bytes_view> split_bundle(bytes_view in, size_t count) {
    std::vector<bytes_view> out;
    out.reserve(count);
    for (size_t i = 0; i < count; ++i) {
        if (in.size() < length_size) {
            out.emplace_back();
            in = {};
            continue;
        }
        size_t n = std::min<size_t>(load_be<uint32_t>(in.data()), in.size() - length_size);
        out.push_back(in.subspan(length_size, n));
        in = in.subspan(length_size + n);
    }
    return out;
}

std::vector<std::byte> make_bundle(std::span<const bytes_view> files) {
    std::vector<std::byte> out;
    for (bytes_view f : files) {
        std::byte len[length_size];
        store_be<uint32_t>(len, uint32_t(f.size()));
        out.insert(out.end(), len, len + length_size);
        out.insert(out.end(), f.begin(), f.end());
    }
    return out;
}

}  // namespace sluice::fuzz
