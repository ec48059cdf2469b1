#include "sluice/storage/clock.h"

#include <chrono>

namespace sluice::storage {
namespace {

class wall_clock final : public clock {
  public:
    timestamp_ms_t now() const override {
        auto since = std::chrono::system_clock::now().time_since_epoch();
        return timestamp_ms_t{std::chrono::duration_cast<std::chrono::milliseconds>(since).count()};
    }
};

}  // namespace

clock& system_clock() {
    static wall_clock instance;
    return instance;
}

}  // namespace sluice::storage
