// Fuzz target: a controller's quorum files from an in-memory file system: the quorum-state
// file (controller/quorum_state.h) and the quorum-bootstrap file (controller/quorum_bootstrap.h),
// both read from the input's bytes; and the input as the text of a directory id.
//
// Checks their contracts: a file either loads to a value or to a problem that says why the node
// must not start, never both and never neither (a missing bootstrap, "not formatted", is
// neither, but the file is always there here); a loaded value saves and loads back the same; a
// directory id that parses prints back as the same text.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "memory_fs.h"
#include "require.h"
#include "sluice/controller/quorum_bootstrap.h"
#include "sluice/controller/quorum_state.h"

namespace {

using namespace sluice;

using fuzz::require;

void quorum_state(std::span<const std::byte> bytes) {
    fuzz::memory_fs fs;
    fs.put("/meta/quorum-state", bytes);
    const node_id_t self(1);
    auto loaded = controller::load_quorum_state(fs, "/meta", self);
    require(loaded.has_value());  // the memory file system has no I/O errors
    const auto& l = loaded.value();
    require(l.state.has_value() != !l.problem.empty());
    if (!l.state) {
        return;
    }
    // Saved over the file it came from (the memory file system knows only that directory).
    require(controller::save_quorum_state(fs, "/meta", self, *l.state).has_value());
    auto again = controller::load_quorum_state(fs, "/meta", self);
    require(again.has_value() && again.value().state == l.state);
}

void quorum_bootstrap(std::span<const std::byte> bytes) {
    fuzz::memory_fs fs;
    fs.put("/meta/quorum-bootstrap", bytes);
    const node_id_t self(1);
    // Formatted directories hold a quorum-state; without one, the load is a problem (tested in
    // quorum_bootstrap_test).
    require(controller::save_quorum_state(fs, "/meta", self, {}).has_value());
    auto loaded = controller::load_quorum_bootstrap(fs, "/meta", self);
    require(loaded.has_value());
    const auto& l = loaded.value();
    require(l.bootstrap.has_value() != !l.problem.empty());
    if (!l.bootstrap) {
        return;
    }
    const auto& b = *l.bootstrap;
    require(b.node_id == self && b.directory.known() && !b.voters.empty());
    require(controller::save_quorum_bootstrap(fs, "/meta", b).has_value());
    auto again = controller::load_quorum_bootstrap(fs, "/meta", self);
    require(again.has_value() && again.value().bootstrap.has_value());
    const auto& c = *again.value().bootstrap;
    require(c.directory == b.directory && c.voters == b.voters);
}

void directory_text(std::string_view text) {
    if (auto d = controller::parse_directory(text)) {
        require(d->known() && controller::directory_text(*d) == text);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::span bytes(reinterpret_cast<const std::byte*>(data), size);
    quorum_state(bytes);
    quorum_bootstrap(bytes);
    directory_text(std::string_view(reinterpret_cast<const char*>(data), size));
    return 0;
}
