// The codec is hammered: every frame type round-trips; every stream split
// decodes to the same frames; bad lengths, truncation, corruption and
// unknown types are refused with their codes. Inputs are copied into exact
// heap buffers so sanitizers catch over-reads.
#include "frame_codec.h"
#include "peer_frames.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace hermod::proto {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes Copy(std::span<const uint8_t> s) { return Bytes(s.begin(), s.end()); }

// One of every frame type, with non-default fields.
std::vector<Bytes> EveryFrame() {
  FrameEncoder enc;
  std::vector<Bytes> frames;
  {
    auto& b = enc.Start();
    frames.push_back(Copy(enc.Finish(wire::CreateHelloDirect(b, 1, "client", "token"))));
  }
  {
    auto& b = enc.Start();
    frames.push_back(Copy(enc.Finish(wire::CreateWelcomeDirect(b, 1, "0.1.0", 4096, "always", 7))));
  }
  {
    auto& b = enc.Start();
    std::vector<flatbuffers::Offset<wire::Header>> hs{wire::CreateHeaderDirect(b, "k", "v")};
    std::vector<uint8_t> payload{1, 2, 3, 0, 255};
    frames.push_back(Copy(enc.Finish(
        wire::CreatePublishDirect(b, 42, "user:1", &payload, &hs, 1000, "dedup", "group"))));
  }
  {
    auto& b = enc.Start();
    frames.push_back(Copy(enc.Finish(wire::CreatePublishOk(b, 42, 7, 3, true))));
  }
  {
    auto& b = enc.Start();
    frames.push_back(Copy(enc.Finish(wire::CreatePublishErrorDirect(b, 42, 9, "full"))));
  }
  {
    auto& b = enc.Start();
    frames.push_back(Copy(enc.Finish(wire::CreateSubscribeDirect(b, 5, 2, "user:1", 100, 30000))));
  }
  {
    auto& b = enc.Start();
    frames.push_back(Copy(enc.Finish(wire::CreateSubscribeOk(b, 5, 2))));
  }
  {
    auto& b = enc.Start();
    frames.push_back(Copy(enc.Finish(wire::CreateCredit(b, 2, 50))));
  }
  {
    auto& b = enc.Start();
    std::vector<uint8_t> payload(300, 'x');
    frames.push_back(
        Copy(enc.Finish(wire::CreateDeliverDirect(b, 2, 3, 7, 1, 123456, nullptr, &payload))));
  }
  {
    auto& b = enc.Start();
    frames.push_back(Copy(enc.Finish(wire::CreateAck(b, 2, 3, 9))));
  }
  {
    auto& b = enc.Start();
    frames.push_back(Copy(enc.Finish(wire::CreateNack(b, 2, 3, 5000))));
  }
  {
    auto& b = enc.Start();
    frames.push_back(Copy(enc.Finish(wire::CreateUnsubscribe(b, 6, 2))));
  }
  {
    auto& b = enc.Start();
    frames.push_back(Copy(enc.Finish(wire::CreateUnsubscribeOk(b, 6, 2))));
  }
  {
    auto& b = enc.Start();
    frames.push_back(Copy(enc.Finish(wire::CreatePing(b, 99))));
  }
  {
    auto& b = enc.Start();
    frames.push_back(Copy(enc.Finish(wire::CreatePong(b, 99))));
  }
  {
    auto& b = enc.Start();
    frames.push_back(Copy(enc.Finish(wire::CreateErrorDirect(b, 6, "bad", 8, true))));
  }
  {
    auto& b = enc.Start();
    frames.push_back(Copy(enc.Finish(wire::CreateConfigureQueueDirect(
        b, 11, "user:1", true, 100, flatbuffers::nullopt, "drop-oldest", 60000, 5, "user:1.dead",
        flatbuffers::nullopt))));
  }
  {
    auto& b = enc.Start();
    frames.push_back(Copy(enc.Finish(wire::CreateConfigureQueueOk(b, 11))));
  }
  {
    auto& b = enc.Start();
    std::vector<flatbuffers::Offset<flatbuffers::String>> members{b.CreateString("user:1"),
                                                                  b.CreateString("user:2")};
    frames.push_back(Copy(enc.Finish(wire::CreateGroupRequestDirect(
        b, 12, wire::GroupOp::Add, "chat:9", &members, nullptr, nullptr, 0))));
  }
  {
    auto& b = enc.Start();
    std::vector<flatbuffers::Offset<wire::GroupSummary>> groups{
        wire::CreateGroupSummaryDirect(b, "chat:9", 2, 1700000000000)};
    frames.push_back(
        Copy(enc.Finish(wire::CreateGroupReplyDirect(b, 12, 2, &groups, nullptr, 0, "chat:9"))));
  }
  {
    auto& b = enc.Start();
    frames.push_back(Copy(enc.Finish(wire::CreateQueueRequestDirect(
        b, 13, wire::QueueOp::Peek, "user:1", nullptr, nullptr, 5, nullptr, 42))));
  }
  {
    auto& b = enc.Start();
    std::vector<flatbuffers::Offset<wire::QueueRow>> rows{
        wire::CreateQueueRowDirect(b, "user:1", 3, 900, 1, 1, 5000, 0, 40, 42, 1, 2.5, 1.5)};
    frames.push_back(
        Copy(enc.Finish(wire::CreateQueueReplyDirect(b, 13, &rows, "user:1", nullptr, 0))));
  }
  {
    auto& b = enc.Start();
    frames.push_back(Copy(enc.Finish(wire::CreateStatsRequest(b, 14))));
  }
  {
    auto& b = enc.Start();
    std::vector<flatbuffers::Offset<wire::Stat>> stats{
        wire::CreateStatDirect(b, "connections", 3, nullptr),
        wire::CreateStatDirect(b, "version", 0, "0.1.0")};
    frames.push_back(Copy(enc.Finish(wire::CreateStatsReplyDirect(b, 14, &stats))));
  }
  // Peer frames (peer_frames.h; their own tests are in peer_frames_test.cc).
  frames.push_back(Copy(EncodePeerHello(enc, {"cluster", "node-1", 3, kPeerProtocolVersion})));
  frames.push_back(Copy(EncodePeerWelcome(enc, {"cluster", "node-2", 4, kPeerProtocolVersion})));
  frames.push_back(Copy(EncodeReplicate(enc, {1, 2, 10, 11, 9, "record", "commit"})));
  frames.push_back(Copy(EncodeReplicaAck(enc, {1, 2, 10, 11, ReplicaAckResult::kDuplicate})));
  frames.push_back(Copy(EncodeLeaderCommit(enc, {1, 2, 11})));
  frames.push_back(Copy(EncodeEpochEndRequest(enc, {1, 2})));
  frames.push_back(Copy(EncodeEpochEndReply(enc, {1, 2, 11})));
  frames.push_back(Copy(EncodeSnapshotRequest(enc, {1, 2, 7})));
  frames.push_back(
      Copy(EncodeSnapshotChunk(enc, {1, 2, 7, 1, SnapshotChunkKind::kRows, 0, "rows"})));
  {
    auto& b = enc.Start();
    frames.push_back(Copy(enc.Finish(wire::CreateMapRequest(b, 15))));
  }
  {
    auto& b = enc.Start();
    std::vector<flatbuffers::Offset<wire::PartitionRoute>> routes{
        wire::CreatePartitionRouteDirect(b, "127.0.0.1:7400", 3),
        wire::CreatePartitionRouteDirect(b, "", 1)};
    frames.push_back(Copy(enc.Finish(wire::CreateMapReplyDirect(b, 15, 2, &routes))));
  }
  {
    ForwardPublishFrame forward;
    forward.partition = 3;
    forward.group_id = 4;
    forward.job_id = 5;
    forward.chunk = 1;
    forward.envelope = "envelope";
    forward.names = {"alice", "bob"};
    frames.push_back(Copy(EncodeForwardPublish(enc, forward)));
  }
  frames.push_back(Copy(EncodeForwardAck(enc, {3, 5, 1, ErrorCode::kNotLeader, "led by node-2"})));
  return frames;
}

