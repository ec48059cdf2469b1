// Failover on real broker processes (scripts/cluster.sh), each under a producer with acks=all:
// a leader paused past its session is replaced, and what it appends once it runs again is
// truncated and never read; a double failover A -> B -> A never moves the high watermark back;
// SIGKILL of every broker at once in fsync mode loses no acknowledged record; a controlled
// shutdown of a leader costs the client nothing but retries. Every wait is for a condition.
#include <doctest/doctest.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <sys/types.h>

#include "replication_helpers.h"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

// Runs `step` on a thread of its own again and again until stopped or destroyed (so that a
// failed REQUIRE, which leaves the scope by an exception, still joins it).
class background {
  public:
    explicit background(std::function<void()> step)
        : thread_([this, step = std::move(step)] {
              while (!stop_) {
                  step();
              }
          }) {}
    ~background() { stop(); }
    background(const background&) = delete;
    background& operator=(const background&) = delete;
    void stop() {
        stop_ = true;
        if (thread_.joinable()) {
            thread_.join();
        }
    }

  private:
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// Sends batches of `n` until destroyed.
class writer {
  public:
    writer(ledger& book, int n) : thread_([&book, n] { book.send(n); }) {}

  private:
    background thread_;
};

// Waits until the acknowledged records number `more` beyond `from`.
void wait_acked(const ledger& book, size_t from, size_t more) {
    REQUIRE_MESSAGE(eventually([&] { return book.acked().size() >= from + more; }, 60s),
                    "acknowledged ", book.acked().size(), ", failed ", book.failed(), " (",
                    book.first_failure(), ")");
}

int other_than(const std::vector<int32_t>& replicas, std::initializer_list<int> not_these) {
    for (int32_t r : replicas) {
        if (std::find(not_these.begin(), not_these.end(), r) == not_these.end()) {
            return r;
        }
    }
    return -1;
}

}  // namespace

TEST_CASE("a leader paused past its session is replaced; what it appends after is never read") {
    local_cluster c(3, replication_timeouts);
    const partition_seen p = create_in_sync(c, "paused", 3, {{"min.insync.replicas", "2"}});
    const int victim = p.leader;

    // Every (epoch, leader) any broker describes, all along: one leader per epoch.
    std::atomic<int> paused{-1};
    std::mutex mu;
    std::map<int32_t, std::set<int32_t>> leaders_by_epoch;
    background watcher([&] {
        for (int id = 1; id <= 3; ++id) {
            if (id == paused) {
                continue;
            }
            if (auto s = seen_by(c, id, "paused"); s && s->leader > 0) {
                std::lock_guard lock(mu);
                leaders_by_epoch[s->leader_epoch].insert(s->leader);
            }
        }
        std::this_thread::sleep_for(20ms);
    });
    // A consumer reading all along, through whoever leads: what it reads must stay.
    std::map<int64_t, std::string> read_live;
    auto con = partition_reader(c, "paused");
    background reader([&] {
        auto got = con->poll(100ms);
        if (!got) {
            return;  // a leader change: the consumer finds the new one
        }
        std::lock_guard lock(mu);
        for (const auto& r : got.value()) {
            read_live.emplace(r.offset, r.value.value_or(""));
        }
    });

    ledger book(c, "paused");
    book.send(200);
    // A producer with acks=1 that knows only the victim: its sends queue while the victim is
    // paused and reach it when it runs again, still believing it leads.
    producer_config stale_config = producer_of(c, 1);
    stale_config.bootstrap_servers = c.client(victim).bootstrap_servers;
    auto stale = producer::create(stale_config);
    REQUIRE(stale);
    auto stale_send = [&](int i) {
        producer_record r;
        r.topic = "paused";
        r.partition = 0;
        r.value = fmt::format("stale{}", i);
        return stale.value()->send(std::move(r));
    };
    REQUIRE(stale_send(0).get());

    paused = victim;
    c.node("pause", victim);
    std::vector<std::future<result<record_metadata>>> queued;
    for (int i = 1; i <= 50; ++i) {
        queued.push_back(stale_send(i));
    }
    {
        writer w(book, 50);
        const int observer = victim % 3 + 1;
        REQUIRE(eventually([&] {
            auto s = seen_by(c, observer, "paused");
            return s && s->leader > 0 && s->leader != victim;
        }));
        wait_acked(book, book.acked().size(), 200);
        c.node("resume", victim);
        paused = -1;
        for (auto& f : queued) {
            (void)f.get();  // acks=1 on a deposed leader: written or not, no promise either way
        }
        REQUIRE(isr_reaches(c, observer, "paused", 3));
        wait_acked(book, book.acked().size(), 200);
    }
    const auto acked = book.acked();
    const auto all = read_all(c, 1, "paused", acked.size());
    watcher.stop();
    reader.stop();

    check_acknowledged(acked, all);
    for (const auto& [offset, value] : read_live) {
        auto it = all.find(offset);
        REQUIRE_MESSAGE(it != all.end(), "offset ", offset, " was read, and is gone");
        CHECK_MESSAGE(it->second == value, "offset ", offset, " was read as ", value,
                      " and now holds ", it->second);
    }
    CHECK(read_live.size() > 200);
    for (const auto& [epoch, leaders] : leaders_by_epoch) {
        CHECK_MESSAGE(leaders.size() == 1, "epoch ", epoch, " had ", leaders.size(), " leaders");
    }
    CHECK(leaders_by_epoch.size() >= 2);
    // The victim's own appends after it lost leadership were truncated away.
    CHECK(eventually([&] { return logs_identical(c, {1, 2, 3}, "paused"); }));
}

