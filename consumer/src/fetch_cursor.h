// Reads the records of one completed fetch into consumer_records, as views into the fetch's
// buffer, from a position on.
//
// Pure: no I/O, no locks; used by poll() on the caller's thread. Every batch is validated
// (batch_view::parse: sizes, CRC, record framing) before a record of it is handed out; a bad
// batch ends the fetch with its error (errc::corrupt_message and friends), never a crash. A fetch
// starts with the whole batch that holds the fetch offset, so records below the position are
// skipped; a trailing partial batch (the fetch hit its byte limit) is ignored.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "fetch_buffer.h"
#include "records_builder.h"
#include "sluice/consumer/consumer.h"
#include "sluice/protocol/record_batch.h"

namespace sluice::detail {

class fetch_cursor {
  public:
    explicit fetch_cursor(completed_fetch f);

    // Appends records with offset >= `position` to `out` until `out` holds `max` records or the
    // fetch ends; moves `position` past each record handed out and past each batch finished
    // (control batches and gaps included). On error, records before the bad batch are in `out`.
    // `out` keeps the fetch alive while it holds records of it.
    result<void> read(int64_t& position, size_t max, records_builder& out);

    bool done() const { return done_; }
    const completed_fetch& fetch() const { return *f_; }

  private:
    std::shared_ptr<const completed_fetch> f_;
    batch_reader reader_;
    std::optional<batch_view> batch_;
    record_iterator records_;
    bool done_ = false;
    std::vector<header_view> headers_;  // scratch
};

}  // namespace sluice::detail