// Decodes a whole buffer, returning the body types seen.
Status DecodeAll(FrameDecoder& dec, const Bytes& bytes, std::vector<wire::Body>* types) {
  auto heap = std::make_unique<uint8_t[]>(bytes.size());
  std::memcpy(heap.get(), bytes.data(), bytes.size());
  return dec.Feed(heap.get(), bytes.size(), [&](const wire::Frame& f) {
    types->push_back(f.body_type());
    return true;
  });
}

TEST(FrameCodec, CoversEveryBodyType) {
  EXPECT_EQ(EveryFrame().size(), static_cast<size_t>(wire::Body::MAX));
}

TEST(FrameCodec, EveryFrameIsAMultipleOfEightBytes) {
  for (const Bytes& f : EveryFrame()) EXPECT_EQ(f.size() % 8, 0u);
}

TEST(FrameCodec, RoundTripsEveryFrameType) {
  std::vector<Bytes> frames = EveryFrame();
  for (size_t i = 0; i < frames.size(); ++i) {
    FrameDecoder dec(kDefaultMaxFrameBytes);
    std::vector<wire::Body> types;
    ASSERT_TRUE(DecodeAll(dec, frames[i], &types).ok());
    ASSERT_EQ(types.size(), 1u);
    EXPECT_EQ(types[0], static_cast<wire::Body>(i + 1));
  }
}

