#include "sluice/group/group_records.h"

#include <cstring>
#include <limits>

#include "sluice/fbs/group_records_generated.h"
#include "sluice/protocol/record_batch.h"

namespace sluice::broker::groups {
namespace {

void put16(std::string& out, uint16_t v) {
    out.push_back(char(v >> 8));
    out.push_back(char(v & 0xff));
}

void put32(std::string& out, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) {
        out.push_back(char((v >> shift) & 0xff));
    }
}

void put_string(std::string& out, std::string_view s) {
    put16(out, uint16_t(s.size()));
    out.append(s);
}

class key_reader {
  public:
    explicit key_reader(std::span<const std::byte> b) : b_(b) {}

    std::optional<uint16_t> u16() {
        if (b_.size() - pos_ < 2) {
            return std::nullopt;
        }
        const uint16_t v = uint16_t(uint16_t(b_[pos_]) << 8 | uint16_t(b_[pos_ + 1]));
        pos_ += 2;
        return v;
    }
    std::optional<uint32_t> u32() {
        if (b_.size() - pos_ < 4) {
            return std::nullopt;
        }
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i) {
            v = v << 8 | uint32_t(b_[pos_ + size_t(i)]);
        }
        pos_ += 4;
        return v;
    }
    std::optional<std::string> str() {
        auto n = u16();
        if (!n || b_.size() - pos_ < *n) {
            return std::nullopt;
        }
        std::string s(reinterpret_cast<const char*>(b_.data()) + pos_, *n);
        pos_ += *n;
        return s;
    }
    bool done() const { return pos_ == b_.size(); }

  private:
    std::span<const std::byte> b_;
    size_t pos_ = 0;
};

std::string as_string(const flatbuffers::FlatBufferBuilder& fbb) {
    return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

std::string str(const flatbuffers::String* s) {
    return s ? s->str() : std::string();
}

std::string bytes(const flatbuffers::Vector<uint8_t>* v) {
    return v ? std::string(reinterpret_cast<const char*>(v->data()), v->size()) : std::string();
}

template <typename T>
const T* verified(std::span<const std::byte> b) {
    // FlatBuffers wants its buffer aligned; log bytes are not: copy into aligned words.
    static thread_local std::vector<uint64_t> words;
    if (b.empty() || b.size() > FLATBUFFERS_MAX_BUFFER_SIZE) {
        return nullptr;
    }
    words.assign((b.size() + 7) / 8, 0);
    std::memcpy(words.data(), b.data(), b.size());
    const auto* p = reinterpret_cast<const uint8_t*>(words.data());
    flatbuffers::Verifier v(p, b.size());
    if (!v.VerifyBuffer<T>(nullptr)) {
        return nullptr;
    }
    return flatbuffers::GetRoot<T>(p);
}

}  // namespace

std::string offset_key(std::string_view group_id, const topic_partition_id& tp) {
    std::string out;
    put16(out, uint16_t(record_kind::offset));
    put_string(out, group_id);
    put_string(out, tp.topic);
    put32(out, uint32_t(tp.partition));
    return out;
}

std::string group_key(std::string_view group_id) {
    std::string out;
    put16(out, uint16_t(record_kind::group));
    put_string(out, group_id);
    return out;
}

std::optional<record_key> decode_key(std::span<const std::byte> b) {
    key_reader r(b);
    auto kind = r.u16();
    if (!kind) {
        return std::nullopt;
    }
    record_key k;
    auto g = r.str();
    if (!g) {
        return std::nullopt;
    }
    k.group_id = std::move(*g);
    if (*kind == uint16_t(record_kind::group)) {
        k.kind = record_kind::group;
        return r.done() ? std::optional(std::move(k)) : std::nullopt;
    }
    if (*kind != uint16_t(record_kind::offset)) {
        return std::nullopt;
    }
    k.kind = record_kind::offset;
    auto t = r.str();
    auto p = r.u32();
    if (!t || !p || !r.done()) {
        return std::nullopt;
    }
    k.tp = topic_partition_id{std::move(*t), int32_t(*p)};
    return k;
}

