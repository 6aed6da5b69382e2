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

uint64_t ForwardPublishChecksum(const ForwardPublishFrame& forward) {
  HERMOD_CHECK(forward.envelope.size() <= UINT32_MAX);
  XXH64_state_t state;
  XXH64_reset(&state, 0);
  uint8_t header[4 + 8 + 8 + 4 + 4];
  PutLittleEndian32(header, forward.partition);
  PutLittleEndian64(header + 4, forward.group_id);
  PutLittleEndian64(header + 12, forward.job_id);
  PutLittleEndian32(header + 20, forward.chunk);
  PutLittleEndian32(header + 24, static_cast<uint32_t>(forward.envelope.size()));
  XXH64_update(&state, header, sizeof(header));
  XXH64_update(&state, forward.envelope.data(), forward.envelope.size());
  for (const std::string& name : forward.names) {
    uint8_t len[2] = {static_cast<uint8_t>(name.size()), static_cast<uint8_t>(name.size() >> 8)};
    XXH64_update(&state, len, sizeof(len));
    XXH64_update(&state, name.data(), name.size());
  }
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

std::span<const uint8_t> EncodeForwardPublish(FrameEncoder& encoder,
                                              const ForwardPublishFrame& forward) {
  const uint64_t checksum = ForwardPublishChecksum(forward);
  auto& fbb = encoder.Start();
  auto envelope = Bytes(fbb, forward.envelope);
  auto names = fbb.CreateVectorOfStrings(forward.names);
  return encoder.Finish(wire::CreateForwardPublish(fbb, forward.partition, forward.group_id,
                                                   forward.job_id, forward.chunk, envelope, names,
                                                   checksum));
}

std::span<const uint8_t> EncodeForwardAck(FrameEncoder& encoder, const ForwardAckFrame& ack) {
  auto& fbb = encoder.Start();
  auto message = fbb.CreateString(ack.message.data(), ack.message.size());
  return encoder.Finish(wire::CreateForwardAck(fbb, ack.partition, ack.job_id, ack.chunk,
                                               static_cast<uint16_t>(ack.code), message));
}

Result<ForwardPublishFrame> DecodeForwardPublish(const wire::Frame& frame) {
  Result<const wire::ForwardPublish*> body = BodyAs<wire::ForwardPublish>(frame);
  if (!body.ok()) return body.status();
  const wire::ForwardPublish* f = *body;
  ForwardPublishFrame forward;
  forward.partition = f->partition();
  forward.group_id = f->group_id();
  forward.job_id = f->job_id();
  forward.chunk = f->chunk();
  forward.envelope = View(f->envelope());
  if (f->names() != nullptr) {
    forward.names.reserve(f->names()->size());
    for (const flatbuffers::String* name : *f->names()) {
      if (name == nullptr || name->size() > UINT16_MAX) {
        return Status(ErrorCode::kMalformedFrame, "ForwardPublish has a bad member name");
      }
      forward.names.emplace_back(name->string_view());
    }
  }
  if (ForwardPublishChecksum(forward) != f->checksum()) {
    return Status(ErrorCode::kCorruption, "ForwardPublish checksum mismatch");
  }
  return forward;
}

Result<ForwardAckFrame> DecodeForwardAck(const wire::Frame& frame) {
  Result<const wire::ForwardAck*> body = BodyAs<wire::ForwardAck>(frame);
  if (!body.ok()) return body.status();
  const wire::ForwardAck* a = *body;
  ForwardAckFrame ack;
  ack.partition = a->partition();
  ack.job_id = a->job_id();
  ack.chunk = a->chunk();
  ack.code = static_cast<ErrorCode>(a->code());
  ack.message = View(a->message());
  return ack;
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
