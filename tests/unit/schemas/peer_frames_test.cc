// Peer frames: every one round-trips through the frame codec; the Replicate
// checksum follows its documented layout and catches a flipped byte in any
// field it covers; truncated and corrupted frames are refused without a
// crash. Inputs are copied into exact heap buffers so sanitizers catch
// over-reads.
#include "peer_frames.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hermod::proto {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes Copy(std::span<const uint8_t> s) { return Bytes(s.begin(), s.end()); }

// A frame in 8-aligned heap memory of exactly its size (rounded to 8).
struct Held {
  explicit Held(const Bytes& b)
      : words(std::make_unique<uint64_t[]>((b.size() + 7) / 8)), size(b.size()) {
    if (!b.empty()) std::memcpy(words.get(), b.data(), b.size());
  }
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(words.get()); }
  std::unique_ptr<uint64_t[]> words;
  size_t size;
};

// Field values whose little-endian bytes occur once in the frame, so a test
// can find and flip them.
ReplicateFrame SamplePart(std::string_view record, std::string_view commit_record) {
  ReplicateFrame part;
  part.partition = 0x0A0B0C0D;
  part.epoch = 0x1112131415161718;
  part.prev_offset = 0x2122232425262728;
  part.offset = 0x3132333435363738;
  part.leader_commit = 0x4142434445464748;
  part.record = record;
  part.commit_record = commit_record;
  return part;
}

const std::string kRecord = "record: opaque bytes \x01\x02\x03";
const std::string kCommitRecord = "commit-record \xfe\xff";

bool SameCovered(const ReplicateFrame& a, const ReplicateFrame& b) {
  return a.partition == b.partition && a.epoch == b.epoch && a.prev_offset == b.prev_offset &&
         a.offset == b.offset && a.record == b.record && a.commit_record == b.commit_record;
}

TEST(PeerFrames, PeerHelloAndWelcomeRoundTrip) {
  FrameEncoder enc;
  PeerIdentity me{"prod-eu", "node-3", 0x123456789abcull, kPeerProtocolVersion};
  Held hello(Copy(EncodePeerHello(enc, me)));
  auto f = FrameDecoder::Verify(hello.data(), hello.size);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_EQ((*f)->body_type(), wire::Body::PeerHello);
  auto h = DecodePeerHello(**f);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->cluster, "prod-eu");
  EXPECT_EQ(h->node_id, "node-3");
  EXPECT_EQ(h->incarnation, 0x123456789abcull);
  EXPECT_EQ(h->version, kPeerProtocolVersion);
  EXPECT_EQ(DecodePeerWelcome(**f).status().code(), ErrorCode::kProtocolViolation);

  Held welcome(Copy(EncodePeerWelcome(enc, {"prod-eu", "node-1", 7, 9})));
  auto g = FrameDecoder::Verify(welcome.data(), welcome.size);
  ASSERT_TRUE(g.ok());
  auto w = DecodePeerWelcome(**g);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->cluster, "prod-eu");
  EXPECT_EQ(w->node_id, "node-1");
  EXPECT_EQ(w->incarnation, 7u);
  EXPECT_EQ(w->version, 9u);
}

TEST(PeerFrames, ReplicateRoundTripsWithViewsIntoTheFrame) {
  FrameEncoder enc;
  ReplicateFrame part = SamplePart(kRecord, kCommitRecord);
  Held held(Copy(EncodeReplicate(enc, part)));
  EXPECT_EQ(held.size % 8, 0u);
  auto f = FrameDecoder::Verify(held.data(), held.size);
  ASSERT_TRUE(f.ok());
  auto r = DecodeReplicate(**f);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(SameCovered(*r, part));
  EXPECT_EQ(r->leader_commit, part.leader_commit);
  EXPECT_EQ((*f)->body_as_Replicate()->checksum(), ReplicateChecksum(part));
  // No copy: the views point into the frame's own bytes.
  const uint8_t* begin = held.data();
  const uint8_t* end = begin + held.size;
  for (std::string_view v : {r->record, r->commit_record}) {
    auto* p = reinterpret_cast<const uint8_t*>(v.data());
    EXPECT_TRUE(p >= begin && p + v.size() <= end);
  }
}

