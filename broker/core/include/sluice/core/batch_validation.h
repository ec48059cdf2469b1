// Checks the record batches of one partition of a produce request before any of them is appended,
// so that a request either appends all of a partition's batches or none (barring an I/O error).
// Work is per batch, never per record beyond what batch_view::parse does once (depth records).
// Pure.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "sluice/protocol/errc.h"
#include "sluice/protocol/record_batch.h"

namespace sluice::broker {

struct batch_check {
    errc error = errc::none;
    std::string message;  // for the produce response's error_message
    // The headers of the batches found, in order (empty unless error == none): what check_batch
    // would return for each, so that the log appends them without computing their CRCs again.
    std::vector<batch_header> headers;
};

// How deep the check goes.
//   records  every record's framing and the batch's record rules too (batch_view::parse): what a
//            leader checks of a producer's batches before it takes them.
//   crc      the header, size and CRC only (check_batch), as Kafka's followers do: a follower
//            stores the bytes its leader checked and stored, and the CRC, which covers every
//            record, shows that they arrived as the leader has them. It saves a pass over the
//            records on every follower.
enum class check_depth { records, crc };

// `records` holds one or more RecordBatch v2 batches back to back. Errors:
//   invalid_record                no batch at all, or a batch breaking the record rules
//   message_too_large             a batch larger than `max_batch_bytes` (checked before its CRC)
//   corrupt_message               framing, size or CRC wrong, or a partial batch at the end
//   unsupported_compression_type  a codec Sluice does not have (depth records)
// With `keys_required` (a compacted topic; depth records), a record without a key is
// invalid_record too.
batch_check validate_batches(bytes_view records, size_t max_batch_bytes,
                             check_depth depth = check_depth::records, bool keys_required = false);

}  // namespace sluice::broker
