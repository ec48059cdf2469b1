// A TCP proxy between clients and one broker that loses acknowledgements: it forwards every byte
// from the client, and every frame from the broker except each `drop_every`-th produce response,
// which it drops, closing both connections at once (as a reset would). The broker appended the
// records; the client never hears of it, so it retries, on a new connection.
//
// The broker advertises the proxy (advertised.listeners), so that every connection of a client
// goes through it. Threads: one that accepts, two per connection; all of them end in the
// destructor. port() and dropped() may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace sluice::testing {

class lossy_proxy {
  public:
    // Listens on an ephemeral loopback port; forwards to `upstream_port` once it is set.
    explicit lossy_proxy(int drop_every);
    ~lossy_proxy();
    lossy_proxy(const lossy_proxy&) = delete;
    lossy_proxy& operator=(const lossy_proxy&) = delete;

    uint16_t port() const { return port_; }
    void set_upstream(uint16_t port) { upstream_.store(port); }
    // Produce responses dropped so far.
    int dropped() const { return dropped_.load(); }
    int produce_responses() const { return responses_.load(); }

  private:
    struct link;
    void accept_loop();
    void serve(int client);

    const int drop_every_;
    int listener_ = -1;
    uint16_t port_ = 0;
    std::atomic<uint16_t> upstream_{0};
    std::atomic<bool> stop_{false};
    std::atomic<int> dropped_{0};
    std::atomic<int> responses_{0};
    std::mutex mutex_;  // threads_, links_
    std::vector<std::thread> threads_;
    std::vector<std::shared_ptr<link>> links_;
    std::thread acceptor_;
};

}  // namespace sluice::testing
