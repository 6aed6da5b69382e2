#include "peer_frames.h"

// For XXH64_state_t on the stack (no allocation per checksum).
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <string>

#include "check.h"

namespace hermod::proto {

namespace {

constexpr std::string_view kChecksumMismatch = "Replicate checksum mismatch";

void PutLittleEndian32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void PutLittleEndian64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// Returns the body of `frame` as T, or kProtocolViolation.
template <typename T>
Result<const T*> BodyAs(const wire::Frame& frame) {
  const T* body = frame.body_as<T>();
  if (body == nullptr) {
    return Status(ErrorCode::kProtocolViolation, std::string("expected ") +
                                                     BodyName(wire::BodyTraits<T>::enum_value) +
                                                     ", got " + BodyName(frame.body_type()));
  }
  return body;
}

flatbuffers::Offset<flatbuffers::Vector<uint8_t>> Bytes(flatbuffers::FlatBufferBuilder& fbb,
                                                        std::string_view bytes) {
  return fbb.CreateVector(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

std::span<const uint8_t> EncodeReplicateImpl(FrameEncoder& encoder, const ReplicateFrame& part,
                                             uint64_t checksum) {
  auto& fbb = encoder.Start();
  auto record = Bytes(fbb, part.record);
  auto commit_record = Bytes(fbb, part.commit_record);
  return encoder.Finish(wire::CreateReplicate(fbb, part.partition, part.epoch, part.prev_offset,
                                              part.offset, part.leader_commit, checksum, record,
                                              commit_record));
}

template <typename T>
Result<PeerIdentity> DecodeIdentity(const wire::Frame& frame) {
  Result<const T*> body = BodyAs<T>(frame);
  if (!body.ok()) return body.status();
  PeerIdentity identity;
  identity.cluster = View((*body)->cluster());
  identity.node_id = View((*body)->node_id());
  identity.incarnation = (*body)->incarnation();
  identity.version = (*body)->version();
  return identity;
}

}  // namespace

uint64_t ReplicateChecksum(uint32_t partition, uint64_t epoch, uint64_t prev_offset,
                           uint64_t offset, std::string_view record,
                           std::string_view commit_record) {
  HERMOD_CHECK(record.size() <= UINT32_MAX && commit_record.size() <= UINT32_MAX);
  XXH64_state_t state;
  XXH64_reset(&state, 0);
  uint8_t header[4 + 8 + 8 + 8 + 4];
  PutLittleEndian32(header, partition);
  PutLittleEndian64(header + 4, epoch);
  PutLittleEndian64(header + 12, prev_offset);
  PutLittleEndian64(header + 20, offset);
  PutLittleEndian32(header + 28, static_cast<uint32_t>(record.size()));
  XXH64_update(&state, header, sizeof(header));
  XXH64_update(&state, record.data(), record.size());
  uint8_t length[4];
  PutLittleEndian32(length, static_cast<uint32_t>(commit_record.size()));
  XXH64_update(&state, length, sizeof(length));
  XXH64_update(&state, commit_record.data(), commit_record.size());
  return XXH64_digest(&state);
}

uint64_t SnapshotChunkChecksum(const SnapshotChunkFrame& chunk) {
  HERMOD_CHECK(chunk.data.size() <= UINT32_MAX);
  XXH64_state_t state;
  XXH64_reset(&state, 0);
  uint8_t header[4 + 8 + 8 + 8 + 1 + 8 + 4];
  PutLittleEndian32(header, chunk.partition);
  PutLittleEndian64(header + 4, chunk.epoch);
  PutLittleEndian64(header + 12, chunk.snapshot_id);
  PutLittleEndian64(header + 20, chunk.seq);
  header[28] = static_cast<uint8_t>(chunk.kind);
  PutLittleEndian64(header + 29, chunk.end_offset);
  PutLittleEndian32(header + 37, static_cast<uint32_t>(chunk.data.size()));
  XXH64_update(&state, header, sizeof(header));
  XXH64_update(&state, chunk.data.data(), chunk.data.size());
  return XXH64_digest(&state);
}

std::span<const uint8_t> EncodePeerHello(FrameEncoder& encoder, const PeerIdentity& hello) {
  auto& fbb = encoder.Start();
  auto cluster = fbb.CreateString(hello.cluster);
  auto node_id = fbb.CreateString(hello.node_id);
  return encoder.Finish(
      wire::CreatePeerHello(fbb, cluster, node_id, hello.incarnation, hello.version));
}

std::span<const uint8_t> EncodePeerWelcome(FrameEncoder& encoder, const PeerIdentity& welcome) {
  auto& fbb = encoder.Start();
  auto cluster = fbb.CreateString(welcome.cluster);
  auto node_id = fbb.CreateString(welcome.node_id);
  return encoder.Finish(
      wire::CreatePeerWelcome(fbb, cluster, node_id, welcome.incarnation, welcome.version));
}

std::span<const uint8_t> EncodeReplicate(FrameEncoder& encoder, const ReplicateFrame& part) {
  return EncodeReplicateImpl(encoder, part, ReplicateChecksum(part));
}

std::span<const uint8_t> TEST_EncodeReplicateWithChecksum(FrameEncoder& encoder,
                                                          const ReplicateFrame& part,
                                                          uint64_t checksum) {
  return EncodeReplicateImpl(encoder, part, checksum);
}

std::span<const uint8_t> EncodeReplicaAck(FrameEncoder& encoder, const ReplicaAckFrame& ack) {
  auto& fbb = encoder.Start();
  return encoder.Finish(wire::CreateReplicaAck(fbb, ack.partition, ack.epoch, ack.durable_offset,
                                               ack.end_offset, static_cast<uint8_t>(ack.result)));
}

std::span<const uint8_t> EncodeLeaderCommit(FrameEncoder& encoder,
                                            const LeaderCommitFrame& commit) {
  auto& fbb = encoder.Start();
  return encoder.Finish(
      wire::CreateLeaderCommit(fbb, commit.partition, commit.epoch, commit.leader_commit));
}

std::span<const uint8_t> EncodeEpochEndRequest(FrameEncoder& encoder,
                                               const EpochEndRequestFrame& request) {
  auto& fbb = encoder.Start();
  return encoder.Finish(wire::CreateEpochEndRequest(fbb, request.partition, request.epoch));
}

std::span<const uint8_t> EncodeEpochEndReply(FrameEncoder& encoder,
                                             const EpochEndReplyFrame& reply) {
  auto& fbb = encoder.Start();
  return encoder.Finish(
      wire::CreateEpochEndReply(fbb, reply.partition, reply.epoch, reply.end_offset));
}

Result<PeerIdentity> DecodePeerHello(const wire::Frame& frame) {
  return DecodeIdentity<wire::PeerHello>(frame);
}

Result<PeerIdentity> DecodePeerWelcome(const wire::Frame& frame) {
  return DecodeIdentity<wire::PeerWelcome>(frame);
}

Result<ReplicateFrame> DecodeReplicate(const wire::Frame& frame) {
  Result<const wire::Replicate*> body = BodyAs<wire::Replicate>(frame);
  if (!body.ok()) return body.status();
  const wire::Replicate& r = **body;
  ReplicateFrame part;
  part.partition = r.partition();
  part.epoch = r.epoch();
  part.prev_offset = r.prev_offset();
  part.offset = r.offset();
  part.leader_commit = r.leader_commit();
  part.record = View(r.record());
  part.commit_record = View(r.commit_record());
  uint64_t expected = ReplicateChecksum(part);
  if (expected != r.checksum()) {
    return Status(ErrorCode::kCorruption, std::string(kChecksumMismatch) + " in partition " +
                                              std::to_string(part.partition) + " at offset " +
                                              std::to_string(part.offset) + ": frame says " +
                                              std::to_string(r.checksum()) +
                                              ", content hashes to " + std::to_string(expected));
  }
  return part;
}

bool IsChecksumMismatch(const Status& s) { return s.code() == ErrorCode::kCorruption; }

Result<ReplicaAckFrame> DecodeReplicaAck(const wire::Frame& frame) {
  Result<const wire::ReplicaAck*> body = BodyAs<wire::ReplicaAck>(frame);
  if (!body.ok()) return body.status();
  const wire::ReplicaAck& a = **body;
  if (a.result() > kMaxReplicaAckResult) {
    return Status(ErrorCode::kMalformedFrame,
                  "ReplicaAck result " + std::to_string(a.result()) + " is unknown");
  }
  ReplicaAckFrame ack;
  ack.partition = a.partition();
  ack.epoch = a.epoch();
  ack.durable_offset = a.durable_offset();
  ack.end_offset = a.end_offset();
  ack.result = static_cast<ReplicaAckResult>(a.result());
  return ack;
}

Result<LeaderCommitFrame> DecodeLeaderCommit(const wire::Frame& frame) {
  Result<const wire::LeaderCommit*> body = BodyAs<wire::LeaderCommit>(frame);
  if (!body.ok()) return body.status();
  return LeaderCommitFrame{(*body)->partition(), (*body)->epoch(), (*body)->leader_commit()};
}

std::span<const uint8_t> EncodeSnapshotRequest(FrameEncoder& encoder,
                                               const SnapshotRequestFrame& request) {
  auto& fbb = encoder.Start();
  return encoder.Finish(
      wire::CreateSnapshotRequest(fbb, request.partition, request.epoch, request.snapshot_id));
}

std::span<const uint8_t> EncodeSnapshotChunk(FrameEncoder& encoder,
                                             const SnapshotChunkFrame& chunk) {
  const uint64_t checksum = SnapshotChunkChecksum(chunk);
  auto& fbb = encoder.Start();
  auto data = Bytes(fbb, chunk.data);
  return encoder.Finish(wire::CreateSnapshotChunk(
      fbb, chunk.partition, chunk.epoch, chunk.snapshot_id, chunk.seq,
      static_cast<uint8_t>(chunk.kind), chunk.end_offset, checksum, data));
}

Result<SnapshotRequestFrame> DecodeSnapshotRequest(const wire::Frame& frame) {
  Result<const wire::SnapshotRequest*> body = BodyAs<wire::SnapshotRequest>(frame);
  if (!body.ok()) return body.status();
  return SnapshotRequestFrame{(*body)->partition(), (*body)->epoch(), (*body)->snapshot_id()};
}

Result<SnapshotChunkFrame> DecodeSnapshotChunk(const wire::Frame& frame) {
  Result<const wire::SnapshotChunk*> body = BodyAs<wire::SnapshotChunk>(frame);
  if (!body.ok()) return body.status();
  const wire::SnapshotChunk* c = *body;
  if (c->kind() > kMaxSnapshotChunkKind) {
    return Status(ErrorCode::kMalformedFrame,
                  "SnapshotChunk kind " + std::to_string(c->kind()) + " is unknown");
  }
  SnapshotChunkFrame chunk;
  chunk.partition = c->partition();
  chunk.epoch = c->epoch();
  chunk.snapshot_id = c->snapshot_id();
  chunk.seq = c->seq();
  chunk.kind = static_cast<SnapshotChunkKind>(c->kind());
  chunk.end_offset = c->end_offset();
  chunk.data = View(c->data());
  if (SnapshotChunkChecksum(chunk) != c->checksum()) {
    return Status(ErrorCode::kCorruption, "SnapshotChunk checksum mismatch");
  }
  return chunk;
}

Result<EpochEndRequestFrame> DecodeEpochEndRequest(const wire::Frame& frame) {
  Result<const wire::EpochEndRequest*> body = BodyAs<wire::EpochEndRequest>(frame);
  if (!body.ok()) return body.status();
  return EpochEndRequestFrame{(*body)->partition(), (*body)->epoch()};
}

Result<EpochEndReplyFrame> DecodeEpochEndReply(const wire::Frame& frame) {
  Result<const wire::EpochEndReply*> body = BodyAs<wire::EpochEndReply>(frame);
  if (!body.ok()) return body.status();
  return EpochEndReplyFrame{(*body)->partition(), (*body)->epoch(), (*body)->end_offset()};
}

}  // namespace hermod::proto
