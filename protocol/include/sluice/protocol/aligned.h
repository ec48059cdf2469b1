// flatbuffers::Verifier checks a vector's 4-byte length prefix for alignment but not its elements,
// so in a hostile buffer a vector of 8-byte scalars or structs can start at 4 mod 8, and reading
// it would be a misaligned load. Every reader of such a vector in untrusted bytes checks it here
// after verification and treats a misaligned one as corrupt.
#pragma once

#include <cstdint>
#include <type_traits>

#include <flatbuffers/flatbuffers.h>

namespace sluice {

// True if a verified vector's elements sit at their natural alignment (a null vector does).
template <class T>
bool elements_aligned(const flatbuffers::Vector<T>* v) noexcept {
    return v == nullptr ||
           reinterpret_cast<uintptr_t>(v->Data()) % alignof(std::remove_pointer_t<T>) == 0;
}

}  // namespace sluice
