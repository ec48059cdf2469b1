#include "sluice/storage/errors.h"

#include <string>

namespace sluice::storage {
namespace {

class category final : public std::error_category {
  public:
    const char* name() const noexcept override { return "sluice.storage"; }
    std::string message(int v) const override {
        switch (static_cast<storage_errc>(v)) {
            case storage_errc::damaged_below_recovery_point:
                return "data below the recovery checkpoint is damaged: records that were "
                       "durable cannot be read";
        }
        return "unknown storage error";
    }
};

}  // namespace

const std::error_category& storage_category() noexcept {
    static const category c;
    return c;
}

}  // namespace sluice::storage
