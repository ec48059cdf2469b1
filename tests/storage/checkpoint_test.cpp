// Checkpoint files: written atomically, and a damaged one reads as missing.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "sluice/storage/checkpoint.h"
#include "temp_dir.h"

using namespace sluice;
using namespace sluice::storage;

TEST_CASE("checkpoints round-trip and damaged ones read as missing") {
    testing::temp_dir dir;
    auto& fs = posix_file_system();
    auto path = dir.path() / "cp";
    CHECK(!read_checkpoint(fs, path).value().has_value());

    std::vector<std::byte> payload{std::byte{1}, std::byte{2}, std::byte{3}};
    REQUIRE(write_checkpoint(fs, path, payload).has_value());
    CHECK(!std::filesystem::exists(dir.path() / "cp.tmp"));
    CHECK(read_checkpoint(fs, path).value() == payload);

    payload.push_back(std::byte{4});
    REQUIRE(write_checkpoint(fs, path, payload).has_value());
    CHECK(read_checkpoint(fs, path).value() == payload);

    auto size = std::filesystem::file_size(path);
    for (uintmax_t cut = 0; cut < size; ++cut) {
        std::filesystem::copy_file(path, dir.path() / "cut",
                                   std::filesystem::copy_options::overwrite_existing);
        std::filesystem::resize_file(dir.path() / "cut", cut);
        CHECK(!read_checkpoint(fs, dir.path() / "cut").value().has_value());
    }
    for (uintmax_t at = 0; at < size; ++at) {
        std::filesystem::copy_file(path, dir.path() / "flip",
                                   std::filesystem::copy_options::overwrite_existing);
        std::fstream f(dir.path() / "flip", std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(std::streamoff(at));
        char c = 0;
        f.get(c);
        f.seekp(std::streamoff(at));
        f.put(char(c ^ 0x20));
        f.close();
        CHECK(!read_checkpoint(fs, dir.path() / "flip").value().has_value());
    }
}
