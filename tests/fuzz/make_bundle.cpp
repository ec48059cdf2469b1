// fuzz-bundle: packs files into one multi-file fuzz input (bundle.h), to make seeds for the
// targets that read several files from real ones.
//
//   fuzz-bundle OUT PART...
//
// Each PART is a file path, `-` for an empty file, or `be64:N` for the 8 bytes of N in
// big-endian (a segment's base offset). A missing file counts as empty.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "bundle.h"
#include "sluice/protocol/byte_order.h"

namespace {

std::vector<std::byte> part_bytes(const std::string& part) {
    if (part == "-") {
        return {};
    }
    if (part.starts_with("be64:")) {
        std::vector<std::byte> out(8);
        sluice::store_be<int64_t>(out.data(), std::stoll(part.substr(5)));
        return out;
    }
    std::ifstream in(part, std::ios::binary);
    std::vector<char> chars{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::vector<std::byte> out(chars.size());
    for (size_t i = 0; i < chars.size(); ++i) {
        out[i] = std::byte(chars[i]);
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: fuzz-bundle OUT PART...  (PART: FILE, - or be64:N)\n");
        return 2;
    }
    std::vector<std::vector<std::byte>> parts;
    for (int i = 2; i < argc; ++i) {
        parts.push_back(part_bytes(argv[i]));
    }
    std::vector<sluice::fuzz::bytes_view> views(parts.begin(), parts.end());
    auto bundle = sluice::fuzz::make_bundle(views);
    std::ofstream out(argv[1], std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bundle.data()), std::streamsize(bundle.size()));
    return out ? 0 : 1;
}