TEST(FrameCodec, RoundTripsFieldValues) {
  std::vector<Bytes> frames = EveryFrame();
  const Bytes& publish = frames[2];
  auto r = FrameDecoder::Verify(publish.data(), publish.size());
  ASSERT_TRUE(r.ok());
  const wire::Publish* p = (*r)->body_as_Publish();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->correlation_id(), 42u);
  EXPECT_EQ(View(p->queue()), "user:1");
  EXPECT_EQ(View(p->payload()), std::string("\x01\x02\x03\x00\xff", 5));
  ASSERT_EQ(p->headers()->size(), 1u);
  EXPECT_EQ(View(p->headers()->Get(0)->key()), "k");
  EXPECT_EQ(View(p->headers()->Get(0)->value()), "v");
  EXPECT_EQ(p->ttl_ms(), 1000u);
  EXPECT_EQ(View(p->dedup_id()), "dedup");
  EXPECT_EQ(View(p->group()), "group");

  const Bytes& configure = frames[16];
  auto cq = FrameDecoder::Verify(configure.data(), configure.size());
  ASSERT_TRUE(cq.ok());
  const wire::ConfigureQueue* c = (*cq)->body_as_ConfigureQueue();
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->reset());
  ASSERT_TRUE(c->max_messages().has_value());
  EXPECT_EQ(*c->max_messages(), 100u);
  EXPECT_FALSE(c->max_bytes().has_value());  // absent stays absent: "unchanged"
  EXPECT_EQ(View(c->overflow()), "drop-oldest");
  EXPECT_EQ(*c->max_deliveries(), 5u);
  EXPECT_FALSE(c->ack_wait_ms().has_value());

  const Bytes& group = frames[18];
  auto gr = FrameDecoder::Verify(group.data(), group.size());
  ASSERT_TRUE(gr.ok());
  const wire::GroupRequest* g = (*gr)->body_as_GroupRequest();
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->op(), wire::GroupOp::Add);
  EXPECT_EQ(View(g->group()), "chat:9");
  ASSERT_EQ(g->members()->size(), 2u);
  EXPECT_EQ(View(g->members()->Get(1)), "user:2");

  const Bytes& deliver = frames[8];
  auto d = FrameDecoder::Verify(deliver.data(), deliver.size());
  ASSERT_TRUE(d.ok());
  const wire::Deliver* del = (*d)->body_as_Deliver();
  EXPECT_EQ(del->subscription_id(), 2u);
  EXPECT_EQ(del->seq(), 3u);
  EXPECT_EQ(del->msg_id(), 7u);
  EXPECT_EQ(del->delivery_count(), 1u);
  EXPECT_EQ(del->publish_time_ms(), 123456u);
  EXPECT_EQ(View(del->payload()), std::string(300, 'x'));
}

