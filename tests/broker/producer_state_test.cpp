// The producer-state rules (producer_state.h): retries recognised among the last 5 batches,
// epochs fencing zombies, sequences in order and wrapping, expiry, appends of several batches,
// and snapshots plus replay rebuilding the state exactly, which is how truncation rolls it back.
#include <doctest/doctest.h>

#include <map>
#include <random>
#include <vector>

#include "../support/temp_dir.h"
#include "sluice/core/producer_snapshot.h"
#include "sluice/core/producer_state.h"
#include "sluice/storage/checkpoint.h"

using namespace sluice;
using namespace sluice::broker;

namespace {

producer_batch_info batch(int64_t id, int16_t epoch, int32_t first, int32_t last,
                          int64_t ts = 1000) {
    return {producer_id_t{id}, producer_epoch_t{epoch}, sequence_t{first}, sequence_t{last},
            timestamp_ms_t{ts}};
}

offset_t o(int64_t v) {
    return offset_t{v};
}

// Appends `b` as a leader would: check, then apply at the log end. Returns the verdict.
producer_verdict append(producer_state& s, const producer_batch_info& b, int64_t& log_end,
                        int32_t records) {
    producer_verdict v = s.check(b);
    if (v.append()) {
        s.apply(b, o(log_end), o(log_end + records - 1));
        log_end += records;
    }
    return v;
}

}  // namespace

TEST_CASE("a batch without a producer id is always appended and never recorded") {
    producer_state s;
    producer_batch_info plain{};
    CHECK(s.check(plain).append());
    s.apply(plain, o(0), o(9));
    CHECK(s.entries().empty());
}

TEST_CASE("a producer without state is accepted at any sequence, then must go on in order") {
    producer_state s;
    int64_t end = 0;
    CHECK(append(s, batch(7, 0, 42, 44), end, 3).append());
    CHECK(s.find(producer_id_t{7})->last_sequence() == sequence_t{44});
    // A gap and a step back are both out of order.
    CHECK(s.check(batch(7, 0, 46, 46)).error == errc::out_of_order_sequence_number);
    CHECK(s.check(batch(7, 0, 44, 45)).error == errc::out_of_order_sequence_number);
    CHECK(append(s, batch(7, 0, 45, 46), end, 2).append());
    CHECK(end == 5);
    // Another producer id has its own numbering.
    CHECK(append(s, batch(8, 3, 0, 0), end, 1).append());
    CHECK(s.entries().size() == 2);
}

TEST_CASE("a retry of any of the last 5 batches is answered with its first offsets") {
    producer_state s;
    int64_t end = 100;
    for (int32_t i = 0; i < 7; ++i) {
        REQUIRE(append(s, batch(1, 0, i * 10, i * 10 + 9), end, 10).append());
    }
    const producer_entry* e = s.find(producer_id_t{1});
    REQUIRE(e->batches.size() == producer_batches_kept);
    // Batches 2..6 are kept: each retry gets its own offsets, and nothing is appended.
    for (int32_t i = 2; i < 7; ++i) {
        producer_verdict v = s.check(batch(1, 0, i * 10, i * 10 + 9));
        CHECK(v.error == errc::none);
        REQUIRE(v.duplicate_of);
        CHECK(v.duplicate_of->base_offset == o(100 + i * 10));
        CHECK(v.duplicate_of->last_offset == o(100 + i * 10 + 9));
        CHECK_FALSE(v.append());
    }
    // Batches 0 and 1 are too old to be recognised: out of order, never appended again.
    CHECK(s.check(batch(1, 0, 0, 9)).error == errc::out_of_order_sequence_number);
    CHECK(s.check(batch(1, 0, 10, 19)).error == errc::out_of_order_sequence_number);
    // A batch that overlaps a kept one without matching it exactly is not a retry.
    CHECK(s.check(batch(1, 0, 60, 65)).error == errc::out_of_order_sequence_number);
}

TEST_CASE("epochs: a lower one is a zombie, a higher one starts again at sequence 0") {
    producer_state s;
    int64_t end = 0;
    REQUIRE(append(s, batch(5, 2, 0, 4), end, 5).append());
    REQUIRE(append(s, batch(5, 2, 5, 9), end, 5).append());
    CHECK(s.check(batch(5, 1, 10, 14)).error == errc::invalid_producer_epoch);
    CHECK(s.check(batch(5, 1, 0, 4)).error == errc::invalid_producer_epoch);
    CHECK(s.check(batch(5, 3, 10, 14)).error == errc::out_of_order_sequence_number);
    CHECK(append(s, batch(5, 3, 0, 0), end, 1).append());
    const producer_entry* e = s.find(producer_id_t{5});
    CHECK(e->epoch == producer_epoch_t{3});
    CHECK(e->batches.size() == 1);  // the old epoch's batches are no longer kept
    // A retry from the old epoch is now a zombie's write, not a duplicate.
    CHECK(s.check(batch(5, 2, 5, 9)).error == errc::invalid_producer_epoch);
}

