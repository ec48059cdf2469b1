// sluice-group-bench: consumer-group figures against a running broker (scripts/bench-groups.sh).
//
//   rebalance   10 members subscribe to a topic of 100 partitions: the time from the first
//               subscribe until every partition has exactly one owner (join); then an 11th
//               member joins: the time until it holds its share and every partition has one
//               owner again (add), and how many partitions the others gave up meanwhile. Once
//               with the eager range assignor, once with cooperative-sticky. Each member polls
//               on its own thread, as an application would.
//   throughput  the records of a 6-partition topic read by one consumer that assigns itself
//               every partition (plain) and by a group of 3 (group), alternating which goes
//               first, for --rounds rounds; MB/s of each and the geometric mean of the rounds'
//               group/plain ratios.
// Prints one line:
//   group-bench eager_join_ms=X eager_add_ms=X eager_add_revoked=N cooperative_join_ms=X
//     cooperative_add_ms=X cooperative_add_revoked=N plain_mb_s=X group3_mb_s=X group_ratio=X
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sluice/client/admin.h"
#include "sluice/consumer/consumer.h"
#include "sluice/producer/producer.h"

using namespace sluice;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

std::string bootstrap = "127.0.0.1:9192";

[[noreturn]] void die(const std::string& what, std::error_code ec = {}) {
    std::fprintf(stderr, "group-bench: %s%s%s\n", what.c_str(), ec ? ": " : "",
                 ec ? ec.message().c_str() : "");
    std::exit(1);
}

consumer_config base_config() {
    consumer_config c;
    c.bootstrap_servers = {bootstrap};
    c.client_id = "group-bench";
    c.auto_offset_reset = "earliest";
    return c;
}

// A member polling on its own thread; what it owns, through its callbacks.
class member : public rebalance_listener {
  public:
    member(const std::string& group, const std::string& strategy, const std::string& topic) {
        auto c = base_config();
        c.group_id = group;
        c.partition_assignment_strategy = {strategy};
        c.enable_auto_commit = false;
        c.heartbeat_interval_ms = 500;
        c.session_timeout_ms = 10000;
        auto made = consumer::create(c);
        if (!made) {
            die("consumer", made.error());
        }
        consumer_ = std::move(made).value();
        if (auto r = consumer_->subscribe({topic}, this); !r) {
            die("subscribe", r.error());
        }
        thread_ = std::thread([this] {
            while (!stop_) {
                auto got = consumer_->poll_view(20ms);  // as the plain reader: no copies
                if (got) {
                    records_ += got.value().size();
                    size_t n = 0;
                    for (const auto& r : got.value()) {
                        n += r.value ? r.value->size() : 0;
                    }
                    bytes_ += n;
                }
            }
            consumer_->close();
        });
    }
    ~member() override {
        stop_ = true;
        thread_.join();
    }
    void on_partitions_revoked(const std::vector<topic_partition>& p) override {
        std::lock_guard lock(mutex_);
        for (const auto& tp : p) {
            owned_.erase(tp);
        }
        revoked_ += p.size();
    }
    void on_partitions_assigned(const std::vector<topic_partition>& p) override {
        std::lock_guard lock(mutex_);
        owned_.insert(p.begin(), p.end());
    }
    std::set<topic_partition> owned() {
        std::lock_guard lock(mutex_);
        return owned_;
    }
    size_t revoked() {
        std::lock_guard lock(mutex_);
        return revoked_;
    }
    size_t records() const { return records_; }
    size_t bytes() const { return bytes_; }

  private:
    std::unique_ptr<consumer> consumer_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<size_t> records_{0};
    std::atomic<size_t> bytes_{0};
    std::mutex mutex_;
    std::set<topic_partition> owned_;
    size_t revoked_ = 0;
};

// Waits until every one of `partitions` has exactly one owner among `ms` and `extra(ms)` holds.
template <typename Extra>
double wait_owned(std::vector<std::unique_ptr<member>>& ms, size_t partitions, Extra extra,
                  steady::time_point since) {
    const auto deadline = steady::now() + 120s;
    while (steady::now() < deadline) {
        size_t total = 0;
        std::set<topic_partition> all;
        for (auto& m : ms) {
            auto o = m->owned();
            total += o.size();
            all.insert(o.begin(), o.end());
        }
        if (total == partitions && all.size() == partitions && extra(ms)) {
            return std::chrono::duration<double, std::milli>(steady::now() - since).count();
        }
        std::this_thread::sleep_for(2ms);
    }
    die("a rebalance did not settle within 120 s");
}

struct rebalance_figures {
    double join_ms = 0;
    double add_ms = 0;
    size_t add_revoked = 0;
};

rebalance_figures rebalance(const std::string& strategy, const std::string& topic) {
    rebalance_figures f;
    const std::string group =
        "bench-" + strategy + "-" + std::to_string(steady::now().time_since_epoch().count());
    std::vector<std::unique_ptr<member>> ms;
    const auto start = steady::now();
    for (int i = 0; i < 10; ++i) {
        ms.push_back(std::make_unique<member>(group, strategy, topic));
    }
    // Settled: every member holds its share (9 or 10), not only the first to join all of them.
    auto shared = [](std::vector<std::unique_ptr<member>>& all) {
        for (auto& m : all) {
            if (m->owned().size() < 100 / all.size()) {
                return false;
            }
        }
        return true;
    };
    f.join_ms = wait_owned(ms, 100, shared, start);
    // Quiet: nothing moves for a second (a cooperative group may still be finishing a round).
    for (auto stable_since = steady::now(); steady::now() - stable_since < 1s;) {
        std::this_thread::sleep_for(50ms);
        if (!shared(ms)) {
            wait_owned(ms, 100, shared, start);
            stable_since = steady::now();
        }
    }
    size_t revoked_before = 0;
    for (auto& m : ms) {
        revoked_before += m->revoked();
    }
    const auto added = steady::now();
    ms.push_back(std::make_unique<member>(group, strategy, topic));
    f.add_ms = wait_owned(ms, 100, shared, added);
    size_t revoked_after = 0;
    for (size_t i = 0; i + 1 < ms.size(); ++i) {
        revoked_after += ms[i]->revoked();
    }
    f.add_revoked = revoked_after - revoked_before;
    return f;
}