TEST(FrameDecoder, DecodesEverySplitOfAStream) {
  Bytes stream;
  for (const Bytes& f : EveryFrame()) stream.insert(stream.end(), f.begin(), f.end());
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    FrameDecoder dec(kDefaultMaxFrameBytes);
    std::vector<wire::Body> types;
    ASSERT_TRUE(DecodeAll(dec, Bytes(stream.begin(), stream.begin() + cut), &types).ok());
    ASSERT_TRUE(DecodeAll(dec, Bytes(stream.begin() + cut, stream.end()), &types).ok());
    ASSERT_EQ(types.size(), EveryFrame().size()) << "cut at " << cut;
    EXPECT_EQ(dec.buffered(), 0u);
  }
}

TEST(FrameDecoder, DecodesByteByByte) {
  Bytes stream;
  for (const Bytes& f : EveryFrame()) stream.insert(stream.end(), f.begin(), f.end());
  FrameDecoder dec(kDefaultMaxFrameBytes);
  std::vector<wire::Body> types;
  for (uint8_t byte : stream) ASSERT_TRUE(DecodeAll(dec, Bytes{byte}, &types).ok());
  EXPECT_EQ(types.size(), EveryFrame().size());
}

TEST(FrameDecoder, DecodesMisalignedInput) {
  Bytes frame = EveryFrame()[2];
  auto heap = std::make_unique<uint8_t[]>(frame.size() + 3);
  std::copy(frame.begin(), frame.end(), heap.get() + 3);
  FrameDecoder dec(kDefaultMaxFrameBytes);
  int n = 0;
  ASSERT_TRUE(dec.Feed(heap.get() + 3, frame.size(),
                       [&](const wire::Frame& f) {
                         EXPECT_EQ(f.body_type(), wire::Body::Publish);
                         ++n;
                         return true;
                       })
                  .ok());
  EXPECT_EQ(n, 1);
}

TEST(FrameDecoder, RejectsLengthAboveLimit) {
  Bytes frame = EveryFrame()[2];
  FrameDecoder dec(static_cast<uint32_t>(frame.size() - 8));
  std::vector<wire::Body> types;
  Status s = DecodeAll(dec, frame, &types);
  EXPECT_EQ(s.code(), ErrorCode::kFrameTooLarge);
  EXPECT_TRUE(types.empty());
  // The limit is checked on the prefix alone, before the body arrives.
  FrameDecoder dec2(1024);
  Bytes prefix{0xff, 0xff, 0xff, 0x7f};
  EXPECT_EQ(DecodeAll(dec2, prefix, &types).code(), ErrorCode::kFrameTooLarge);
}

TEST(FrameDecoder, RejectsTooShortLength) {
  FrameDecoder dec(1024);
  std::vector<wire::Body> types;
  EXPECT_EQ(DecodeAll(dec, Bytes{4, 0, 0, 0, 0, 0, 0, 0}, &types).code(),
            ErrorCode::kMalformedFrame);
}