TEST(PeerFrames, ReplicateWithEmptyRecordsRoundTrips) {
  FrameEncoder enc;
  ReplicateFrame part;  // all zero, both records empty
  Held held(Copy(EncodeReplicate(enc, part)));
  auto f = FrameDecoder::Verify(held.data(), held.size);
  ASSERT_TRUE(f.ok());
  auto r = DecodeReplicate(**f);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->record.empty());
  EXPECT_TRUE(r->commit_record.empty());
}

TEST(PeerFrames, SmallFramesRoundTrip) {
  FrameEncoder enc;
  {
    Held held(Copy(EncodeReplicaAck(enc, {5, 9, 100, 120, ReplicaAckResult::kGap})));
    auto f = FrameDecoder::Verify(held.data(), held.size);
    ASSERT_TRUE(f.ok());
    auto a = DecodeReplicaAck(**f);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->partition, 5u);
    EXPECT_EQ(a->epoch, 9u);
    EXPECT_EQ(a->durable_offset, 100u);
    EXPECT_EQ(a->end_offset, 120u);
    EXPECT_EQ(a->result, ReplicaAckResult::kGap);
  }
  for (uint8_t result = 0; result <= kMaxReplicaAckResult; ++result) {
    Held held(Copy(EncodeReplicaAck(enc, {1, 1, 1, 1, static_cast<ReplicaAckResult>(result)})));
    auto f = FrameDecoder::Verify(held.data(), held.size);
    ASSERT_TRUE(f.ok());
    auto a = DecodeReplicaAck(**f);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(static_cast<uint8_t>(a->result), result);
  }
  {
    Held held(Copy(EncodeLeaderCommit(enc, {3, 4, 77})));
    auto f = FrameDecoder::Verify(held.data(), held.size);
    ASSERT_TRUE(f.ok());
    auto c = DecodeLeaderCommit(**f);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->partition, 3u);
    EXPECT_EQ(c->epoch, 4u);
    EXPECT_EQ(c->leader_commit, 77u);
  }
  {
    Held held(Copy(EncodeEpochEndRequest(enc, {6, 2})));
    auto f = FrameDecoder::Verify(held.data(), held.size);
    ASSERT_TRUE(f.ok());
    auto q = DecodeEpochEndRequest(**f);
    ASSERT_TRUE(q.ok());
    EXPECT_EQ(q->partition, 6u);
    EXPECT_EQ(q->epoch, 2u);
    EXPECT_EQ(DecodeEpochEndReply(**f).status().code(), ErrorCode::kProtocolViolation);
  }
  {
    Held held(Copy(EncodeEpochEndReply(enc, {6, 2, 4096})));
    auto f = FrameDecoder::Verify(held.data(), held.size);
    ASSERT_TRUE(f.ok());
    auto p = DecodeEpochEndReply(**f);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->partition, 6u);
    EXPECT_EQ(p->epoch, 2u);
    EXPECT_EQ(p->end_offset, 4096u);
  }
}

TEST(PeerFrames, PeerFramesDecodeFromAStream) {
  FrameEncoder enc;
  Bytes stream;
  auto add = [&](std::span<const uint8_t> f) { stream.insert(stream.end(), f.begin(), f.end()); };
  add(EncodePeerHello(enc, {"c", "a", 1, 1}));
  add(EncodeReplicate(enc, SamplePart(kRecord, kCommitRecord)));
  add(EncodeReplicaAck(enc, {}));
  add(EncodeLeaderCommit(enc, {}));
  add(EncodeEpochEndRequest(enc, {}));
  add(EncodeEpochEndReply(enc, {}));
  add(EncodePeerWelcome(enc, {"c", "b", 1, 1}));
  for (size_t cut = 0; cut <= stream.size(); cut += 3) {
    FrameDecoder dec(kDefaultMaxFrameBytes);
    std::vector<wire::Body> types;
    int replicates_ok = 0;
    auto on_frame = [&](const wire::Frame& f) {
      types.push_back(f.body_type());
      if (f.body_type() == wire::Body::Replicate && DecodeReplicate(f).ok()) ++replicates_ok;
      return true;
    };
    Bytes a(stream.begin(), stream.begin() + cut), b(stream.begin() + cut, stream.end());
    ASSERT_TRUE(dec.Feed(a.data(), a.size(), on_frame).ok());
    ASSERT_TRUE(dec.Feed(b.data(), b.size(), on_frame).ok());
    EXPECT_EQ(types, (std::vector<wire::Body>{wire::Body::PeerHello, wire::Body::Replicate,
                                              wire::Body::ReplicaAck, wire::Body::LeaderCommit,
                                              wire::Body::EpochEndRequest,
                                              wire::Body::EpochEndReply, wire::Body::PeerWelcome}));
    EXPECT_EQ(replicates_ok, 1);
  }
}

