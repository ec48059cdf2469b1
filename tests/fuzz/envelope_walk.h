// Reads every field of a verified envelope, the way a broker or a client would, so that a fuzz
// target reaches each accessor the generated code has: every body type of the union, every
// table, vector and string, every DataRef resolved against the data section (frame::resolve), and
// the record batches that a produce request or a fetch response carries, parsed down to each
// record's headers.
//
// The walk never trusts the envelope beyond what the verifier checked: absent tables, strings and
// vectors are skipped, and that includes a body_type whose body is missing. It returns a digest
// of what it read, so the reads cannot be optimised away.
#pragma once

#include <cstdint>

#include "sluice/fbs/sluice_generated.h"
#include "sluice/protocol/frame.h"

namespace sluice::fuzz {

uint64_t walk_envelope(const fbs::Envelope& envelope, frame::bytes_view data);

// Walks back-to-back batches with batch_reader and every record of each valid one (record
// iteration, headers). Stops at the first error. Shared with the record-batch target.
uint64_t walk_batches(frame::bytes_view bytes, bool allow_partial_tail);

}  // namespace sluice::fuzz
