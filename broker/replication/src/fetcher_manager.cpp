#include "sluice/replication/fetcher_manager.h"

#include "sluice/core/logging.h"

namespace sluice::replication {

fetcher_manager::fetcher_manager(fetcher_config config)
    : config_(std::move(config)), channel_(std::make_shared<thread_channel>(thread_.context())) {}

fetcher_manager::~fetcher_manager() {
    stop();
}

void fetcher_manager::update(std::vector<follow_spec> specs) {
    std::lock_guard lock(mutex_);
    if (stopped_) {
        return;
    }
    boost::asio::post(thread_.context(),
                      [this, s = std::move(specs)]() mutable { apply(std::move(s)); });
}

void fetcher_manager::apply(std::vector<follow_spec> specs) {
    std::map<node_id_t, std::vector<followed_partition>> by_leader;
    std::map<node_id_t, client::endpoint> endpoints;
    for (auto& s : specs) {
        endpoints[s.leader] = s.leader_endpoint;
        by_leader[s.leader].push_back(std::move(s.partition));
    }
    for (auto it = fetchers_.begin(); it != fetchers_.end();) {
        auto ep = endpoints.find(it->first);
        if (ep == endpoints.end() || ep->second.host != it->second->endpoint().host ||
            ep->second.port != it->second->endpoint().port) {
            it->second->stop();  // no partitions left there, or the leader moved
            it = fetchers_.erase(it);
        } else {
            ++it;
        }
    }
    for (auto& [leader, parts] : by_leader) {
        auto& f = fetchers_[leader];
        if (!f) {
            f = std::make_shared<replica_fetcher>(thread_.context(), channel_, leader,
                                                  endpoints[leader], config_);
            f->start();
            broker::logging::info("replica fetcher for broker {} at {}: started", leader,
                                  endpoints[leader].text());
        }
        f->set_partitions(std::move(parts));
    }
}

void fetcher_manager::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopped_) {
            return;
        }
        stopped_ = true;
    }
    boost::asio::post(thread_.context(), [this] {
        for (auto& [id, f] : fetchers_) {
            f->stop();
        }
        fetchers_.clear();
    });
    thread_.join();
    channel_->close();
}

}  // namespace sluice::replication
