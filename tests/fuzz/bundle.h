// Several files in one fuzz input, for targets that read more than one file (a segment with its
// two index files, say):
//
//   bundle = file*          file = u32 big-endian length | that many bytes
//
// Splitting never fails: a length past the end of the input takes whatever is left, and files
// after the end of the input are empty. So every byte string the fuzzer makes is a bundle, and
// seeds made from real files (make_bundle, the fuzz-bundle tool) start as the exact files.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace sluice::fuzz {

using bytes_view = std::span<const std::byte>;

// The first `count` files of `in`.
std::vector<bytes_view> split_bundle(bytes_view in, size_t count);

std::vector<std::byte> make_bundle(std::span<const bytes_view> files);

}  // namespace sluice::fuzz