TEST(ReplicateChecksum, FollowsTheDocumentedLayout) {
  // docs/protocol.md, "Replicate checksum", written out by hand.
  Bytes layout = {
      0x0D, 0x0C, 0x0B, 0x0A,                          // partition
      0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,  // epoch
      0x28, 0x27, 0x26, 0x25, 0x24, 0x23, 0x22, 0x21,  // prev_offset
      0x38, 0x37, 0x36, 0x35, 0x34, 0x33, 0x32, 0x31,  // offset
      3,    0,    0,    0,    'a',  'b',  'c',         // record
      2,    0,    0,    0,    'x',  'y',               // commit_record
  };
  ReplicateFrame part = SamplePart("abc", "xy");
  EXPECT_EQ(ReplicateChecksum(part), XXH64(layout.data(), layout.size(), 0));
  // The lengths keep the two records apart.
  EXPECT_NE(ReplicateChecksum(SamplePart("abcx", "y")), ReplicateChecksum(part));
  // leader_commit is not covered.
  ReplicateFrame other = part;
  other.leader_commit = 1;
  EXPECT_EQ(ReplicateChecksum(other), ReplicateChecksum(part));
}

TEST(ReplicateChecksum, KnownAnswersFromTheDocs) {
  EXPECT_EQ(ReplicateChecksum(1, 2, 10, 11, "abc", "xy"), 0xc31fe265431467ceull);
  EXPECT_EQ(ReplicateChecksum(0, 0, 0, 0, "", ""), 0x65b3a875a2520cd1ull);
}

// Flips one byte of the frame where `needle` occurs (exactly once).
void FlipWhere(Bytes& frame, const Bytes& needle, size_t byte_in_needle) {
  auto it = std::search(frame.begin(), frame.end(), needle.begin(), needle.end());
  ASSERT_NE(it, frame.end());
  ASSERT_EQ(std::search(it + 1, frame.end(), needle.begin(), needle.end()), frame.end());
  *(it + static_cast<std::ptrdiff_t>(byte_in_needle)) ^= 0x01;
}

Bytes LittleEndian(uint64_t v, int bytes) {
  Bytes out;
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  return out;
}

TEST(ReplicateChecksum, DetectsAFlippedByteInEveryCoveredField) {
  FrameEncoder enc;
  ReplicateFrame part = SamplePart(kRecord, kCommitRecord);
  const Bytes good = Copy(EncodeReplicate(enc, part));
  struct Field {
    const char* name;
    Bytes bytes;
  };
  std::vector<Field> fields = {
      {"partition", LittleEndian(part.partition, 4)},
      {"epoch", LittleEndian(part.epoch, 8)},
      {"prev_offset", LittleEndian(part.prev_offset, 8)},
      {"offset", LittleEndian(part.offset, 8)},
      {"checksum", LittleEndian(ReplicateChecksum(part), 8)},
      {"record", Bytes(kRecord.begin(), kRecord.end())},
      {"commit_record", Bytes(kCommitRecord.begin(), kCommitRecord.end())},
  };
  for (const Field& field : fields) {
    for (size_t i = 0; i < field.bytes.size(); ++i) {
      SCOPED_TRACE(std::string(field.name) + " byte " + std::to_string(i));
      Bytes bad = good;
      FlipWhere(bad, field.bytes, i);
      Held held(bad);
      auto f = FrameDecoder::Verify(held.data(), held.size);
      ASSERT_TRUE(f.ok());  // still a well-formed FlatBuffer
      auto r = DecodeReplicate(**f);
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), ErrorCode::kCorruption);
      EXPECT_TRUE(IsChecksumMismatch(r.status())) << r.status().ToString();
    }
  }
}

