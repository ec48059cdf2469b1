// Helpers for replication tests on a local_cluster: what a broker says of a partition, an acks=all
// producer that remembers the offset each acknowledgement gave, every record of a partition read
// back, and the bytes of a replica's log.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "local_cluster.h"

namespace sluice::testing {

// Short sessions and a short replica lag.
inline const std::string replication_timeouts =
    std::string(fast_timeouts) + "\nreplica.lag.time.max.ms=1000\nreplica.fetch.backoff.ms=100";

// A partition's leader, epoch, replicas and ISR (sorted) as one broker describes them.
struct partition_seen {
    int32_t leader = -1;
    int32_t leader_epoch = -1;
    std::vector<int32_t> replicas;
    std::vector<int32_t> isr;
};

inline std::optional<partition_seen> seen_by(const local_cluster& c, int id,
                                             const std::string& topic, int32_t partition = 0) {
    auto a = admin::create(c.client(id));
    if (!a) {
        return std::nullopt;
    }
    auto t = a.value()->describe_topic(topic);
    if (!t || t.value().partitions.size() <= size_t(partition)) {
        return std::nullopt;
    }
    const auto& p = t.value().partitions[size_t(partition)];
    partition_seen out{p.leader, p.leader_epoch, p.replicas, p.isr};
    std::sort(out.isr.begin(), out.isr.end());
    return out;
}

// Creates `topic` with one partition of `rf` replicas and waits until broker 1 shows it led,
// with every replica in the ISR; returns what broker 1 shows.
inline partition_seen create_in_sync(const local_cluster& c, const std::string& topic, int16_t rf,
                                     const std::map<std::string, std::string>& configs = {}) {
    REQUIRE(created(c.admin_of()->create_topic(topic, 1, rf, configs)));
    std::optional<partition_seen> p;
    REQUIRE(eventually([&] {
        p = seen_by(c, 1, topic);
        return p && p->leader > 0 && p->isr.size() == size_t(rf);
    }));
    return *p;
}

// The last `n` lines of each node's log that name `topic`, the controller, a warning or a
// crash: what a failed wait prints, since the cluster's directory goes with the test (unless
// SLUICE_KEEP_TEST_DIRS is set).
inline std::string broker_story(const local_cluster& c, const std::string& topic, size_t n = 40) {
    std::string out;
    for (int id = 1; id <= c.nodes(); ++id) {
        std::ifstream in(c.node_dir(id) / "broker.log");
        std::vector<std::string> lines;
        for (std::string line; std::getline(in, line);) {
            // A sanitizer's report or a C++ abort also lands in broker.log (its stderr).
            if (line.find(topic) != std::string::npos ||
                line.find("controller") != std::string::npos ||
                line.find(" WARN ") != std::string::npos ||
                line.find(" ERROR ") != std::string::npos ||
                line.find("Sanitizer") != std::string::npos ||
                line.find("runtime error") != std::string::npos ||
                line.find("terminate called") != std::string::npos) {
                lines.push_back(std::move(line));
            }
        }
        out += fmt::format("--- node {} ({} matching lines, the last {}):\n", id, lines.size(),
                           std::min(n, lines.size()));
        for (size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i) {
            out += lines[i] + "\n";
        }
    }
    return out;
}

// Whether broker `via` shows `topic`'s partition 0 with `n` ISR members within 60 s (a replica
// that comes back first catches up).
// On failure it prints what it saw last and each node's log lines about the topic.
inline bool isr_reaches(const local_cluster& c, int via, const std::string& topic, size_t n) {
    std::string last = "nothing (no describe answered)";
    const bool ok = eventually(
        [&] {
            auto s = seen_by(c, via, topic);
            if (s) {
                last = fmt::format("leader {} epoch {} ISR [{}]", s->leader, s->leader_epoch,
                                   fmt::join(s->isr, ","));
            }
            return s && s->isr.size() == n;
        },
        std::chrono::seconds(60));
    if (!ok) {
        MESSAGE("broker ", via, " last showed ", last, "\n", broker_story(c, topic));
    }
    return ok;
}

inline producer_config producer_of(const local_cluster& c, int acks = -1) {
    producer_config pc;
    static_cast<client_config&>(pc) = c.client();
    pc.acks = acks;
    pc.delivery_timeout_ms = 20000;
    return pc;
}

// Sends numbered values to partition 0 of a topic and remembers the offset each acknowledged
// one was given. Thread-safe: batches may be sent from several threads.
class ledger {
  public:
    ledger(std::string topic, producer_config pc) : topic_(std::move(topic)) {
        auto p = producer::create(std::move(pc));
        REQUIRE(p);
        producer_ = std::move(p).value();
    }
    ledger(const local_cluster& c, std::string topic) : ledger(std::move(topic), producer_of(c)) {}