TEST_CASE("sequences wrap at INT32_MAX to 0") {
    CHECK(in_sequence(sequence_t{4}, sequence_t{5}));
    CHECK_FALSE(in_sequence(sequence_t{4}, sequence_t{6}));
    CHECK(in_sequence(sequence_t::max(), sequence_t{0}));
    CHECK_FALSE(in_sequence(sequence_t::max(), sequence_t::max()));

    // A batch's header gives its last sequence wrapped, as Kafka's does.
    batch_builder b({.producer_id = producer_id_t{3},
                     .producer_epoch = producer_epoch_t{0},
                     .base_sequence = sequence_t::max() - 1});
    for (int i = 0; i < 4; ++i) {
        b.add({.value = as_bytes(std::string_view("v")), .timestamp = timestamp_ms_t{50 + i}});
    }
    auto bytes = b.finish();
    auto h = read_header(bytes);
    REQUIRE(h);
    const producer_batch_info info = producer_batch_info::of(h.value());
    CHECK(info.first_sequence == sequence_t::max() - 1);
    CHECK(info.last_sequence == sequence_t{1});
    CHECK(info.max_timestamp == timestamp_ms_t{53});

    producer_state s;
    int64_t end = 0;
    REQUIRE(
        append(s, batch(3, 0, sequence_t::max().value() - 3, sequence_t::max().value() - 2), end, 2)
            .append());
    CHECK(append(s, info, end, 4).append());
    CHECK(append(s, batch(3, 0, 2, 2), end, 1).append());
    // The wrapped batch is still recognised as a retry.
    CHECK(s.check(info).duplicate_of.has_value());
}

TEST_CASE("a producer id with a negative epoch or sequence is malformed") {
    producer_state s;
    CHECK(s.check(batch(1, -1, 0, 0)).error == errc::invalid_record);
    CHECK(s.check(batch(1, 0, -1, 0)).error == errc::invalid_record);
    CHECK(s.check(batch(1, 0, 0, -5)).error == errc::invalid_record);
    CHECK(s.check(batch(-7, 0, 0, 0)).error == errc::invalid_record);
}