TEST(ReplicateChecksum, DetectsAWrongChecksumField) {
  FrameEncoder enc;
  ReplicateFrame part = SamplePart(kRecord, kCommitRecord);
  Held held(Copy(TEST_EncodeReplicateWithChecksum(enc, part, ReplicateChecksum(part) + 1)));
  auto f = FrameDecoder::Verify(held.data(), held.size);
  ASSERT_TRUE(f.ok());
  Status s = DecodeReplicate(**f).status();
  EXPECT_TRUE(IsChecksumMismatch(s)) << s.ToString();
  EXPECT_FALSE(IsChecksumMismatch(Status(ErrorCode::kMalformedFrame, "frame failed verification")));
  EXPECT_FALSE(IsChecksumMismatch(Status::OK()));
}

TEST(PeerFrames, SnapshotFramesRoundTrip) {
  FrameEncoder enc;
  Held request(Copy(EncodeSnapshotRequest(enc, {3, 9, 0x5566})));
  auto f = FrameDecoder::Verify(request.data(), request.size);
  ASSERT_TRUE(f.ok());
  Result<SnapshotRequestFrame> r = DecodeSnapshotRequest(**f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->partition, 3u);
  EXPECT_EQ(r->epoch, 9u);
  EXPECT_EQ(r->snapshot_id, 0x5566u);

  const std::string rows = "rows \x00\x01 of a partition";
  SnapshotChunkFrame chunk{3, 9, 0x5566, 4, SnapshotChunkKind::kEnd, 77, rows};
  Held held(Copy(EncodeSnapshotChunk(enc, chunk)));
  f = FrameDecoder::Verify(held.data(), held.size);
  ASSERT_TRUE(f.ok());
  Result<SnapshotChunkFrame> c = DecodeSnapshotChunk(**f);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->seq, 4u);
  EXPECT_EQ(c->kind, SnapshotChunkKind::kEnd);
  EXPECT_EQ(c->end_offset, 77u);
  EXPECT_EQ(c->data, rows);
}

TEST(PeerFrames, SnapshotChunkChecksumCoversItsData) {
  FrameEncoder enc;
  const std::string rows = "0123456789abcdef-unique-rows";
  Bytes good = Copy(EncodeSnapshotChunk(enc, {3, 9, 1, 1, SnapshotChunkKind::kRows, 0, rows}));
  auto at = std::search(good.begin(), good.end(), rows.begin(), rows.end());
  ASSERT_NE(at, good.end());
  *at ^= 0x01;  // one bit of the data
  Held held(good);
  auto f = FrameDecoder::Verify(held.data(), held.size);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(DecodeSnapshotChunk(**f).status().code(), ErrorCode::kCorruption);
}

TEST(PeerFrames, ForwardFramesRoundTripAndTheChecksumCoversTheMembers) {
  FrameEncoder enc;
  ForwardPublishFrame forward;
  forward.partition = 5;
  forward.group_id = 0x1122;
  forward.job_id = 0x3344;
  forward.chunk = 2;
  forward.envelope = "an envelope \x00 with a zero";
  forward.names = {"user:alice-unique", "user:bob"};
  Bytes good = Copy(EncodeForwardPublish(enc, forward));
  {
    Held held(good);
    auto f = FrameDecoder::Verify(held.data(), held.size);
    ASSERT_TRUE(f.ok());
    Result<ForwardPublishFrame> d = DecodeForwardPublish(**f);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->partition, 5u);
    EXPECT_EQ(d->group_id, 0x1122u);
    EXPECT_EQ(d->job_id, 0x3344u);
    EXPECT_EQ(d->chunk, 2u);
    EXPECT_EQ(d->envelope, forward.envelope);
    EXPECT_EQ(d->names, forward.names);
  }
  const std::string name = "alice-unique";
  auto at = std::search(good.begin(), good.end(), name.begin(), name.end());
  ASSERT_NE(at, good.end());
  *at ^= 0x01;  // one bit of a member's name
  Held held(good);
  auto f = FrameDecoder::Verify(held.data(), held.size);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(DecodeForwardPublish(**f).status().code(), ErrorCode::kCorruption);

  Held ack(Copy(EncodeForwardAck(enc, {5, 0x3344, 2, ErrorCode::kNotLeader, "led by n2"})));
  f = FrameDecoder::Verify(ack.data(), ack.size);
  ASSERT_TRUE(f.ok());
  Result<ForwardAckFrame> a = DecodeForwardAck(**f);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->partition, 5u);
  EXPECT_EQ(a->job_id, 0x3344u);
  EXPECT_EQ(a->chunk, 2u);
  EXPECT_EQ(a->code, ErrorCode::kNotLeader);
  EXPECT_EQ(a->message, "led by n2");
}

