#include "clean_shutdown.h"

namespace sluice::broker {

result<bool> take_clean_shutdown_marker(storage::file_system& fs,
                                        const std::filesystem::path& log_dir) {
    const auto path = log_dir / clean_shutdown_file;
    SLUICE_TRY(bool there, fs.exists(path));
    if (there) {
        SLUICE_TRY(fs.remove(path));
        SLUICE_TRY(fs.sync_directory(log_dir));
    }
    return there;
}

result<void> leave_clean_shutdown_marker(storage::file_system& fs,
                                         const std::filesystem::path& log_dir) {
    SLUICE_TRY(auto f, fs.open(log_dir / clean_shutdown_file, storage::open_mode::read_write));
    SLUICE_TRY(f->sync());
    return fs.sync_directory(log_dir);
}

}  // namespace sluice::broker
