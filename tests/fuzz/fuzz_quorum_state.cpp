// Fuzz target: a controller's quorum-state file (controller/quorum_state.h) from an in-memory
// file system.
//
// Checks its contract: a file either loads to a state or to a problem that says why the node
// must not start, never both and never neither; a loaded state saves and loads back the same.
#include <cstdint>
#include <cstdlib>

#include "memory_fs.h"
#include "require.h"
#include "sluice/controller/quorum_state.h"

namespace {

using namespace sluice;

using fuzz::require;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::memory_fs fs;
    fs.put("/meta/quorum-state", std::span(reinterpret_cast<const std::byte*>(data), size));
    const node_id_t self(1);
    auto loaded = controller::load_quorum_state(fs, "/meta", self);
    require(loaded.has_value());  // the memory file system has no I/O errors
    const auto& l = loaded.value();
    require(l.state.has_value() != !l.problem.empty());
    if (!l.state) {
        return 0;
    }
    // Saved over the file it came from (the memory file system knows only that directory).
    require(controller::save_quorum_state(fs, "/meta", self, *l.state).has_value());
    auto again = controller::load_quorum_state(fs, "/meta", self);
    require(again.has_value() && again.value().state == l.state);
    return 0;
}
