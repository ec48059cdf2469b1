#include "sluice/client/internal/cluster.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sluice/client/errc.h"
#include "sluice/client/internal/co_try.h"

namespace sluice::client {

void metadata_cache::apply(const metadata_answer& a, bool all_topics, clock::time_point now) {
    if (!a.brokers.empty()) {
        brokers_.clear();
        for (const broker_meta& b : a.brokers) {
            brokers_[b.node_id] = b;
        }
    }
    if (all_topics) {
        topics_.clear();
    }
    for (const topic_meta& t : a.topics) {
        if (t.error == errc::none) {
            topics_[t.name] = t;
        } else {
            topics_.erase(t.name);
        }
    }
    updated_ = now;
}

const topic_meta* metadata_cache::topic(std::string_view name) const {
    auto it = topics_.find(name);
    return it == topics_.end() ? nullptr : &it->second;
}

const partition_meta* metadata_cache::partition(std::string_view topic_name,
                                                int32_t partition) const {
    const topic_meta* t = topic(topic_name);
    if (t == nullptr || partition < 0) {
        return nullptr;
    }
    // Partitions are sorted and normally dense, so index first.
    if (size_t(partition) < t->partitions.size() &&
        t->partitions[size_t(partition)].partition == partition) {
        return &t->partitions[size_t(partition)];
    }
    for (const partition_meta& p : t->partitions) {
        if (p.partition == partition) {
            return &p;
        }
    }
    return nullptr;
}

const broker_meta* metadata_cache::broker(int32_t node_id) const {
    auto it = brokers_.find(node_id);
    return it == brokers_.end() ? nullptr : &it->second;
}

cluster::cluster(asio::io_context& io, client_config config, connection_options opts)
    : io_(io), config_(std::move(config)), opts_(opts) {
    for (const std::string& s : config_.bootstrap_servers) {
        if (auto ep = parse_endpoint(s)) {
            bootstrap_.push_back(ep.value());
        }
    }
}

cluster::~cluster() {
    for (auto& [addr, c] : connections_) {
        c->close(make_error_code(client_errc::closed));
    }
}

void cluster::note_unresponsive() {
    for (const auto& [addr, c] : connections_) {
        if (c->is_closed() && c->error() == client_errc::timed_out) {
            auto& until = unresponsive_until_[addr];
            until = std::max(until, c->closed_at() + request_timeout());
        }
    }
}

bool cluster::unresponsive(const std::string& addr) const {
    auto it = unresponsive_until_.find(addr);
    return it != unresponsive_until_.end() && clock::now() < it->second;
}

std::shared_ptr<connection> cluster::get_or_create(const endpoint& ep) {
    note_unresponsive();  // before a closed connection is replaced
    std::shared_ptr<connection>& c = connections_[ep.text()];
    if (!c || c->is_closed()) {
        c = std::make_shared<connection>(io_, ep, opts_);
    }
    return c;
}

awaitable<result<std::shared_ptr<connection>>> cluster::any() {
    if (closed_) {
        co_return close_reason_;
    }
    note_unresponsive();
    std::shared_ptr<connection> best;
    for (auto& [addr, c] : connections_) {
        if (c->is_open() && !unresponsive(addr) && (!best || c->in_flight() < best->in_flight())) {
            best = c;
        }
    }
    if (best) {
        co_return best;
    }
    std::vector<endpoint> candidates = bootstrap_;
    for (const auto& [id, b] : metadata_.brokers()) {
        candidates.push_back(endpoint{b.host, static_cast<uint16_t>(b.port)});
    }
    // Those whose last connection attempt failed within retry.backoff.ms next, and the
    // unresponsive last (stable: otherwise in the order given).
    const auto now = clock::now();
    std::vector<std::pair<int, endpoint>> tiers;  // (tier, endpoint), each tier taken once
    for (const endpoint& ep : candidates) {
        auto retry = retry_connect_at_.find(ep.text());
        const int tier = unresponsive(ep.text())                                   ? 2
                         : retry != retry_connect_at_.end() && now < retry->second ? 1
                                                                                   : 0;
        tiers.emplace_back(tier, ep);
    }
    std::stable_sort(tiers.begin(), tiers.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    candidates.clear();
    for (auto& [tier, ep] : tiers) {
        candidates.push_back(std::move(ep));
    }
    std::vector<std::string> failures;
    std::set<std::string> tried;
    for (const endpoint& ep : candidates) {
        if (!tried.insert(ep.text()).second) {
            continue;
        }
        auto c = get_or_create(ep);
        const std::error_code ec = co_await c->connect();
        if (closed_) {
            co_return close_reason_;
        }
        if (!ec) {
            retry_connect_at_.erase(ep.text());
            co_return c;
        }
        retry_connect_at_[ep.text()] =
            clock::now() + std::chrono::milliseconds(config_.retry_backoff_ms);
        failures.push_back(c->connect_failure().empty() ? ec.message() : c->connect_failure());
    }
    co_return make_client_error(client_errc::broker_unreachable,
                                fmt::format("{}", fmt::join(failures, "; ")));
}

awaitable<result<std::shared_ptr<connection>>> cluster::node(int32_t node_id) {
    if (closed_) {
        co_return close_reason_;
    }
    const broker_meta* b = metadata_.broker(node_id);
    if (b == nullptr) {
        co_return make_client_error(client_errc::broker_unreachable,
                                    fmt::format("broker {} is not in the metadata", node_id));
    }
    auto c = get_or_create(endpoint{b->host, static_cast<uint16_t>(b->port)});
    const std::error_code ec = co_await c->connect();
    if (closed_) {
        co_return close_reason_;
    }
    if (ec) {
        co_return ec;
    }
    co_return c;
}

bool cluster::unreachable(int32_t node_id) const {
    const broker_meta* b = metadata_.broker(node_id);
    if (b == nullptr) {
        return true;
    }
    const endpoint ep{b->host, static_cast<uint16_t>(b->port)};
    return retry_connect_at_.contains(ep.text()) || unresponsive(ep.text());
}

std::shared_ptr<connection> cluster::ready(int32_t node_id) {
    if (closed_) {
        return nullptr;
    }
    const broker_meta* b = metadata_.broker(node_id);
    if (b == nullptr) {
        return nullptr;
    }
    const endpoint ep{b->host, static_cast<uint16_t>(b->port)};
    const std::string addr = ep.text();
    auto it = connections_.find(addr);
    if (it != connections_.end()) {
        if (it->second->is_open()) {
            return it->second;
        }
        if (it->second->current_state() == connection::state::connecting) {
            return nullptr;
        }
    }
    auto retry = retry_connect_at_.find(addr);
    if (retry != retry_connect_at_.end() && clock::now() < retry->second) {
        return nullptr;
    }
    auto c = get_or_create(ep);
    asio::co_spawn(
        io_,
        [this, c, addr]() -> awaitable<void> {
            const std::error_code ec = co_await c->connect();
            if (closed_) {
                co_return;
            }
            if (ec) {
                retry_connect_at_[addr] =
                    clock::now() + std::chrono::milliseconds(config_.retry_backoff_ms);
            } else {
                retry_connect_at_.erase(addr);
            }
            if (on_change_) {
                on_change_();
            }
        },
        rethrow_escaped);
    return nullptr;
}

awaitable<result<metadata_answer>> cluster::refresh(metadata_request req) {
    SLUICE_CO_TRY(std::shared_ptr<connection> c, co_await any());
    const std::string& cid = config_.client_id;
    SLUICE_CO_TRY(response r,
                  co_await c->call([&](int32_t id) { return encode_metadata(id, cid, req); },
                                   request_timeout()));
    SLUICE_CO_TRY(metadata_answer a, decode_metadata(r));
    if (closed_) {
        co_return close_reason_;
    }
    metadata_.apply(a, req.all_topics, clock::now());
    co_return a;
}

void cluster::close(std::error_code reason) {
    if (closed_) {
        return;
    }
    closed_ = true;
    close_reason_ = reason;
    auto conns = std::move(connections_);
    connections_.clear();
    for (auto& [addr, c] : conns) {
        c->close(reason);
    }
}

awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    boost::system::error_code ec;
    co_await t.async_wait(use_ec(ec));
}

}  // namespace sluice::client