TEST(FrameDecoder, RejectsTruncatedFrame) {
  for (const Bytes& frame : EveryFrame()) {
    // Drop the last 8 bytes and shrink the prefix to match: offsets inside
    // now point past the end.
    Bytes cut(frame.begin(), frame.end() - 8);
    uint32_t length = static_cast<uint32_t>(cut.size() - 4);
    std::memcpy(cut.data(), &length, 4);
    if (length < kMinFrameBytes) continue;
    auto heap = std::make_unique<uint64_t[]>((cut.size() + 7) / 8);
    std::memcpy(heap.get(), cut.data(), cut.size());
    auto r = FrameDecoder::Verify(reinterpret_cast<uint8_t*>(heap.get()), cut.size());
    EXPECT_FALSE(r.ok());
  }
}

TEST(FrameDecoder, RejectsCorruptedFrames) {
  Bytes frame = EveryFrame()[2];
  {  // wrong file identifier
    Bytes bad = frame;
    bad[8] ^= 0xff;
    std::vector<wire::Body> types;
    FrameDecoder dec(kDefaultMaxFrameBytes);
    EXPECT_EQ(DecodeAll(dec, bad, &types).code(), ErrorCode::kMalformedFrame);
  }
  {  // root offset pointing outside the buffer
    Bytes bad = frame;
    uint32_t huge = 0x7ffffff0;
    std::memcpy(bad.data() + 4, &huge, 4);
    std::vector<wire::Body> types;
    FrameDecoder dec(kDefaultMaxFrameBytes);
    EXPECT_EQ(DecodeAll(dec, bad, &types).code(), ErrorCode::kMalformedFrame);
  }
  {  // a decoder that failed stays failed
    Bytes bad = frame;
    bad[8] ^= 0xff;
    std::vector<wire::Body> types;
    FrameDecoder dec(kDefaultMaxFrameBytes);
    EXPECT_FALSE(DecodeAll(dec, bad, &types).ok());
    EXPECT_FALSE(DecodeAll(dec, frame, &types).ok());
    EXPECT_TRUE(types.empty());
  }
}

TEST(FrameDecoder, RejectsUnknownBodyType) {
  // Build a Frame whose union tag names a type this build does not know.
  flatbuffers::FlatBufferBuilder b;
  auto ping = wire::CreatePing(b, 1);
  wire::FrameBuilder fb(b);
  fb.add_body(ping.Union());
  fb.add_body_type(static_cast<wire::Body>(200));
  auto root = fb.Finish();
  wire::FinishSizePrefixedFrameBuffer(b, root);
  Bytes bytes(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
  FrameDecoder dec(kDefaultMaxFrameBytes);
  std::vector<wire::Body> types;
  EXPECT_EQ(DecodeAll(dec, bytes, &types).code(), ErrorCode::kUnknownFrame);
}

TEST(FrameDecoder, StopsWhenHandlerSaysSo) {
  Bytes stream;
  for (const Bytes& f : EveryFrame()) stream.insert(stream.end(), f.begin(), f.end());
  FrameDecoder dec(kDefaultMaxFrameBytes);
  int seen = 0;
  ASSERT_TRUE(dec.Feed(stream.data(), stream.size(),
                       [&](const wire::Frame&) {
                         ++seen;
                         return seen < 3;
                       })
                  .ok());
  EXPECT_EQ(seen, 3);
}

TEST(FrameDecoder, PartialSpaceReceivesTheRestOfAFrame) {
  Bytes frame = EveryFrame()[8];  // Deliver, 300-byte payload
  FrameDecoder dec(kDefaultMaxFrameBytes);
  int seen = 0;
  auto count = [&](const wire::Frame&) {
    ++seen;
    return true;
  };
  ASSERT_TRUE(dec.Feed(frame.data(), 10, count).ok());
  std::span<uint8_t> space = dec.PartialSpace();
  ASSERT_EQ(space.size(), frame.size() - 10);
  std::memcpy(space.data(), frame.data() + 10, space.size());
  ASSERT_TRUE(dec.CommitPartial(space.size(), count).ok());
  EXPECT_EQ(seen, 1);
  EXPECT_TRUE(dec.PartialSpace().empty());
  EXPECT_EQ(dec.buffered(), 0u);
}

}  // namespace
}  // namespace hermod::proto