    // Sends `n` records and waits for every answer.
    void send(int n) {
        std::vector<std::pair<std::string, std::future<result<record_metadata>>>> sent;
        for (int i = 0; i < n; ++i) {
            producer_record r;
            r.topic = topic_;
            r.partition = 0;
            {
                std::lock_guard lock(mu_);
                r.value = fmt::format("v{}", next_++);
            }
            std::string v = *r.value;
            sent.emplace_back(v, producer_->send(std::move(r)));
        }
        for (auto& [v, f] : sent) {
            auto m = f.get();
            std::lock_guard lock(mu_);
            if (m) {
                acked_[v] = m.value().offset;
            } else if (failed_++ == 0) {
                first_failure_ = m.error().message();  // not acknowledged: it may be there or not
            }
        }
    }

    std::map<std::string, int64_t> acked() const {
        std::lock_guard lock(mu_);
        return acked_;
    }
    size_t failed() const {
        std::lock_guard lock(mu_);
        return failed_;
    }
    std::string first_failure() const {
        std::lock_guard lock(mu_);
        return first_failure_;
    }

  private:
    std::string topic_;
    std::unique_ptr<producer> producer_;
    mutable std::mutex mu_;
    int next_ = 0;
    std::map<std::string, int64_t> acked_;  // value -> offset its acknowledgement gave
    size_t failed_ = 0;
    std::string first_failure_;
};

// A consumer of partition 0 of `topic` from its beginning, bootstrapping from broker `via` (or
// every broker).
inline std::unique_ptr<consumer> partition_reader(const local_cluster& c, const std::string& topic,
                                                  std::optional<int> via = std::nullopt) {
    consumer_config cc;
    static_cast<client_config&>(cc) = c.client(via);
    cc.auto_offset_reset = "earliest";
    auto con = consumer::create(cc);
    REQUIRE(con);
    REQUIRE(con.value()->assign(partitions_of(topic, 1)));
    return std::move(con).value();
}

// Every record of partition 0 of `topic`, by offset, read through broker `via`: at least
// `at_least` of them, and up to the high watermark (which may hold more: records written but
// not acknowledged); an offset read twice fails the test.
inline std::map<int64_t, std::string> read_all(const local_cluster& c, int via,
                                               const std::string& topic, size_t at_least) {
    auto reader = partition_reader(c, topic, via);
    const topic_partition tp{topic, 0};
    std::map<int64_t, std::string> out;
    int64_t end = -1;
    REQUIRE(eventually(
        [&] {
            if (end < 0) {
                auto e = reader->end_offsets({tp});
                if (!e) {
                    return false;  // a leader change: ask again
                }
                end = e.value().at(tp);
            }
            auto got = reader->poll(std::chrono::milliseconds(200));
            if (got) {
                for (const auto& r : got.value()) {
                    auto [it, fresh] = out.emplace(r.offset, r.value.value_or(""));
                    CHECK_MESSAGE(fresh, "offset ", r.offset, " read twice");
                }
            }
            auto pos = reader->position(tp);
            return out.size() >= at_least && pos && pos.value() >= end;
        },
        std::chrono::seconds(60)));
    return out;
}

// Every acknowledged record is in `all` at the offset its acknowledgement gave, and `all`'s
// offsets are dense from 0.
inline void check_acknowledged(const std::map<std::string, int64_t>& acked,
                               const std::map<int64_t, std::string>& all) {
    for (const auto& [value, offset] : acked) {
        auto it = all.find(offset);
        REQUIRE_MESSAGE(it != all.end(), "acknowledged offset ", offset, " is gone");
        CHECK_MESSAGE(it->second == value, "offset ", offset, " holds ", it->second,
                      ", acknowledged as ", value);
    }
    int64_t expect = 0;
    for (const auto& [offset, value] : all) {
        CHECK_MESSAGE(offset == expect, "offset ", offset, " where ", expect, " was next");
        expect = offset + 1;
    }
}

// The bytes of broker `id`'s log of `topic`-`partition` (its segment files in order).
inline std::string log_bytes(const local_cluster& c, int id, const std::string& topic,
                             int32_t partition = 0) {
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    const auto dir = c.node_dir(id) / "data" / fmt::format("{}-{}", topic, partition);
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        if (e.path().extension() == ".log") {
            files.push_back(e.path());
        }
    }
    std::sort(files.begin(), files.end());
    std::string bytes;
    for (const auto& f : files) {
        std::ifstream in(f, std::ios::binary);
        bytes += std::string(std::istreambuf_iterator<char>(in), {});
    }
    return bytes;
}

// Every named replica's log ends byte-identical (they all caught up).
inline bool logs_identical(const local_cluster& c, const std::vector<int>& ids,
                           const std::string& topic) {
    const auto first = log_bytes(c, ids.front(), topic);
    return !first.empty() && std::all_of(ids.begin(), ids.end(),
                                         [&](int id) { return log_bytes(c, id, topic) == first; });
}

}  // namespace sluice::testing
