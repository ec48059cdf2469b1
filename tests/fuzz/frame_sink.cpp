#include "frame_sink.h"

#include <fstream>
#include <vector>

#include <fmt/format.h>

#include "sluice/protocol/crc32c.h"
#include "sluice/protocol/frame.h"
#include "sluice/protocol/record_batch.h"

namespace sluice::fuzz {
namespace {

std::string name_or_unknown(const char* name) {
    return name != nullptr && *name != '\0' ? name : "unknown";
}

// The record ranges a produce request or a fetch response names (other bodies name none).
std::vector<const fbs::DataRef*> record_refs(const fbs::Envelope& env) {
    std::vector<const fbs::DataRef*> out;
    if (const auto* produce = env.body_as_ProduceRequest(); produce && produce->topics()) {
        for (const auto* t : *produce->topics()) {
            if (t->partitions() != nullptr) {
                for (const auto* p : *t->partitions()) {
                    out.push_back(p->records());
                }
            }
        }
    }
    if (const auto* fetch = env.body_as_FetchResponse(); fetch && fetch->topics()) {
        for (const auto* t : *fetch->topics()) {
            if (t->partitions() != nullptr) {
                for (const auto* p : *t->partitions()) {
                    out.push_back(p->records());
                }
            }
        }
    }
    return out;
}

}  // namespace

frame_sink::frame_sink(std::filesystem::path out, limits l) : out_(std::move(out)), limits_(l) {
    std::filesystem::create_directories(out_ / "frame");
    std::filesystem::create_directories(out_ / "record_batch");
}

void frame_sink::add(direction d, std::span<const std::byte> bytes) {
    // The envelope is read at offset 8 of an 8-aligned buffer, as a receiver reads it.
    const std::vector<std::byte> frame_bytes(bytes.begin(), bytes.end());
    std::lock_guard lock(mutex_);
    ++frames_;

    std::string kind = d == direction::request ? "req-" : "resp-";
    auto parsed = frame::parse(frame_bytes);
    if (!parsed) {
        kind += "invalid";
    } else {
        const frame::frame_view& f = parsed.value();
        kind += d == direction::request
                    ? name_or_unknown(fbs::EnumNameApiKey(f.envelope->api_key()))
                    : name_or_unknown(fbs::EnumNameBody(f.envelope->body_type()));
        for (const fbs::DataRef* ref : record_refs(*f.envelope)) {
            if (auto records = frame::resolve(ref, f.data)) {
                // A fetch response may end inside a batch; a produce request may not.
                add_batches(records.value(), d == direction::response);
            }
        }
    }

    auto& sizes = sizes_by_kind_[kind];
    if (bytes.size() > limits_.file_bytes_max || sizes.size() >= limits_.kind_files_max ||
        !sizes.insert(bytes.size()).second) {
        return;
    }
    write(out_ / "frame" / fmt::format("{}-{:08x}", kind, crc32c::value(bytes)), bytes);
    ++kept_;
}

void frame_sink::add_batches(std::span<const std::byte> records, bool allow_partial_tail) {
    batch_reader reader(records, allow_partial_tail);
    while (true) {
        auto next = reader.next();
        if (!next || !next.value()) {
            return;
        }
        bytes_view batch = next.value()->bytes();
        uint32_t crc = crc32c::value(batch);
        if (batch.size() > limits_.file_bytes_max || batches_.size() >= limits_.batch_files_max ||
            !batches_.insert({batch.size(), crc}).second) {
            continue;
        }
        write(out_ / "record_batch" / fmt::format("batch-{:08x}", crc), batch);
    }
}

void frame_sink::write(const std::filesystem::path& p, std::span<const std::byte> bytes) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

std::string frame_sink::summary() const {
    std::lock_guard lock(mutex_);
    return fmt::format("frames={} kept={} batches={}", frames_, kept_, batches_.size());
}

}  // namespace sluice::fuzz
