// From a stored envelope (store/envelope.h) to the header and payload
// vectors of a Deliver or PeekEntry frame. Loop thread (it builds into the
// caller's FlatBufferBuilder).
#ifndef HERMOD_BROKER_SERVER_WIRE_ENVELOPE_H_
#define HERMOD_BROKER_SERVER_WIRE_ENVELOPE_H_

#include <string_view>
#include <vector>

#include "envelope.h"
#include "frame_codec.h"

namespace hermod::server {

using WireHeaders = flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<wire::Header>>>;
using WirePayload = flatbuffers::Offset<flatbuffers::Vector<uint8_t>>;

// Parses `bytes` and calls fn(envelope, headers, payload) with the envelope's
// headers (null when it has none) and payload built into fbb. Does nothing
// when the bytes are not an envelope.
template <typename Fn>
void EncodeEnvelope(flatbuffers::FlatBufferBuilder& fbb, std::string_view bytes, Fn&& fn) {
  store::EnvelopeView envelope;
  if (!envelope.Parse(bytes)) return;
  WireHeaders headers;
  if (envelope.header_count() > 0) {
    std::vector<flatbuffers::Offset<wire::Header>> list;
    list.reserve(envelope.header_count());
    envelope.ForEachHeader([&](std::string_view key, std::string_view value) {
      auto k = fbb.CreateString(key);
      auto v = fbb.CreateString(value);
      list.push_back(wire::CreateHeader(fbb, k, v));
    });
    headers = fbb.CreateVector(list);
  }
  std::string_view payload = envelope.payload();
  WirePayload payload_offset =
      fbb.CreateVector(reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
  fn(envelope, headers, payload_offset);
}

}  // namespace hermod::server

#endif  // HERMOD_BROKER_SERVER_WIRE_ENVELOPE_H_
