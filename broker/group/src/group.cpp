#include "sluice/group/group.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

namespace sluice::broker::groups {
namespace {

group_answer fail(errc e, std::string message) {
    return group_answer{e, std::move(message)};
}

join_group_result join_error(errc e, std::string message) {
    join_group_result r;
    r.error = e;
    r.message = std::move(message);
    return r;
}

sync_group_result sync_error(errc e, std::string message) {
    sync_group_result r;
    r.error = e;
    r.message = std::move(message);
    return r;
}

}  // namespace

std::string_view state_name(group_state s) {
    switch (s) {
        case group_state::empty:
            return "Empty";
        case group_state::preparing_rebalance:
            return "PreparingRebalance";
        case group_state::completing_rebalance:
            return "CompletingRebalance";
        case group_state::stable:
            return "Stable";
        case group_state::dead:
            return "Dead";
    }
    return "Unknown";
}

const std::string* group_member::metadata_for(std::string_view protocol) const {
    for (const auto& p : protocols) {
        if (p.name == protocol) {
            return &p.metadata;
        }
    }
    return nullptr;
}

group::group(std::string id, const group_limits& limits) : id_(std::move(id)), limits_(limits) {}

void group::load(const group_record& r, int64_t now_ms) {
    protocol_type_ = r.protocol_type;
    protocol_name_ = r.protocol_name;
    generation_ = r.generation;
    leader_ = r.leader;
    members_.clear();
    static_members_.clear();
    for (const auto& m : r.members) {
        group_member g;
        g.id = m.id;
        g.instance_id = m.instance_id;
        g.client_id = m.client_id;
        g.client_host = m.client_host;
        g.session_timeout_ms = m.session_timeout_ms;
        g.rebalance_timeout_ms = m.rebalance_timeout_ms;
        g.protocols.push_back(group_protocol{r.protocol_name, m.metadata});
        g.assignment = m.assignment;
        g.expires_ms = now_ms + m.session_timeout_ms;
        if (g.instance_id) {
            static_members_[*g.instance_id] = g.id;
        }
        members_[g.id] = std::move(g);
    }
    state_ = members_.empty() ? group_state::empty : group_state::stable;
    state_ms_ = members_.empty() ? r.state_ms : now_ms;
}

void group::load_offset(const topic_partition_id& tp, const offset_value& v) {
    offsets_[tp] = v;
}

void group::forget_offset(const topic_partition_id& tp) {
    offsets_.erase(tp);
}

void group::set_state(group_state s, int64_t now_ms) {
    state_ = s;
    state_ms_ = now_ms;
}

group_answer group::check_member(const std::string& member_id,
                                 const std::optional<std::string>& instance_id) const {
    if (instance_id) {
        auto it = static_members_.find(*instance_id);
        if (it != static_members_.end() && it->second != member_id) {
            return fail(errc::fenced_instance_id,
                        fmt::format("group.instance.id {} belongs to member {} now, not {}: "
                                    "another consumer with that id joined",
                                    *instance_id, it->second, member_id));
        }
    }
    if (!members_.contains(member_id)) {
        return fail(errc::unknown_member_id,
                    fmt::format("member '{}' is not in group {}: join again", member_id, id_));
    }
    return {};
}

bool group::supports(const join_group_request& r) const {
    if (members_.empty()) {
        return !r.protocol_type.empty() && !r.protocols.empty();
    }
    if (r.protocol_type != protocol_type_) {
        return false;
    }
    // Some protocol that every member (but this one, if it is one) supports.
    for (const auto& p : r.protocols) {
        bool all = true;
        for (const auto& [id, m] : members_) {
            if (id != r.member_id && m.metadata_for(p.name) == nullptr) {
                all = false;
                break;
            }
        }
        if (all) {
            return true;
        }
    }
    return false;
}

std::string group::select_protocol() const {
    // Candidates: protocols every member supports; each member votes for the first candidate in
    // its own order of preference; the most votes win (ties: the leader's order).
    const group_member* first =
        members_.contains(leader_) ? &members_.at(leader_) : &members_.begin()->second;
    std::vector<std::string> candidates;
    for (const auto& p : first->protocols) {
        bool all = std::all_of(members_.begin(), members_.end(), [&](const auto& e) {
            return e.second.metadata_for(p.name) != nullptr;
        });
        if (all) {
            candidates.push_back(p.name);
        }
    }
    std::map<std::string, int> votes;
    for (const auto& [id, m] : members_) {
        for (const auto& p : m.protocols) {
            if (std::find(candidates.begin(), candidates.end(), p.name) != candidates.end()) {
                ++votes[p.name];
                break;
            }
        }
    }
    std::string best;
    int best_votes = -1;
    for (const auto& c : candidates) {
        if (votes[c] > best_votes) {
            best = c;
            best_votes = votes[c];
        }
    }
    return best;
}

bool group::all_joined() const {
    return std::all_of(members_.begin(), members_.end(),
                       [](const auto& e) { return e.second.join_token != 0; });
}

join_group_result group::join_answer(const group_member& m) const {
    join_group_result r;
    r.generation = generation_;
    r.protocol_type = protocol_type_;
    r.protocol_name = protocol_name_;
    r.leader = leader_;
    r.member_id = m.id;
    if (m.id == leader_) {
        for (const auto& [id, other] : members_) {
            const std::string* md = other.metadata_for(protocol_name_);
            r.members.push_back(join_group_member{id, other.instance_id, md ? *md : ""});
        }
    }
    return r;
}

std::optional<join_group_result> group::join(const join_group_request& r, uint64_t token,
                                             const std::string& new_member_id, int64_t now_ms,
                                             group_effects& fx) {
    if (state_ == group_state::dead) {
        return join_error(
            errc::coordinator_not_available,
            fmt::format("group {} is being removed: find its coordinator again", id_));
    }
    if (r.session_timeout_ms < limits_.min_session_timeout_ms ||
        r.session_timeout_ms > limits_.max_session_timeout_ms) {
        return join_error(
            errc::invalid_session_timeout,
            fmt::format(
                "session.timeout.ms {} is outside the broker's group.min.session.timeout.ms "
                "{} to group.max.session.timeout.ms {}",
                r.session_timeout_ms, limits_.min_session_timeout_ms,
                limits_.max_session_timeout_ms));
    }
    if (!supports(r)) {
        return join_error(
            errc::inconsistent_group_protocol,
            r.protocols.empty() || r.protocol_type.empty()
                ? std::string("a join must name its protocol type and at least one protocol")
                : fmt::format("group {} uses protocol type '{}' and its members share none of "
                              "the protocols this member offers",
                              id_, protocol_type_));
    }
    const int32_t rebalance_ms =
        r.rebalance_timeout_ms > 0 ? r.rebalance_timeout_ms : r.session_timeout_ms;

    std::string member_id = r.member_id;
    if (member_id.empty() && r.instance_id && static_members_.contains(*r.instance_id)) {
        // A static member back with a new process: it takes its old member's place under a new
        // id, fencing the old one; its assignment stays, so the others see no rebalance.
        const std::string old_id = static_members_.at(*r.instance_id);
        group_member m = std::move(members_.at(old_id));
        members_.erase(old_id);
        if (m.join_token != 0) {
            fx.joins.emplace_back(m.join_token,
                                  join_error(errc::fenced_instance_id,
                                             "a newer member with this group.instance.id joined"));
            m.join_token = 0;
        }
        if (m.sync_token != 0) {
            fx.syncs.emplace_back(m.sync_token,
                                  sync_error(errc::fenced_instance_id,
                                             "a newer member with this group.instance.id joined"));
            m.sync_token = 0;
        }
        m.id = new_member_id;
        m.client_id = r.client_id;
        m.client_host = r.client_host;
        m.session_timeout_ms = r.session_timeout_ms;
        m.rebalance_timeout_ms = rebalance_ms;
        m.expires_ms = now_ms + r.session_timeout_ms;
        const bool same_protocols =
            m.protocols.size() == r.protocols.size() &&
            std::equal(m.protocols.begin(), m.protocols.end(), r.protocols.begin(),
                       [](const auto& a, const auto& b) {
                           return a.name == b.name && a.metadata == b.metadata;
                       });
        m.protocols = r.protocols;
        static_members_[*r.instance_id] = new_member_id;
        if (leader_ == old_id) {
            leader_ = new_member_id;
        }
        auto& placed = members_[new_member_id] = std::move(m);
        if (state_ == group_state::stable && same_protocols) {
            // The group record names members by id: write it again.
            fx.write_metadata = true;
            pending_assignments_.reset();
            join_group_result res = join_answer(placed);
            res.members.clear();  // it is not asked to assign again, even as the leader
            return res;
        }
        if (state_ == group_state::preparing_rebalance) {
            placed.join_token = token;
            maybe_complete_join(now_ms, fx);
            return std::nullopt;
        }
        placed.join_token = token;
        prepare_rebalance(now_ms, fx);
        return std::nullopt;
    }

    if (member_id.empty()) {
        if (int64_t(members_.size()) >= limits_.max_size) {
            return join_error(errc::group_max_size_reached,
                              fmt::format("group {} has group.max.size {} members already", id_,
                                          limits_.max_size));
        }
        group_member m;
        m.id = new_member_id;
        m.instance_id = r.instance_id;
        m.client_id = r.client_id;
        m.client_host = r.client_host;
        m.session_timeout_ms = r.session_timeout_ms;
        m.rebalance_timeout_ms = rebalance_ms;
        m.protocols = r.protocols;
        m.join_token = token;
        m.expires_ms = now_ms + r.session_timeout_ms;
        if (m.instance_id) {
            static_members_[*m.instance_id] = m.id;
        }
        if (members_.empty()) {
            protocol_type_ = r.protocol_type;
        }
        members_[m.id] = std::move(m);
        if (state_ == group_state::preparing_rebalance) {
            if (initial_delay_until_ms_ > now_ms) {
                initial_delay_until_ms_ =
                    std::min(now_ms + limits_.initial_rebalance_delay_ms, initial_delay_limit_ms_);
            }
            maybe_complete_join(now_ms, fx);
        } else {
            prepare_rebalance(now_ms, fx);
        }
        return std::nullopt;
    }

    if (auto bad = check_member(member_id, r.instance_id); bad.error != errc::none) {
        return join_error(bad.error, bad.message);
    }
    group_member& m = members_.at(member_id);
    const bool same_protocols = m.protocols.size() == r.protocols.size() &&
                                std::equal(m.protocols.begin(), m.protocols.end(),
                                           r.protocols.begin(), [](const auto& a, const auto& b) {
                                               return a.name == b.name && a.metadata == b.metadata;
                                           });
    m.client_id = r.client_id;
    m.client_host = r.client_host;
    m.session_timeout_ms = r.session_timeout_ms;
    m.rebalance_timeout_ms = rebalance_ms;
    m.expires_ms = now_ms + r.session_timeout_ms;
    switch (state_) {
        case group_state::preparing_rebalance:
            m.protocols = r.protocols;
            if (m.join_token != 0) {
                fx.joins.emplace_back(m.join_token,
                                      join_error(errc::rebalance_in_progress,
                                                 "the member joined again before this answer"));
            }
            m.join_token = token;
            maybe_complete_join(now_ms, fx);
            return std::nullopt;
        case group_state::completing_rebalance:
        case group_state::stable:
            if (same_protocols &&
                (state_ == group_state::completing_rebalance || member_id != leader_)) {
                // Nothing changed: the current generation's answer again (a lost answer).
                return join_answer(m);
            }
            m.protocols = r.protocols;
            m.join_token = token;
            prepare_rebalance(now_ms, fx);
            return std::nullopt;
        case group_state::empty:
        case group_state::dead:
            break;
    }
    return join_error(errc::unknown_member_id, fmt::format("group {} has no members", id_));
}

void group::prepare_rebalance(int64_t now_ms, group_effects& fx) {
    if (state_ == group_state::completing_rebalance) {
        // The assignment being made is for a generation that ends now.
        pending_assignments_.reset();
        for (auto& [id, m] : members_) {
            m.assignment.clear();
            if (m.sync_token != 0) {
                fx.syncs.emplace_back(m.sync_token,
                                      sync_error(errc::rebalance_in_progress,
                                                 "the group is rebalancing: join again"));
                m.sync_token = 0;
            }
        }
    }
    int32_t longest = 0;
    for (const auto& [id, m] : members_) {
        longest = std::max(longest, m.rebalance_timeout_ms);
    }
    if (state_ == group_state::empty) {
        initial_delay_until_ms_ = now_ms + limits_.initial_rebalance_delay_ms;
        initial_delay_limit_ms_ = now_ms + longest;
    } else {
        initial_delay_until_ms_ = 0;
    }
    rebalance_deadline_ms_ = now_ms + longest;
    set_state(group_state::preparing_rebalance, now_ms);
    maybe_complete_join(now_ms, fx);
}

void group::maybe_complete_join(int64_t now_ms, group_effects& fx) {
    if (state_ != group_state::preparing_rebalance) {
        return;
    }
    if (all_joined() && now_ms >= initial_delay_until_ms_) {
        complete_join(now_ms, fx);
    }
}

void group::complete_join(int64_t now_ms, group_effects& fx) {
    // Members that did not join in time are out (their sessions end with the rebalance).
    for (auto it = members_.begin(); it != members_.end();) {
        if (it->second.join_token == 0) {
            if (it->second.instance_id) {
                static_members_.erase(*it->second.instance_id);
            }
            it = members_.erase(it);
        } else {
            ++it;
        }
    }
    // Generations count up and start again at 1 after the largest int32 (a negative one would
    // read as "outside the group").
    generation_ =
        generation_ >= std::numeric_limits<int32_t>::max() || generation_ < 0 ? 1 : generation_ + 1;
    if (members_.empty()) {
        protocol_name_.clear();
        leader_.clear();
        set_state(group_state::empty, now_ms);
        fx.write_metadata = true;
        return;
    }
    if (!members_.contains(leader_)) {
        leader_ = members_.begin()->first;
    }
    protocol_name_ = select_protocol();
    set_state(group_state::completing_rebalance, now_ms);
    for (auto& [id, m] : members_) {
        m.assignment.clear();
        m.expires_ms = now_ms + m.session_timeout_ms;
        fx.joins.emplace_back(m.join_token, join_answer(m));
        m.join_token = 0;
    }
}

std::optional<sync_group_result> group::sync(const sync_group_request& r, uint64_t token,
                                             int64_t now_ms, group_effects& fx) {
    if (auto bad = check_member(r.member_id, r.instance_id); bad.error != errc::none) {
        return sync_error(bad.error, bad.message);
    }
    if (r.generation != generation_) {
        return sync_error(errc::illegal_generation,
                          fmt::format("generation {} is not group {}'s current {}: join again",
                                      r.generation, id_, generation_));
    }
    if ((!r.protocol_type.empty() && r.protocol_type != protocol_type_) ||
        (!r.protocol_name.empty() && r.protocol_name != protocol_name_)) {
        return sync_error(errc::inconsistent_group_protocol,
                          fmt::format("group {} uses {}/{}, not {}/{}", id_, protocol_type_,
                                      protocol_name_, r.protocol_type, r.protocol_name));
    }
    group_member& m = members_.at(r.member_id);
    m.expires_ms = now_ms + m.session_timeout_ms;
    switch (state_) {
        case group_state::preparing_rebalance:
            return sync_error(errc::rebalance_in_progress, "the group is rebalancing: join again");
        case group_state::stable: {
            sync_group_result res;
            res.protocol_type = protocol_type_;
            res.protocol_name = protocol_name_;
            res.assignment = m.assignment;
            return res;
        }
        case group_state::completing_rebalance:
            if (m.sync_token != 0) {
                fx.syncs.emplace_back(m.sync_token,
                                      sync_error(errc::rebalance_in_progress,
                                                 "the member synced again before this answer"));
            }
            m.sync_token = token;
            if (r.member_id == leader_ && !pending_assignments_) {
                std::map<std::string, std::string> given;
                for (const auto& a : r.assignments) {
                    if (members_.contains(a.member_id)) {
                        given[a.member_id] = a.assignment;
                    }
                }
                pending_assignments_ = std::move(given);
                fx.write_metadata = true;
            }
            return std::nullopt;
        case group_state::empty:
        case group_state::dead:
            break;
    }
    return sync_error(errc::unknown_member_id, fmt::format("group {} has no members", id_));
}

group_record group::metadata_record() const {
    group_record r;
    r.protocol_type = protocol_type_;
    r.protocol_name = protocol_name_;
    r.generation = generation_;
    r.leader = leader_;
    r.state_ms = state_ms_;
    for (const auto& [id, m] : members_) {
        group_record::member out;
        out.id = id;
        out.instance_id = m.instance_id;
        out.client_id = m.client_id;
        out.client_host = m.client_host;
        out.session_timeout_ms = m.session_timeout_ms;
        out.rebalance_timeout_ms = m.rebalance_timeout_ms;
        const std::string* md = m.metadata_for(protocol_name_);
        out.metadata = md ? *md : "";
        if (pending_assignments_) {
            auto it = pending_assignments_->find(id);
            out.assignment = it == pending_assignments_->end() ? "" : it->second;
        } else {
            out.assignment = m.assignment;
        }
        r.members.push_back(std::move(out));
    }
    return r;
}

void group::metadata_written(int32_t generation, bool ok, int64_t now_ms, group_effects& fx) {
    if (generation != generation_ || state_ != group_state::completing_rebalance ||
        !pending_assignments_) {
        return;  // the record of an empty group, a static member's new id, or a past generation
    }
    if (!ok) {
        pending_assignments_.reset();
        prepare_rebalance(now_ms, fx);
        return;
    }
    for (auto& [id, m] : members_) {
        auto it = pending_assignments_->find(id);
        m.assignment = it == pending_assignments_->end() ? "" : it->second;
    }
    pending_assignments_.reset();
    set_state(group_state::stable, now_ms);
    for (auto& [id, m] : members_) {
        if (m.sync_token != 0) {
            sync_group_result res;
            res.protocol_type = protocol_type_;
            res.protocol_name = protocol_name_;
            res.assignment = m.assignment;
            fx.syncs.emplace_back(m.sync_token, std::move(res));
            m.sync_token = 0;
            m.expires_ms = now_ms + m.session_timeout_ms;
        }
    }
}

group_answer group::heartbeat(const heartbeat_request& r, int64_t now_ms) {
    if (state_ == group_state::dead) {
        return fail(errc::coordinator_not_available,
                    fmt::format("group {} is being removed: find its coordinator again", id_));
    }
    if (auto bad = check_member(r.member_id, r.instance_id); bad.error != errc::none) {
        return bad;
    }
    if (r.generation != generation_) {
        return fail(errc::illegal_generation,
                    fmt::format("generation {} is not group {}'s current {}: join again",
                                r.generation, id_, generation_));
    }
    group_member& m = members_.at(r.member_id);
    m.expires_ms = now_ms + m.session_timeout_ms;
    if (state_ == group_state::preparing_rebalance) {
        return fail(errc::rebalance_in_progress, "the group is rebalancing: join again");
    }
    return {};
}

left_member group::leave(const leaving_member& lm, int64_t now_ms, group_effects& fx) {
    left_member out{lm.member_id, lm.instance_id, errc::none};
    std::string id = lm.member_id;
    if (id.empty() && lm.instance_id) {
        auto it = static_members_.find(*lm.instance_id);
        if (it == static_members_.end()) {
            out.error = errc::unknown_member_id;
            return out;
        }
        id = it->second;
        out.member_id = id;
    }
    if (auto bad = check_member(id, lm.instance_id); bad.error != errc::none) {
        out.error = bad.error;
        return out;
    }
    remove_member(id, now_ms, fx);
    return out;
}

void group::remove_member(const std::string& member_id, int64_t now_ms, group_effects& fx) {
    auto it = members_.find(member_id);
    if (it == members_.end()) {
        return;
    }
    group_member& m = it->second;
    if (m.join_token != 0) {
        fx.joins.emplace_back(m.join_token,
                              join_error(errc::unknown_member_id, "the member left the group"));
    }
    if (m.sync_token != 0) {
        fx.syncs.emplace_back(m.sync_token,
                              sync_error(errc::unknown_member_id, "the member left the group"));
    }
    if (m.instance_id) {
        static_members_.erase(*m.instance_id);
    }
    members_.erase(it);
    switch (state_) {
        case group_state::stable:
        case group_state::completing_rebalance:
            prepare_rebalance(now_ms, fx);
            break;
        case group_state::preparing_rebalance:
            maybe_complete_join(now_ms, fx);
            break;
        case group_state::empty:
        case group_state::dead:
            break;
    }
}

group_answer group::check_commit(const offset_commit_request& r, int64_t now_ms) {
    if (state_ == group_state::dead) {
        return fail(errc::coordinator_not_available,
                    fmt::format("group {} is being removed: find its coordinator again", id_));
    }
    if (r.generation < 0 && r.member_id.empty()) {
        if (!members_.empty()) {
            return fail(errc::unknown_member_id,
                        fmt::format("group {} has active members: only they may commit (stop "
                                    "them first to set its offsets from outside)",
                                    id_));
        }
        return {};
    }
    if (auto bad = check_member(r.member_id, r.instance_id); bad.error != errc::none) {
        return bad;
    }
    if (r.generation != generation_) {
        return fail(errc::illegal_generation,
                    fmt::format("a commit from generation {} of group {}, which is at {} now: "
                                "the member's partitions may belong to another one",
                                r.generation, id_, generation_));
    }
    // While the group prepares a rebalance its members still commit at the ending generation
    // (an eager member commits as it gives its partitions up); between the join and the
    // assignment nobody owns anything.
    if (state_ == group_state::completing_rebalance) {
        return fail(errc::rebalance_in_progress,
                    "the group is between its join and its assignment: commit once assigned");
    }
    group_member& m = members_.at(r.member_id);
    m.expires_ms = now_ms + m.session_timeout_ms;
    return {};
}

void group::commit(const offset_to_commit& o, int64_t now_ms) {
    offsets_[topic_partition_id{o.topic, o.partition}] =
        offset_value{o.offset, o.leader_epoch, o.metadata, now_ms};
}

group_answer group::check_delete() const {
    if (state_ == group_state::dead) {
        return fail(errc::group_id_not_found, fmt::format("group {} does not exist", id_));
    }
    if (state_ != group_state::empty) {
        return fail(errc::non_empty_group,
                    fmt::format("group {} has {} active members ({}): stop them first", id_,
                                members_.size(), state_name(state_)));
    }
    return {};
}

void group::mark_dead() {
    state_ = group_state::dead;
    offsets_.clear();
}

void group::tick(int64_t now_ms, group_effects& fx) {
    if (state_ == group_state::preparing_rebalance) {
        if (now_ms >= rebalance_deadline_ms_) {
            complete_join(now_ms, fx);  // without the members that did not join
        } else {
            maybe_complete_join(now_ms, fx);
        }
        return;
    }
    if (state_ != group_state::stable && state_ != group_state::completing_rebalance) {
        return;
    }
    std::vector<std::string> expired;
    for (const auto& [id, m] : members_) {
        // A member parked in SyncGroup waits on the leader, not on itself: its session starts
        // again when it is answered. (A leader that never syncs ends by its own session.)
        if (m.sync_token == 0 && m.expires_ms <= now_ms) {
            expired.push_back(id);
        }
    }
    for (const auto& id : expired) {
        remove_member(id, now_ms, fx);
    }
}

std::vector<topic_partition_id> group::expired_offsets(int64_t now_ms, int64_t retention_ms) const {
    std::vector<topic_partition_id> out;
    if (state_ != group_state::empty) {
        return out;
    }
    const bool consumer_group = !protocol_type_.empty();
    for (const auto& [tp, v] : offsets_) {
        const int64_t since = consumer_group ? state_ms_ : v.commit_ms;
        if (now_ms - since >= retention_ms) {
            out.push_back(tp);
        }
    }
    return out;
}

void group::unload(group_effects& fx) {
    for (auto& [id, m] : members_) {
        if (m.join_token != 0) {
            fx.joins.emplace_back(
                m.join_token,
                join_error(errc::not_coordinator, "this broker no longer coordinates the group"));
            m.join_token = 0;
        }
        if (m.sync_token != 0) {
            fx.syncs.emplace_back(
                m.sync_token,
                sync_error(errc::not_coordinator, "this broker no longer coordinates the group"));
            m.sync_token = 0;
        }
    }
}

}  // namespace sluice::broker::groups
