// Mutated copies of real client frames against a live broker.
//
// The frames are the client -> broker frames of the fuzz corpus (tests/fuzz/corpus/frame/req-*,
// recorded from real sessions by scripts/fuzz-corpus.sh). Each round takes one to four of them,
// mutates each (bit flips, truncations, splices of two frames, edits of the length fields, of
// the API key and of the body type, a body type left without its body), sends them on a fresh
// connection, half-closes it, and reads and discards whatever comes back until the broker closes it
// or a short timeout passes. Before the rounds a producer writes records; after them the broker
// must still be running, serve a new client (metadata, produce, fetch), and return every record
// written before.
//
// The number of rounds is SLUICE_MUTATED_FRAMES (default 3000: about 5 s, in the release and the
// ASan build alike); the seed is SLUICE_MUTATION_SEED (default fixed, printed).
// When the broker stops answering, the frames of the last rounds are kept as reproducer files
// (one round per file, the bytes exactly as sent) and the failure names their directory.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "broker_process.h"
#include "client_helpers.h"
#include "raw_connection.h"
#include "sluice/protocol/byte_order.h"

#ifndef SLUICE_FRAME_CORPUS_DIR
#error "SLUICE_FRAME_CORPUS_DIR must name tests/fuzz/corpus/frame"
#endif

namespace {

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;
using bytes = std::vector<std::byte>;

// Topics the recorded frames name: created so that mutated requests reach their handlers.
const std::vector<std::pair<std::string, int32_t>> corpus_topics{
    {"orders", 3}, {"perf", 1}, {"session", 2}};
// Written before the mutations and read back after them; no recorded frame names it.
const std::string kept_topic = "kept-before-mutations";
constexpr int32_t kept_partitions = 3;
constexpr int kept_records = 150;
// Rounds whose frames are kept in memory, to be written out as reproducers.
constexpr size_t reproducer_rounds = 16;

size_t env_or(const char* name, size_t fallback) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? size_t(std::strtoull(v, nullptr, 10)) : fallback;
}

std::vector<bytes> load_request_frames() {
    std::vector<bytes> out;
    for (const auto& entry : std::filesystem::directory_iterator(SLUICE_FRAME_CORPUS_DIR)) {
        if (!entry.path().filename().string().starts_with("req-")) {
            continue;
        }
        std::ifstream in(entry.path(), std::ios::binary);
        std::vector<char> chars{std::istreambuf_iterator<char>(in), {}};
        bytes b(chars.size());
        std::transform(chars.begin(), chars.end(), b.begin(), [](char c) { return std::byte(c); });
        out.push_back(std::move(b));
    }
    return out;
}

// The envelope's table and the vtable entry of one of its fields, as positions in the frame
// (FlatBuffers layout: the root table's offset at the envelope's start; the table starts with
// the signed offset back to its vtable; the vtable holds u16 vtable size, u16 table size, then
// one u16 offset per field, 0 for an absent one; all little-endian). Nullopt if the frame is too
// damaged to say.
struct field_slot {
    size_t table;
    size_t vtable_entry;
};

uint16_t le16(const bytes& f, size_t at) {
    return uint16_t(uint16_t(f[at]) | uint16_t(f[at + 1]) << 8);
}

std::optional<field_slot> envelope_field(const bytes& f, uint16_t vtable_field) {
    constexpr size_t env = frame::header_size;
    if (f.size() < env + 4) {
        return std::nullopt;
    }
    size_t table = env + (size_t(le16(f, env)) | size_t(le16(f, env + 2)) << 16);
    if (table + 4 > f.size()) {
        return std::nullopt;
    }
    auto back = int32_t(uint32_t(le16(f, table)) | uint32_t(le16(f, table + 2)) << 16);
    int64_t vtable = int64_t(table) - back;
    if (vtable < int64_t(env) || size_t(vtable) + vtable_field + 2 > f.size() ||
        le16(f, size_t(vtable)) < vtable_field + 2) {
        return std::nullopt;
    }
    return field_slot{table, size_t(vtable) + vtable_field};
}

// Where the envelope stores a field, or 0 if it does not.
size_t envelope_field_position(const bytes& f, uint16_t vtable_field) {
    auto slot = envelope_field(f, vtable_field);
    if (!slot) {
        return 0;
    }
    size_t field = le16(f, slot->vtable_entry);
    return field == 0 || slot->table + field >= f.size() ? 0 : slot->table + field;
}

// Makes one hostile frame from the recorded ones.
class mutator {
  public:
    mutator(const std::vector<bytes>& frames, uint64_t seed) : frames_(frames), rng_(seed) {}