// MB/s reading `records` records from `topic`: by one consumer assigned every partition, or by a
// group of 3.
double read_all(const std::string& topic, int partitions, size_t records, bool as_group) {
    const auto start = steady::now();
    size_t bytes = 0;
    if (as_group) {
        const std::string group = "bench-read-" + std::to_string(start.time_since_epoch().count());
        std::vector<std::unique_ptr<member>> ms;
        for (int i = 0; i < 3; ++i) {
            ms.push_back(std::make_unique<member>(group, "range", topic));
        }
        const auto deadline = steady::now() + 300s;
        while (steady::now() < deadline) {
            size_t n = 0;
            bytes = 0;
            for (auto& m : ms) {
                n += m->records();
                bytes += m->bytes();
            }
            if (n >= records) {
                break;
            }
            std::this_thread::sleep_for(1ms);
        }
    } else {
        auto c = consumer::create(base_config());
        if (!c) {
            die("consumer", c.error());
        }
        std::vector<topic_partition> tps;
        for (int p = 0; p < partitions; ++p) {
            tps.push_back({topic, p});
        }
        if (!c.value()->assign(tps) || !c.value()->seek_to_beginning(tps)) {
            die("assign");
        }
        size_t n = 0;
        while (n < records) {
            auto got = c.value()->poll_view(100ms);
            if (!got) {
                die("poll", got.error());
            }
            for (const auto& r : got.value()) {
                ++n;
                bytes += r.value ? r.value->size() : 0;
            }
        }
    }
    const double secs = std::chrono::duration<double>(steady::now() - start).count();
    return double(bytes) / (1 << 20) / secs;
}

}  // namespace

int main(int argc, char** argv) {
    size_t records = 2000000;
    size_t record_size = 512;
    int rounds = 4;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i];
        if (k == "--bootstrap") {
            bootstrap = argv[i + 1];
        } else if (k == "--records") {
            records = std::stoul(argv[i + 1]);
        } else if (k == "--record-size") {
            record_size = std::stoul(argv[i + 1]);
        } else if (k == "--rounds") {
            rounds = std::stoi(argv[i + 1]);
        } else {
            die("unknown option " + k);
        }
    }
    client_config cc;
    cc.bootstrap_servers = {bootstrap};
    auto ad = admin::create(cc);
    if (!ad) {
        die("admin", ad.error());
    }
    for (const char* t : {"rebalance-eager", "rebalance-coop"}) {
        if (auto r = ad.value()->create_topic(t, 100);
            !r && r.error() != errc::topic_already_exists) {
            die(std::string("create ") + t, r.error());
        }
    }
    if (auto r = ad.value()->create_topic("group-read", 6);
        !r && r.error() != errc::topic_already_exists) {
        die("create group-read", r.error());
    }
    const auto eager = rebalance("range", "rebalance-eager");
    std::printf(
        "eager (range): join of 10 members over 100 partitions %.0f ms; an 11th member "
        "%.0f ms, %zu partitions revoked\n",
        eager.join_ms, eager.add_ms, eager.add_revoked);
    const auto coop = rebalance("cooperative-sticky", "rebalance-coop");
    std::printf(
        "cooperative-sticky: join %.0f ms; an 11th member %.0f ms, %zu partitions "
        "revoked\n",
        coop.join_ms, coop.add_ms, coop.add_revoked);

    {
        producer_config pc;
        pc.bootstrap_servers = {bootstrap};
        pc.batch_size = 262144;
        pc.acks = 1;
        auto p = producer::create(pc);
        if (!p) {
            die("producer", p.error());
        }
        const std::string value(record_size, 'x');
        for (size_t i = 0; i < records; ++i) {
            producer_record r;
            r.topic = "group-read";
            r.partition = int32_t(i % 6);
            r.value = value;
            p.value()->send(std::move(r));
        }
        if (!p.value()->flush()) {
            die("produce");
        }
    }
    std::vector<double> plain;
    std::vector<double> grouped;
    double log_sum = 0;
    for (int round = 0; round < rounds; ++round) {
        double a = 0;
        double b = 0;
        if (round % 2 == 0) {
            a = read_all("group-read", 6, records, false);
            b = read_all("group-read", 6, records, true);
        } else {
            b = read_all("group-read", 6, records, true);
            a = read_all("group-read", 6, records, false);
        }
        plain.push_back(a);
        grouped.push_back(b);
        log_sum += std::log(b / a);
        std::printf("round %d: plain %.1f MB/s, group of 3 %.1f MB/s, ratio %.2f\n", round + 1, a,
                    b, b / a);
    }
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    };
    std::printf(
        "group-bench eager_join_ms=%.0f eager_add_ms=%.0f eager_add_revoked=%zu "
        "cooperative_join_ms=%.0f cooperative_add_ms=%.0f cooperative_add_revoked=%zu "
        "plain_mb_s=%.1f group3_mb_s=%.1f group_ratio=%.2f\n",
        eager.join_ms, eager.add_ms, eager.add_revoked, coop.join_ms, coop.add_ms, coop.add_revoked,
        median(plain), median(grouped), std::exp(log_sum / rounds));
    return 0;
}