TEST(PeerFrames, RefusesTruncatedFrames) {
  FrameEncoder enc;
  const Bytes good = Copy(EncodeReplicate(enc, SamplePart(kRecord, kCommitRecord)));
  for (size_t size = 0; size < good.size(); ++size) {
    Bytes cut(good.begin(), good.begin() + size);
    // As a whole buffer: the verifier refuses it.
    if (size >= kLengthPrefixBytes + kMinFrameBytes) {
      Held held(cut);
      EXPECT_FALSE(FrameDecoder::Verify(held.data(), held.size).ok()) << size;
    }
    // In a stream: no frame comes out, the rest is awaited.
    FrameDecoder dec(kDefaultMaxFrameBytes);
    int frames = 0;
    Held held(cut);
    Status s = dec.Feed(held.data(), held.size, [&](const wire::Frame&) { return ++frames > 0; });
    EXPECT_TRUE(s.ok());
    EXPECT_EQ(frames, 0);
  }
}

TEST(PeerFrames, CorruptionIsRefusedOrHarmless) {
  // Every single-byte flip anywhere in a Replicate frame: the codec refuses
  // it (verifier, unknown type, wrong type or checksum), or it decodes to
  // the same covered fields (a flip in padding or in leader_commit).
  FrameEncoder enc;
  ReplicateFrame part = SamplePart(kRecord, kCommitRecord);
  const Bytes good = Copy(EncodeReplicate(enc, part));
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t mask : {0x01, 0x80, 0xff}) {
      Bytes bad = good;
      bad[i] ^= mask;
      FrameDecoder dec(kDefaultMaxFrameBytes);
      Held held(bad);
      std::optional<Result<ReplicateFrame>> decoded;
      Status s = dec.Feed(held.data(), held.size, [&](const wire::Frame& f) {
        decoded.emplace(DecodeReplicate(f));
        if (decoded->ok()) {
          EXPECT_TRUE(SameCovered(**decoded, part)) << "byte " << i << " mask " << int{mask};
        }
        return true;
      });
      if (!s.ok() || !decoded) continue;
      if (!decoded->ok()) {
        ErrorCode code = decoded->status().code();
        EXPECT_TRUE(code == ErrorCode::kMalformedFrame || code == ErrorCode::kCorruption ||
                    code == ErrorCode::kProtocolViolation)
            << decoded->status().ToString();
      }
    }
  }
}

TEST(PeerFrames, RefusesAnUnknownAckResult) {
  FrameEncoder enc;
  auto& fbb = enc.Start();
  Held held(Copy(enc.Finish(wire::CreateReplicaAck(fbb, 1, 1, 1, 1, kMaxReplicaAckResult + 1))));
  auto f = FrameDecoder::Verify(held.data(), held.size);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(DecodeReplicaAck(**f).status().code(), ErrorCode::kMalformedFrame);
}

TEST(PeerFrames, DecodersRefuseOtherFrameTypes) {
  FrameEncoder enc;
  auto& fbb = enc.Start();
  Held held(Copy(enc.Finish(wire::CreatePing(fbb, 1))));
  auto f = FrameDecoder::Verify(held.data(), held.size);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(DecodePeerHello(**f).status().code(), ErrorCode::kProtocolViolation);
  EXPECT_EQ(DecodePeerWelcome(**f).status().code(), ErrorCode::kProtocolViolation);
  EXPECT_EQ(DecodeReplicate(**f).status().code(), ErrorCode::kProtocolViolation);
  EXPECT_EQ(DecodeReplicaAck(**f).status().code(), ErrorCode::kProtocolViolation);
  EXPECT_EQ(DecodeLeaderCommit(**f).status().code(), ErrorCode::kProtocolViolation);
  EXPECT_EQ(DecodeEpochEndRequest(**f).status().code(), ErrorCode::kProtocolViolation);
  EXPECT_EQ(DecodeEpochEndReply(**f).status().code(), ErrorCode::kProtocolViolation);
}

}  // namespace
}  // namespace hermod::proto