    bytes next() {
        bytes f = pick();
        switch (below(6)) {
            case 0:  // bit flips
                for (size_t n = 1 + below(8); n > 0; --n) {
                    f[below(f.size())] ^= std::byte(1u << below(8));
                }
                break;
            case 1:  // truncation; the length field still announces the whole frame half the time
                f.resize(below(f.size()));
                if (below(2) == 0 && f.size() >= 4) {
                    set_frame_length(f);
                }
                break;
            case 2: {  // the front of one frame with the back of another
                bytes g = pick();
                size_t cut_f = below(f.size() + 1);
                size_t cut_g = below(g.size() + 1);
                f.resize(cut_f);
                f.insert(f.end(), g.begin() + ptrdiff_t(cut_g), g.end());
                if (f.size() >= 4) {
                    set_frame_length(f);
                }
                break;
            }
            case 3:  // length fields: boundary values and random ones
                if (f.size() >= frame::header_size) {
                    const uint32_t len = load_be<uint32_t>(f.data());
                    const uint32_t choices[] = {0,       1,       4,          len - 1,
                                                len + 1, len * 2, 0xFFFFFFFF, uint32_t(rng_())};
                    store_be<uint32_t>(f.data() + 4 * below(2), choices[below(8)]);
                }
                break;
            case 4:  // the body: another type (NONE and types past the last too), or none at all
                if (below(2) == 0) {
                    if (auto slot = envelope_field(f, fbs::Envelope::VT_BODY)) {
                        f[slot->vtable_entry] = f[slot->vtable_entry + 1] = std::byte{0};
                    }
                } else if (size_t at = envelope_field_position(f, fbs::Envelope::VT_BODY_TYPE)) {
                    f[at] = std::byte(below(20));
                } else {
                    f[below(f.size())] ^= std::byte{0xFF};
                }
                break;
            default:  // the API key: known keys with another body, and unknown ones
                if (size_t at = envelope_field_position(f, fbs::Envelope::VT_API_KEY);
                    at != 0 && at + 1 < f.size()) {
                    const int16_t keys[] = {0, 1, 2, 3, 18, 19, 20, -1, 99};
                    int16_t key = keys[below(9)];
                    f[at] = std::byte(uint16_t(key) & 0xFF);
                    f[at + 1] = std::byte(uint16_t(key) >> 8);
                } else {
                    f[below(f.size())] ^= std::byte{0xFF};
                }
                break;
        }
        return f;
    }

    size_t below(size_t n) { return n == 0 ? 0 : size_t(rng_() % n); }

  private:
    bytes pick() { return frames_[below(frames_.size())]; }

    static void set_frame_length(bytes& f) { store_be<uint32_t>(f.data(), uint32_t(f.size() - 4)); }

    const std::vector<bytes>& frames_;
    std::mt19937_64 rng_;
};

// Sends one round on a fresh connection and drains the answers. False if the broker could not
// be reached at all.
bool send_round(uint16_t port, const bytes& round) {
    auto conn = raw_connection::connect(port);
    if (!conn) {
        return false;
    }
    // The broker may close the connection before it read everything: not an error here.
    (void)conn.value().send_bytes(round);
    conn.value().shutdown_write();
    const auto deadline = std::chrono::steady_clock::now() + 2s;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!conn.value().read_frame(500ms)) {
            break;
        }
    }
    return true;
}

// Whether the broker still answers a well-formed request (ApiVersions on a new connection). The
// reason it does not, or empty.
std::string probe(const broker_process& broker) {
    auto conn = raw_connection::connect(broker.port());
    if (!conn) {
        return "connect: " + conn.error().message();
    }
    if (auto sent = conn.value().send_frame(api_versions_request(7)); !sent) {
        return "send ApiVersions: " + sent.error().message();
    }
    auto answer = conn.value().read_frame(10s);
    if (!answer) {
        return "ApiVersions answer: " + answer.error().message();
    }
    return {};
}

