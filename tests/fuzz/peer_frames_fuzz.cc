// Fuzz target: bytes from a peer node, as PeerLinks decodes them: the frame
// decoder at the peer frame bound, then every peer frame decoder on every
// frame (each must refuse a frame of another type or out of range, never
// read past it). The first byte picks the read size, as in frame_fuzz.
#include <cstddef>
#include <cstdint>

#include "frame_codec.h"
#include "peer_frames.h"

namespace proto = hermod::proto;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 64;
  ++data;
  --size;
  proto::FrameDecoder decoder(1 << 16);
  uint64_t sum = 0;  // keeps the decoded fields alive
  for (size_t at = 0; at < size;) {
    const size_t n = size - at < chunk ? size - at : chunk;
    hermod::Status s = decoder.Feed(data + at, n, [&](const hermod::wire::Frame& frame) {
      if (auto h = proto::DecodePeerHello(frame); h.ok()) sum += h->cluster.size() + h->version;
      if (auto w = proto::DecodePeerWelcome(frame); w.ok()) sum += w->node_id.size();
      if (auto r = proto::DecodeReplicate(frame); r.ok()) {
        sum += r->record.size() + r->commit_record.size() + r->offset;
      }
      if (auto a = proto::DecodeReplicaAck(frame); a.ok()) sum += a->durable_offset;
      if (auto c = proto::DecodeLeaderCommit(frame); c.ok()) sum += c->leader_commit;
      if (auto q = proto::DecodeEpochEndRequest(frame); q.ok()) sum += q->epoch;
      if (auto e = proto::DecodeEpochEndReply(frame); e.ok()) sum += e->end_offset;
      return true;
    });
    if (!s.ok()) break;  // the link would be closed
    at += n;
  }
  // Keeps the decoded fields alive without a variable GCC calls unused.
  asm volatile("" : : "r"(sum) : "memory");
  return 0;
}