std::string encode_offset_value(const offset_value& v) {
    flatbuffers::FlatBufferBuilder fbb;
    fbb.Finish(fbs::group::CreateOffsetValue(fbb, v.offset, v.leader_epoch,
                                             fbb.CreateString(v.metadata), v.commit_ms));
    return as_string(fbb);
}

std::optional<offset_value> decode_offset_value(std::span<const std::byte> b) {
    const auto* v = verified<fbs::group::OffsetValue>(b);
    if (v == nullptr) {
        return std::nullopt;
    }
    return offset_value{v->offset(), v->leader_epoch(), str(v->metadata()),
                        v->commit_timestamp_ms()};
}

std::string encode_group_value(const group_record& r) {
    flatbuffers::FlatBufferBuilder fbb;
    std::vector<flatbuffers::Offset<fbs::group::GroupMemberValue>> members;
    for (const auto& m : r.members) {
        auto as_vec = [&](const std::string& s) {
            return fbb.CreateVector(reinterpret_cast<const uint8_t*>(s.data()), s.size());
        };
        members.push_back(fbs::group::CreateGroupMemberValue(
            fbb, fbb.CreateString(m.id), m.instance_id ? fbb.CreateString(*m.instance_id) : 0,
            fbb.CreateString(m.client_id), fbb.CreateString(m.client_host), m.session_timeout_ms,
            m.rebalance_timeout_ms, as_vec(m.metadata), as_vec(m.assignment)));
    }
    fbb.Finish(fbs::group::CreateGroupValue(
        fbb, fbb.CreateString(r.protocol_type), fbb.CreateString(r.protocol_name), r.generation,
        fbb.CreateString(r.leader), r.state_ms, fbb.CreateVector(members)));
    return as_string(fbb);
}

std::optional<group_record> decode_group_value(std::span<const std::byte> b) {
    const auto* v = verified<fbs::group::GroupValue>(b);
    if (v == nullptr) {
        return std::nullopt;
    }
    group_record r;
    r.protocol_type = str(v->protocol_type());
    r.protocol_name = str(v->protocol_name());
    r.generation = v->generation();
    r.leader = str(v->leader());
    r.state_ms = v->state_timestamp_ms();
    if (v->members() != nullptr) {
        for (const auto* m : *v->members()) {
            group_record::member out;
            out.id = str(m->member_id());
            if (m->group_instance_id() != nullptr) {
                out.instance_id = m->group_instance_id()->str();
            }
            out.client_id = str(m->client_id());
            out.client_host = str(m->client_host());
            out.session_timeout_ms = m->session_timeout_ms();
            out.rebalance_timeout_ms = m->rebalance_timeout_ms();
            out.metadata = bytes(m->metadata());
            out.assignment = bytes(m->assignment());
            if (out.id.empty()) {
                return std::nullopt;
            }
            r.members.push_back(std::move(out));
        }
    }
    return r;
}

std::vector<std::byte> build_batch(const std::vector<record_to_write>& records, int64_t now_ms) {
    if (records.empty()) {
        return {};
    }
    batch_builder b;
    for (const auto& r : records) {
        record_input in;
        in.key = as_bytes(r.key);
        if (r.value) {
            in.value = as_bytes(*r.value);
        }
        in.timestamp = timestamp_ms_t{now_ms};
        b.add(in);
    }
    return b.finish();
}

int32_t partition_for(std::string_view group_id, int32_t partitions) {
    int32_t h = 0;
    for (char c : group_id) {
        h = int32_t(uint32_t(h) * 31u + uint32_t(uint8_t(c)));
    }
    // Kafka's Utils.abs: the absolute value, with the smallest int32 (which has none) as 0.
    const int32_t a = h == std::numeric_limits<int32_t>::min() ? 0 : (h < 0 ? -h : h);
    return a % std::max(partitions, 1);
}

}  // namespace sluice::broker::groups