std::filesystem::path keep_reproducers(const std::deque<bytes>& rounds, size_t last_round) {
    auto dir = std::filesystem::temp_directory_path() /
               ("sluice-mutated-frames-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    size_t first = last_round + 1 - rounds.size();
    for (size_t i = 0; i < rounds.size(); ++i) {
        std::ofstream out(dir / ("round-" + std::to_string(first + i) + ".bin"), std::ios::binary);
        out.write(reinterpret_cast<const char*>(rounds[i].data()),
                  std::streamsize(rounds[i].size()));
    }
    return dir;
}

struct written_record {
    int32_t partition;
    int64_t offset;
    std::string key;
    std::string value;
};

std::vector<written_record> produce_kept_records(const broker_process& broker) {
    auto p = producer::create(producer_for(broker));
    REQUIRE(p.has_value());
    std::vector<std::future<result<record_metadata>>> acks;
    std::vector<written_record> out;
    for (int i = 0; i < kept_records; ++i) {
        producer_record r;
        r.topic = kept_topic;
        r.key = "key-" + std::to_string(i);
        r.value = "value-" + std::to_string(i) + std::string(size_t(i % 40), '.');
        r.headers = {{"n", std::to_string(i)}};
        out.push_back({0, 0, *r.key, *r.value});
        acks.push_back(p.value()->send(std::move(r)));
    }
    for (size_t i = 0; i < acks.size(); ++i) {
        REQUIRE(acks[i].wait_for(30s) == std::future_status::ready);
        auto m = acks[i].get();
        REQUIRE_MESSAGE(m.has_value(), m.error().message());
        out[i].partition = m.value().partition;
        out[i].offset = m.value().offset;
    }
    return out;
}

// Every record of `written` is where it was acknowledged, unchanged.
void check_kept_records(const broker_process& broker, const std::vector<written_record>& written) {
    auto c = consumer::create(consumer_for(broker));
    REQUIRE(c.has_value());
    auto tps = partitions_of(kept_topic, kept_partitions);
    REQUIRE(c.value()->assign(tps).has_value());
    REQUIRE(c.value()->seek_to_beginning(tps).has_value());
    auto got = poll_until(*c.value(), written.size(), 30s);
    REQUIRE_MESSAGE(got.has_value(), got.error().message());
    std::map<std::pair<int32_t, int64_t>, const consumer_record*> by_position;
    for (const auto& r : got.value()) {
        by_position[{r.partition, r.offset}] = &r;
    }
    for (const auto& w : written) {
        auto it = by_position.find({w.partition, w.offset});
        REQUIRE_MESSAGE(it != by_position.end(),
                        "record lost: partition " << w.partition << " offset " << w.offset);
        CHECK(it->second->key == w.key);
        CHECK(it->second->value == w.value);
    }
}

}  // namespace

TEST_CASE("mutated real client frames: the broker survives them and loses nothing") {
    const auto frames = load_request_frames();
    REQUIRE_MESSAGE(frames.size() >= 10, "too few req-* frames in " SLUICE_FRAME_CORPUS_DIR);
    const size_t rounds = env_or("SLUICE_MUTATED_FRAMES", 3000);
    const uint64_t seed = env_or("SLUICE_MUTATION_SEED", 20250101);
    MESSAGE("rounds=" << rounds << " seed=" << seed << " frames=" << frames.size());

    broker_process broker;
    REQUIRE_MESSAGE(broker.start().has_value(), broker.log_tail());
    for (const auto& [topic, partitions] : corpus_topics) {
        REQUIRE(create_topic(broker, topic, partitions).has_value());
    }
    REQUIRE(create_topic(broker, kept_topic, kept_partitions).has_value());
    const auto written = produce_kept_records(broker);

    mutator m(frames, seed);
    std::deque<bytes> recent;
    for (size_t round = 0; round < rounds; ++round) {
        bytes sent;
        for (size_t n = 1 + m.below(4); n > 0; --n) {
            bytes f = m.next();
            sent.insert(sent.end(), f.begin(), f.end());
        }
        recent.push_back(sent);
        if (recent.size() > reproducer_rounds) {
            recent.pop_front();
        }
        // A refused connection means the broker is gone; every 250 rounds it must also answer.
        std::string problem;
        if (!send_round(broker.port(), sent) || (round + 1) % 250 == 0) {
            problem = probe(broker);
        }
        if (!problem.empty()) {
            auto dir = keep_reproducers(recent, round);
            FAIL("the broker stopped answering after round "
                 << round << " (" << problem << "); the last rounds are in " << dir.string() << "\n"
                 << broker.log_tail(60));
        }
    }

    // A new client: metadata, produce, fetch.
    REQUIRE_MESSAGE(probe(broker).empty(), broker.log_tail(60));
    auto a = admin::create(client_for(broker));
    REQUIRE(a.has_value());
    auto described = a.value()->describe_topic(kept_topic);
    REQUIRE_MESSAGE(described.has_value(), described.error().message());
    CHECK(described.value().partitions.size() == size_t(kept_partitions));
    auto more = written;
    {
        auto p = producer::create(producer_for(broker));
        REQUIRE(p.has_value());
        producer_record r;
        r.topic = kept_topic;
        r.key = "after";
        r.value = "written after the mutations";
        auto ack = p.value()->send(r);
        REQUIRE(ack.wait_for(30s) == std::future_status::ready);
        auto meta = ack.get();
        REQUIRE_MESSAGE(meta.has_value(), meta.error().message());
        more.push_back({meta.value().partition, meta.value().offset, *r.key, *r.value});
    }
    check_kept_records(broker, more);

    auto stopped = broker.stop();
    REQUIRE(stopped.has_value());
    CHECK_MESSAGE(stopped.value().exited_with(0), broker.log_tail(60));
}
