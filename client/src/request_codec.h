// What the request encoders and answer decoders share (requests.cpp, group_requests.cpp): the
// envelope around a body, the body of an answer or the error it carries, and FlatBuffers readers
// that take absent fields as empty.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "sluice/client/errc.h"
#include "sluice/client/internal/connection.h"
#include "sluice/protocol/api.h"

namespace sluice::client::codec {

using fbb_t = flatbuffers::FlatBufferBuilder;

inline std::unique_ptr<frame::writer> finish(std::unique_ptr<frame::writer> w, fbs::ApiKey key,
                                             int32_t id, std::string_view client_id, fbs::Body type,
                                             flatbuffers::Offset<void> body) {
    fbb_t& fbb = w->fbb();
    const auto cid = fbb.CreateString(client_id.data(), client_id.size());
    const int16_t version = api::find(key)->max_version;
    w->finish(fbs::CreateEnvelope(fbb, key, version, id, type, body, cid));
    return w;
}

inline std::error_code unexpected(const response& r, fbs::Body expected) {
    return make_client_error(
        client_errc::protocol_error,
        fmt::format("expected a {} body, got {}", fbs::EnumNameBody(expected),
                    r.envelope() ? fbs::EnumNameBody(r.envelope()->body_type()) : "nothing"));
}

// The body of type `Body` from `r`, or the error an ErrorResponse carries, or protocol_error.
template <typename Body>
result<const Body*> body_of(const response& r) {
    constexpr fbs::Body expected = fbs::BodyTraits<Body>::enum_value;
    const fbs::Envelope* env = r.envelope();
    if (env == nullptr) {
        return unexpected(r, expected);
    }
    if (env->body_type() == fbs::Body::ErrorResponse) {
        const errc e = static_cast<errc>(env->body_as_ErrorResponse()->error_code());
        return make_error_code(e == errc::none ? errc::unknown_server_error : e);
    }
    const Body* b = env->body_as<Body>();
    if (b == nullptr) {
        return unexpected(r, expected);
    }
    return b;
}

inline std::string str(const flatbuffers::String* s) {
    return s ? s->str() : std::string();
}
inline std::string_view view(const flatbuffers::String* s) {
    return s ? std::string_view(s->c_str(), s->size()) : std::string_view();
}

inline std::vector<int32_t> ints(const flatbuffers::Vector<int32_t>* v) {
    return v ? std::vector<int32_t>(v->begin(), v->end()) : std::vector<int32_t>();
}

template <typename T>
auto items(const flatbuffers::Vector<flatbuffers::Offset<T>>* v) {
    std::vector<const T*> out;
    if (v != nullptr) {
        out.reserve(v->size());
        for (flatbuffers::uoffset_t i = 0; i < v->size(); ++i) {
            out.push_back(v->Get(i));
        }
    }
    return out;
}

// Calls `each(first, last)` for every run of adjacent entries with the same topic.
template <typename T, typename F>
void by_topic(std::span<const T> entries, F each) {
    size_t i = 0;
    while (i < entries.size()) {
        size_t j = i + 1;
        while (j < entries.size() && entries[j].topic == entries[i].topic) {
            ++j;
        }
        each(entries.subspan(i, j - i));
        i = j;
    }
}

}  // namespace sluice::client::codec
