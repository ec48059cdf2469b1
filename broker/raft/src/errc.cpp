#include "sluice/raft/errc.h"

#include <string>

namespace sluice::raft {
namespace {

class category final : public std::error_category {
  public:
    const char* name() const noexcept override { return "sluice.raft"; }
    std::string message(int code) const override {
        return std::string(errc_name(static_cast<errc>(code)));
    }
};

}  // namespace

const std::error_category& raft_category() noexcept {
    static const category instance;
    return instance;
}

std::string_view errc_name(errc e) noexcept {
    switch (e) {
        case errc::not_leader:
            return "NOT_LEADER";
        case errc::entry_too_large:
            return "ENTRY_TOO_LARGE";
        case errc::uncommitted_entries_max:
            return "UNCOMMITTED_ENTRIES_MAX";
        case errc::uncommitted_bytes_max:
            return "UNCOMMITTED_BYTES_MAX";
        case errc::voter_change_pending:
            return "VOTER_CHANGE_PENDING";
        case errc::already_voter:
            return "ALREADY_VOTER";
        case errc::not_voter:
            return "NOT_VOTER";
        case errc::voter_not_caught_up:
            return "VOTER_NOT_CAUGHT_UP";
        case errc::voters_max:
            return "VOTERS_MAX";
        case errc::last_voter:
            return "LAST_VOTER";
        case errc::snapshot_out_of_range:
            return "SNAPSHOT_OUT_OF_RANGE";
        case errc::snapshot_term_mismatch:
            return "SNAPSHOT_TERM_MISMATCH";
        case errc::snapshot_pending:
            return "SNAPSHOT_PENDING";
        case errc::invalid_config:
            return "INVALID_CONFIG";
    }
    return "UNKNOWN";
}

}  // namespace sluice::raft