TEST_CASE("producers expire producer.id.expiration.ms after their last timestamp") {
    using std::chrono::milliseconds;
    producer_state s;
    int64_t end = 0;
    REQUIRE(append(s, batch(1, 0, 0, 0, 1'000), end, 1).append());
    REQUIRE(append(s, batch(2, 0, 0, 0, 5'000), end, 1).append());
    // Extreme client timestamps neither overflow nor expire what they should not.
    REQUIRE(append(s, batch(3, 0, 0, 0, INT64_MIN), end, 1).append());
    REQUIRE(append(s, batch(4, 0, 0, 0, INT64_MAX), end, 1).append());
    CHECK(s.remove_expired(timestamp_ms_t{10'999}, milliseconds(10'000)) == 1);  // id 3
    CHECK(s.find(producer_id_t{1}) != nullptr);
    CHECK(s.remove_expired(timestamp_ms_t{11'000}, milliseconds(10'000)) == 1);  // id 1
    CHECK(s.find(producer_id_t{1}) == nullptr);
    CHECK(s.find(producer_id_t{2}) != nullptr);
    CHECK(s.find(producer_id_t{4}) != nullptr);
    // An expired producer is a producer without state: any sequence again.
    CHECK(s.check(batch(1, 0, 77, 77)).append());
}

TEST_CASE("an append of several batches checks each as if those before it were written") {
    producer_state s;
    int64_t end = 0;
    REQUIRE(append(s, batch(1, 0, 0, 4), end, 5).append());

    producer_append a(s);
    const auto b1 = batch(1, 0, 5, 9);
    const auto b2 = batch(1, 0, 10, 14);
    const auto other = batch(2, 0, 0, 0);
    REQUIRE(a.check(b1).append());
    a.stage(b1, o(5), o(9));
    // b2 follows the staged b1, not the state's last sequence; b1 again is now a retry.
    CHECK(a.check(batch(1, 0, 5, 9)).duplicate_of ==
          producer_batch{sequence_t{5}, sequence_t{9}, o(5), o(9), timestamp_ms_t{1000}});
    REQUIRE(a.check(b2).append());
    a.stage(b2, o(10), o(14));
    REQUIRE(a.check(other).append());
    a.stage(other, o(15), o(15));
    // Nothing changes until commit.
    CHECK(s.find(producer_id_t{1})->batches.size() == 1);
    CHECK(s.find(producer_id_t{2}) == nullptr);
    std::move(a).commit();
    CHECK(s.find(producer_id_t{1})->last_sequence() == sequence_t{14});
    CHECK(s.find(producer_id_t{1})->batches.size() == 3);
    CHECK(s.find(producer_id_t{2}) != nullptr);
}

TEST_CASE("a snapshot encodes and decodes to the same state; a malformed one is refused") {
    producer_state s;
    int64_t end = 0;
    std::map<int64_t, int32_t> seq;
    for (int32_t i = 0; i < 20; ++i) {
        const int64_t id = 10 + i % 3;
        const int16_t epoch = i < 12 ? 0 : 1;
        if (i == 12) {
            seq.clear();
        }
        REQUIRE(append(s, batch(id, epoch, seq[id], seq[id] + 1, 100 + i), end, 2).append());
        seq[id] += 2;
    }
    const producer_snapshot snap{o(end), s};
    auto bytes = encode_producer_snapshot(snap);
    auto back = decode_producer_snapshot(bytes);
    REQUIRE(back);
    CHECK(*back == snap);

    auto refused = [](producer_state::entries_map m, int64_t snap_end) {
        producer_snapshot bad{o(snap_end), producer_state(std::move(m))};
        return !decode_producer_snapshot(encode_producer_snapshot(bad)).has_value();
    };
    const producer_batch ok{sequence_t{0}, sequence_t{1}, o(0), o(1), timestamp_ms_t{1}};
    CHECK_FALSE(refused({{producer_id_t{1}, {producer_epoch_t{0}, {ok}}}}, 2));
    // A batch at or above the snapshot's end.
    CHECK(refused({{producer_id_t{1}, {producer_epoch_t{0}, {ok}}}}, 1));
    // No batches, or more than are kept.
    CHECK(refused({{producer_id_t{1}, {producer_epoch_t{0}, {}}}}, 2));
    CHECK(refused({{producer_id_t{1}, {producer_epoch_t{0}, std::vector<producer_batch>(6, ok)}}},
                  2));
    // Batches out of offset order.
    const producer_batch later{sequence_t{2}, sequence_t{2}, o(5), o(5), timestamp_ms_t{1}};
    CHECK(refused({{producer_id_t{1}, {producer_epoch_t{0}, {later, ok}}}}, 9));
    // Negative ids, epochs and sequences.
    CHECK(refused({{producer_id_t{-2}, {producer_epoch_t{0}, {ok}}}}, 2));
    CHECK(refused({{producer_id_t{1}, {producer_epoch_t{-1}, {ok}}}}, 2));
    producer_batch neg = ok;
    neg.first_sequence = sequence_t{-3};
    CHECK(refused({{producer_id_t{1}, {producer_epoch_t{0}, {neg}}}}, 2));
    CHECK(refused({}, -1));
    // Not a snapshot at all.
    std::vector<std::byte> junk(bytes.size(), std::byte{0x5a});
    CHECK_FALSE(decode_producer_snapshot(junk).has_value());
    CHECK_FALSE(decode_producer_snapshot({}).has_value());
}

TEST_CASE("snapshot files: named by offset, the newest valid one at or below is read") {
    CHECK(producer_snapshot_name(o(1234)) == "00000000000000001234.snapshot");
    CHECK(parse_producer_snapshot_name("00000000000000001234.snapshot") == o(1234));
    CHECK_FALSE(parse_producer_snapshot_name("0000000000000001234.snapshot"));
    CHECK_FALSE(parse_producer_snapshot_name("0000000000000000123x.snapshot"));
    CHECK_FALSE(parse_producer_snapshot_name("-0000000000000000123.snapshot"));
    CHECK_FALSE(parse_producer_snapshot_name("00000000000000001234.checkpoint"));

    testing::temp_dir dir;
    auto& fs = storage::posix_file_system();
    auto at = [](int64_t end, int32_t seq) {
        producer_state s;
        s.apply(batch(1, 0, seq, seq), o(end - 1), o(end - 1));
        return producer_snapshot{o(end), s};
    };
    for (int64_t end : {10, 20, 30}) {
        REQUIRE(write_producer_snapshot(fs, dir.path(), at(end, int32_t(end))));
    }
    CHECK(list_producer_snapshots(fs, dir.path()).value() == std::vector{o(10), o(20), o(30)});
    CHECK(read_producer_snapshot_at_or_below(fs, dir.path(), o(9)).value() == std::nullopt);
    CHECK(read_producer_snapshot_at_or_below(fs, dir.path(), o(25)).value() == at(20, 20));
    CHECK(read_producer_snapshot_at_or_below(fs, dir.path(), o(99)).value() == at(30, 30));

    // A damaged newest snapshot is passed over for the one before.
    {
        auto f =
            fs.open(dir.path() / producer_snapshot_name(o(30)), storage::open_mode::read_write);
        REQUIRE(f);
        REQUIRE(f.value()->truncate(7));
    }
    CHECK(read_producer_snapshot_at_or_below(fs, dir.path(), o(99)).value() == at(20, 20));

    // A snapshot whose name and contents disagree is not trusted.
    REQUIRE(storage::write_checkpoint(fs, dir.path() / producer_snapshot_name(o(40)),
                                      encode_producer_snapshot(at(35, 35))));
    CHECK(read_producer_snapshot_at_or_below(fs, dir.path(), o(99)).value() == at(20, 20));

    REQUIRE(remove_producer_snapshots_above(fs, dir.path(), o(10)));
    CHECK(list_producer_snapshots(fs, dir.path()).value() == std::vector{o(10)});
}

// The log as a list of batches; the state of its first `end` offsets built from scratch must
// equal the one rebuilt from any snapshot at or below `end` plus the batches after it. This is
// how a restart (snapshot + replay) and a truncation (remove snapshots above, then rebuild)
// give the state the log implies.
TEST_CASE("snapshot plus replay equals the state built from the log, at every cut") {
    for (uint64_t seed = 1; seed <= 40; ++seed) {
        CAPTURE(seed);
        std::mt19937_64 rng(seed);
        struct logged {
            producer_batch_info b;
            offset_t base, last;
        };
        std::vector<logged> log;
        producer_state live;
        std::map<int64_t, producer_snapshot> snapshots;  // by end offset
        int64_t end = 0;
        std::map<int64_t, std::pair<int16_t, int32_t>> next;  // id -> epoch, next sequence
        for (int step = 0; step < 200; ++step) {
            const int64_t id = int64_t(rng() % 6) - 1;  // -1: not idempotent
            auto& [epoch, seq] = next[id];
            if (rng() % 20 == 0) {
                ++epoch;
                seq = 0;
            }
            const int32_t records = int32_t(1 + rng() % 4);
            producer_batch_info b{};
            if (id >= 0) {
                b = batch(id, epoch, seq, seq + records - 1, int64_t(step));
            }
            const producer_verdict v = live.check(b);
            REQUIRE(v.append());  // the producers here follow the rules
            live.apply(b, o(end), o(end + records - 1));
            log.push_back({b, o(end), o(end + records - 1)});
            end += records;
            seq += records;
            if (rng() % 15 == 0) {
                snapshots.emplace(end, producer_snapshot{o(end), live});
            }
        }
        // Cut at a random batch boundary, from the best snapshot at or below it.
        for (int cut_try = 0; cut_try < 10; ++cut_try) {
            const size_t cut = rng() % (log.size() + 1);
            const offset_t cut_end = cut == log.size() ? o(end) : log[cut].base;
            producer_state scratch;
            for (size_t i = 0; i < cut; ++i) {
                scratch.apply(log[i].b, log[i].base, log[i].last);
            }
            producer_state rebuilt;
            offset_t from{0};
            auto it = snapshots.upper_bound(cut_end.value());
            if (it != snapshots.begin()) {
                --it;
                auto decoded = decode_producer_snapshot(encode_producer_snapshot(it->second));
                REQUIRE(decoded);
                rebuilt = decoded->state;
                from = decoded->end_offset;
            }
            for (size_t i = 0; i < cut; ++i) {
                if (log[i].base >= from) {
                    rebuilt.apply(log[i].b, log[i].base, log[i].last);
                }
            }
            CHECK(rebuilt == scratch);
        }
    }
}
