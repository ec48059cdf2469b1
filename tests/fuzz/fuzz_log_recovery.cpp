// Fuzz target: opening a partition log (storage/include/sluice/storage/log.h) over a directory
// whose files come from the input, so recovery meets whatever a disk can hold.
//
// Input: a bundle (bundle.h) of seven files, placed in one partition directory of an in-memory
// file system:
//   0 00000000000000000000.log    the first segment
//   1 00000000000000000000.index
//   2 00000000000000000000.timeindex
//   3 recovery-point.checkpoint
//   4 8 bytes, big-endian: the base offset of a second segment (none unless exactly 8 bytes;
//     the sign bit is dropped)
//   5 the second segment's .log
//   6 cleaner.checkpoint
// Empty files are not created. After open() the target reads the whole log, looks up
// timestamps, runs a compaction pass over the sealed segments (storage/include/sluice/storage/
// cleaner.h) and reads the log again, appends a batch, truncates, applies retention, closes and
// opens again. Checks
// the log's contracts: open() succeeds unless data below the recovery point is damaged
// (storage_errc::damaged_below_recovery_point; any other error is a finding), an appended batch
// reads back from a log that recovery validated, and a log reopened after close() scans nothing
// and ends where it ended.
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "bundle.h"
#include "memory_fs.h"
#include "require.h"
#include "sluice/protocol/byte_order.h"
#include "sluice/storage/clock.h"
#include "sluice/storage/errors.h"
#include "sluice/storage/log.h"

namespace {

using namespace sluice;
using storage::partition_log;

volatile uint64_t sink;

using fuzz::require;

std::string segment_name(int64_t base, const char* ext) {
    std::string digits = std::to_string(base);
    return std::string(20 - digits.size(), '0') + digits + ext;
}

// Reads the log from start to end, as a fetch that keeps up would.
void read_all(partition_log& log) {
    offset_t from = log.start_offset();
    while (from < log.end_offset()) {
        auto r = log.read(from, 64 << 10);
        if (!r || r.value().next_offset <= from) {
            return;  // a damaged batch the recovery point vouched for; nothing more to read
        }
        sink = r.value().bytes.size();
        from = r.value().next_offset;
    }
}

std::vector<std::byte> one_batch(int64_t timestamp) {
    batch_builder b;
    auto key = as_bytes("key");
    auto value = as_bytes("value");
    b.add({key, value, timestamp_ms_t{timestamp}, {}});
    return b.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto files = fuzz::split_bundle({reinterpret_cast<const std::byte*>(data), size}, 7);
    const std::filesystem::path dir = "/log/topic-0";
    fuzz::memory_fs fs;
    require(fs.create_directories(dir).has_value());
    fs.put_if_any(dir / segment_name(0, ".log"), files[0]);
    fs.put_if_any(dir / segment_name(0, ".index"), files[1]);
    fs.put_if_any(dir / segment_name(0, ".timeindex"), files[2]);
    fs.put_if_any(dir / "recovery-point.checkpoint", files[3]);
    fs.put_if_any(dir / "cleaner.checkpoint", files[6]);
    if (files[4].size() == 8) {
        int64_t base = load_be<int64_t>(files[4].data()) & INT64_MAX;
        fs.put(dir / segment_name(base, ".log"), files[5]);
    }

    storage::manual_clock clock;
    storage::log_options opts;
    opts.dir = dir;
    opts.fs = &fs;
    opts.time = &clock;
    opts.config.segment_bytes = storage::segment_bytes_min;
    opts.config.index_interval_bytes = 256;

    // Recovery repairs what it may and refuses only damage to data the recovery point vouched
    // for; nothing in the files may make it fail otherwise.
    auto opened = partition_log::open(opts);
    if (!opened) {
        require(opened.error() == storage::storage_errc::damaged_below_recovery_point);
        return 0;
    }
    auto log = std::move(opened).value();
    read_all(*log);
    for (int64_t t : {int64_t{0}, clock.now().value(), int64_t{INT64_MAX}}) {
        auto found = log->offset_for_timestamp(timestamp_ms_t{t});
        sink = found && found.value() ? uint64_t(found.value()->value()) : 0;
    }

    // A compaction pass: the segments passed recovery's checks, so cleaning fails only on
    // record framing that check_batch does not walk; installed, the log reads whole again.
    if (auto plan = log->plan_cleaning(log->end_offset())) {
        storage::offset_map map(1 << 16);
        storage::clean_options copts;
        copts.now = clock.now();
        auto cleaned = storage::clean_log(*plan, copts, map);
        if (cleaned) {
            auto installed = log->install_cleaned(std::move(cleaned).value());
            require(installed.has_value());
            read_all(*log);
        } else {
            require(cleaned.error() == errc::corrupt_message ||
                    cleaned.error() == errc::invalid_record ||
                    cleaned.error() == errc::unsupported_compression_type ||
                    cleaned.error() == errc::invalid_config);
        }
    }

    auto batch = one_batch(clock.now().value());
    auto appended = log->append(batch);
    // Only a log recovery validated whole promises that a read finds the new batch: bytes that
    // the recovery point and index files vouch for are not checked again, whatever they hold.
    if (appended && log->recovery().segments_loaded == 0) {
        auto r = log->read(appended.value().base_offset, 1);
        require(r.has_value() && !r.value().bytes.empty());
        auto back = check_batch(
            bytes_view(r.value().bytes).first(std::min(r.value().bytes.size(), batch.size())));
        require(back.has_value() && back.value().base_offset == appended.value().base_offset);
    }

    // Cut the log in its middle, then let retention run an hour later.
    const offset_t start = log->start_offset();
    const offset_t end = log->end_offset();
    auto cut = log->truncate_to(start + (end - start) / 2);
    sink = cut ? uint64_t(cut.value().value()) : 0;
    clock.advance_ms(3600 * 1000);
    auto deleted = log->apply_retention();
    sink = deleted ? deleted.value() : 0;

    if (!log->failed() && log->close()) {
        const offset_t closed_start = log->start_offset();
        const offset_t closed_end = log->end_offset();
        log.reset();
        auto reopened = partition_log::open(opts);
        require(reopened.has_value());
        require(reopened.value()->recovery().segments_scanned == 0);
        require(reopened.value()->start_offset() == closed_start);
        require(reopened.value()->end_offset() == closed_end);
    }
    return 0;
}
