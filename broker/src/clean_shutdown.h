// The clean-shutdown marker (Kafka's .kafka_cleanshutdown): a file in log.dirs written once every
// partition log closed cleanly at a stop, and taken away, durably, at the next start. A broker
// that starts without it may have lost what its page cache held (a crash, a power loss, a new
// disk), and says so when it registers (docs/replication.md, "Unclean shutdowns").
#pragma once

#include <filesystem>
#include <string_view>

#include "sluice/protocol/result.h"
#include "sluice/storage/file_system.h"

namespace sluice::broker {

inline constexpr std::string_view clean_shutdown_file = "clean-shutdown";

// Whether the marker was there; it is removed and the removal made durable, so that a crash
// from now on is seen as one.
result<bool> take_clean_shutdown_marker(storage::file_system& fs,
                                        const std::filesystem::path& log_dir);

// Writes the marker durably (after every log closed cleanly).
result<void> leave_clean_shutdown_marker(storage::file_system& fs,
                                         const std::filesystem::path& log_dir);

}  // namespace sluice::broker
