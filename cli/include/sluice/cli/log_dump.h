// `sluice log dump`'s core: the batches of a segment file (a partition's NNN.log), one line each,
// as kafka-dump-log prints them, and with `records` a line per record. Reads a stream, so it
// needs no broker and holds one batch in memory at a time; tests feed it bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <string>

namespace sluice::cli {

struct dump_summary {
    int64_t batches = 0;
    int64_t records = 0;
    int64_t invalid = 0;   // batches whose CRC or framing is wrong (printed with isvalid: false)
    std::string stopped;   // why reading stopped before the end (bytes that are not a batch)
    int64_t position = 0;  // bytes read
};

// Reads batches from `in` (a segment file from its first byte) to its end, or to the first
// bytes that cannot be a batch header; calls `line` for each line of output.
dump_summary dump_log(std::istream& in, bool records,
                      const std::function<void(const std::string&)>& line);

}  // namespace sluice::cli