TEST_CASE("a double failover A -> B -> A: the high watermark never goes back; the logs agree") {
    local_cluster c(3, replication_timeouts);
    const partition_seen p = create_in_sync(c, "pingpong", 2);
    const int a = p.leader;
    const int b = other_than(p.replicas, {a});
    const int observer = other_than({1, 2, 3}, {a, b});
    auto leader_is = [&](int id) {
        return eventually([&] {
            auto s = seen_by(c, observer, "pingpong");
            return s && s->leader == id;
        });
    };
    auto isr_full = [&] { return isr_reaches(c, observer, "pingpong", 2); };

    // The high watermark (ListOffsets latest at the leader), read all along.
    std::vector<int64_t> marks;
    consumer_config cc;
    static_cast<client_config&>(cc) = c.client(observer);
    auto con = consumer::create(cc);
    REQUIRE(con);
    const topic_partition tp{"pingpong", 0};
    background watcher([&] {
        if (auto e = con.value()->end_offsets({tp}); e) {
            marks.push_back(e.value().at(tp));
        }
        std::this_thread::sleep_for(10ms);
    });

    ledger book(c, "pingpong");
    {
        writer w(book, 20);
        wait_acked(book, 0, 200);
        c.node("kill", a);
        REQUIRE(leader_is(b));
        c.node("restart", a);
        REQUIRE(isr_full());
        wait_acked(book, book.acked().size(), 100);
        c.node("kill", b);  // back to A as soon as it is in sync
        REQUIRE(leader_is(a));
        c.node("restart", b);
        REQUIRE(isr_full());
        wait_acked(book, book.acked().size(), 100);
    }
    watcher.stop();

    REQUIRE(marks.size() > 10);
    for (size_t i = 1; i < marks.size(); ++i) {
        CHECK_MESSAGE(marks[i] >= marks[i - 1], "the high watermark went from ", marks[i - 1],
                      " back to ", marks[i]);
    }
    const auto acked = book.acked();
    check_acknowledged(acked, read_all(c, observer, "pingpong", acked.size()));
    CHECK(eventually([&] { return logs_identical(c, {a, b}, "pingpong"); }));
}

TEST_CASE("SIGKILL of every broker at once in fsync mode loses no acknowledged record") {
    local_cluster c(3, replication_timeouts + "\nlog.flush.interval.messages=1");
    create_in_sync(c, "durable", 3, {{"min.insync.replicas", "2"}});
    ledger book(c, "durable");
    {
        writer w(book, 50);
        wait_acked(book, 0, 300);
        // All three in one moment, not one cluster.sh call after another.
        std::vector<pid_t> pids;
        for (int id = 1; id <= 3; ++id) {
            std::ifstream in(c.node_dir(id) / "pid");
            pid_t pid = 0;
            REQUIRE((in >> pid));
            pids.push_back(pid);
        }
        for (pid_t pid : pids) {
            ::kill(pid, SIGKILL);
        }
        for (pid_t pid : pids) {
            REQUIRE(eventually([pid] { return ::kill(pid, 0) != 0; }));
        }
        // Each restart waits for its broker to serve, which needs a quorum: all at once.
        std::vector<std::future<void>> back;
        for (int id = 1; id <= 3; ++id) {
            back.push_back(std::async(std::launch::async, [&c, id] { c.node("restart", id); }));
        }
        for (auto& f : back) {
            f.get();
        }
        wait_acked(book, book.acked().size(), 300);
    }
    const auto acked = book.acked();
    check_acknowledged(acked, read_all(c, 1, "durable", acked.size()));
    CHECK(eventually([&] { return logs_identical(c, {1, 2, 3}, "durable"); }, 60s));
}

TEST_CASE("a controlled shutdown of a leader under load costs the client only retries") {
    local_cluster c(3, replication_timeouts);
    const partition_seen p = create_in_sync(c, "handover", 3, {{"min.insync.replicas", "2"}});
    const int victim = p.leader;
    const int observer = victim % 3 + 1;
    ledger book(c, "handover");
    {
        writer w(book, 20);
        wait_acked(book, 0, 200);
        c.node("shutdown", victim);
        CHECK(eventually([&] {
            auto s = seen_by(c, observer, "handover");
            return s && s->leader > 0 && s->leader != victim;
        }));
        wait_acked(book, book.acked().size(), 200);
        c.node("restart", victim);
        REQUIRE(isr_reaches(c, observer, "handover", 3));
        wait_acked(book, book.acked().size(), 100);
    }
    CHECK_MESSAGE(book.failed() == 0, book.failed(), " records failed: ", book.first_failure());
    const auto acked = book.acked();
    check_acknowledged(acked, read_all(c, 1, "handover", acked.size()));
    CHECK(eventually([&] { return logs_identical(c, {1, 2, 3}, "handover"); }));
}
