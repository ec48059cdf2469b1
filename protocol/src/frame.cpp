#include "sluice/protocol/frame.h"

#include <cassert>
#include <cstring>

#include "sluice/protocol/byte_order.h"

namespace sluice::frame {

result<header> parse_header(bytes_view first, size_t frame_bytes_max) noexcept {
    if (first.size() < header_size) {
        return make_error_code(errc::corrupt_message);
    }
    header h{load_be<uint32_t>(first.data()), load_be<uint32_t>(first.data() + 4)};
    if (h.total() > frame_bytes_max) {
        return make_error_code(errc::message_too_large);
    }
    if (h.envelope_length == 0 || size_t(h.envelope_length) + 4 > h.frame_length) {
        return make_error_code(errc::corrupt_message);
    }
    return h;
}

namespace {

// The envelope's only vector of 8-byte elements is PartitionMetadata.replica_log_end_offsets;
// a new one in the schema needs its check here (tests/fuzz/fuzz_frame reads every field).
bool long_vectors_aligned(const fbs::Envelope& env) noexcept {
    const auto* m = env.body_as_MetadataResponse();
    if (m == nullptr || m->topics() == nullptr) {
        return true;
    }
    for (const fbs::TopicMetadata* t : *m->topics()) {
        if (t->partitions() == nullptr) {
            continue;
        }
        for (const fbs::PartitionMetadata* p : *t->partitions()) {
            if (!elements_aligned(p->replica_log_end_offsets())) {
                return false;
            }
        }
    }
    return true;
}

}  // namespace

result<frame_view> parse(bytes_view frame) noexcept {
    SLUICE_TRY(header h, parse_header(frame, frame.size()));
    if (h.total() != frame.size()) {
        return make_error_code(errc::corrupt_message);
    }
    auto env = frame.subspan(header_size, h.envelope_length);
    flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(env.data()), env.size());
    if (!fbs::VerifyEnvelopeBuffer(verifier)) {
        return make_error_code(errc::corrupt_message);
    }
    const fbs::Envelope* envelope = fbs::GetEnvelope(env.data());
    if (!long_vectors_aligned(*envelope)) {
        return make_error_code(errc::corrupt_message);
    }
    return frame_view{envelope, frame.subspan(header_size + env.size())};
}

result<bytes_view> resolve(const fbs::DataRef* ref, bytes_view data) noexcept {
    if (ref == nullptr) {
        return bytes_view{};
    }
    if (size_t(ref->offset()) > data.size() ||
        size_t(ref->length()) > data.size() - ref->offset()) {
        return make_error_code(errc::corrupt_message);
    }
    return data.subspan(ref->offset(), ref->length());
}

fbs::DataRef writer::add_data(std::vector<std::byte> bytes) {
    owned_.push_back(std::move(bytes));
    return add_data_ref(owned_.back());
}

fbs::DataRef writer::add_data_ref(bytes_view bytes) {
    fbs::DataRef ref(uint32_t(data_bytes_), uint32_t(bytes.size()));
    if (!bytes.empty()) {
        chunks_.push_back({bytes, 0});
    }
    data_bytes_ += bytes.size();
    return ref;
}

fbs::DataRef writer::add_data_external(size_t length) {
    fbs::DataRef ref{uint32_t(data_bytes_), uint32_t(length)};
    if (length > 0) {
        chunks_.push_back({bytes_view{}, length});
    }
    data_bytes_ += length;
    external_bytes_ += length;
    return ref;
}

void writer::finish(flatbuffers::Offset<fbs::Envelope> envelope) {
    fbb_.Finish(envelope);
    size_t env = fbb_.GetSize();
    store_be<uint32_t>(header_, uint32_t(4 + env + data_bytes_));
    store_be<uint32_t>(header_ + 4, uint32_t(env));
}

std::vector<writer::part> writer::parts() const {
    std::vector<part> out;
    out.reserve(2 + chunks_.size());
    out.push_back({bytes_view(header_, header_size), 0});
    out.push_back(
        {bytes_view(reinterpret_cast<const std::byte*>(fbb_.GetBufferPointer()), fbb_.GetSize()),
         0});
    out.insert(out.end(), chunks_.begin(), chunks_.end());
    return out;
}

std::vector<bytes_view> writer::buffers() const {
    std::vector<bytes_view> out;
    out.reserve(2 + chunks_.size());
    for (const auto& p : parts()) {
        assert(p.external == 0 && "a frame with external data is written by its sender");
        out.push_back(p.bytes);
    }
    return out;
}

size_t writer::size_bytes() const {
    return header_size + fbb_.GetSize() + data_bytes_;
}

std::vector<std::byte> writer::to_bytes() const {
    std::vector<std::byte> out;
    out.reserve(size_bytes());
    for (auto b : buffers()) {
        out.insert(out.end(), b.begin(), b.end());
    }
    return out;
}

}  // namespace sluice::frame
