#include "sluice/raft/config.h"

#include <algorithm>

#include "sluice/raft/errc.h"

namespace sluice::raft {

result<void> validate(const config& c) {
    std::vector<node_id_t> voters = c.bootstrap_voters;
    std::sort(voters.begin(), voters.end());
    bool ok = !voters.empty() && std::adjacent_find(voters.begin(), voters.end()) == voters.end() &&
              static_cast<int64_t>(voters.size()) <= c.voters_max &&
              voters.front() >= node_id_t{0} && c.id >= node_id_t{0} &&
              c.election_timeout_ticks > 0 && c.fetch_interval_ticks > 0 &&
              c.fetch_interval_ticks < c.election_timeout_ticks && c.fetch_wait_ticks >= 0 &&
              int64_t{c.fetch_interval_ticks} + 2 * int64_t{c.fetch_wait_ticks} <=
                  c.election_timeout_ticks / 2 &&
              c.fetch_entries_max > 0 && c.entry_bytes_max > 0 &&
              c.fetch_bytes_max >= c.entry_bytes_max && c.uncommitted_entries_max > 0 &&
              c.uncommitted_bytes_max >= c.entry_bytes_max && c.apply_entries_max > 0 &&
              c.messages_max > 0 && c.snapshot_chunk_bytes_max > 0 && c.observers_max >= 0 &&
              c.voters_max > 0;
    std::vector<node_id_t> named;
    for (const auto& [id, dir] : c.voter_directories) {
        ok = ok && id >= node_id_t{0} && dir.known();
        named.push_back(id);
    }
    std::sort(named.begin(), named.end());
    ok = ok && std::adjacent_find(named.begin(), named.end()) == named.end();
    if (!ok) {
        return errc::invalid_config;
    }
    return success();
}

}  // namespace sluice::raft
