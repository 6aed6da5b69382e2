// Peer frames: what brokers of a cluster send each other (PeerHello,
// PeerWelcome, Replicate, ReplicaAck, LeaderCommit, EpochEndRequest,
// EpochEndReply, SnapshotRequest, SnapshotChunk), encoded and decoded with the one frame codec
// (frame_codec.h). See docs/protocol.md, "Peer protocol".
//
// Encode* build one frame with a FrameEncoder and return its bytes, valid
// until the encoder's next Start(). Decode* read a frame the FrameDecoder
// has verified; the string views they return point into that frame (no
// copy) and are valid only while the frame is.
#ifndef HERMOD_SCHEMAS_PEER_FRAMES_H_
#define HERMOD_SCHEMAS_PEER_FRAMES_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "frame_codec.h"
#include "hermod/status.h"

namespace hermod::proto {

// The peer protocol version spoken by this build, sent in PeerHello and
// PeerWelcome.
inline constexpr uint32_t kPeerProtocolVersion = 1;

// The default bound on one peer frame: a Replicate carries a whole storage
// batch, larger than any client frame (kDefaultMaxFrameBytes).
inline constexpr uint32_t kDefaultPeerMaxFrameBytes = 64u << 20;

// PeerHello (dialer) and PeerWelcome (acceptor) carry the same fields.
struct PeerIdentity {
  std::string_view cluster;
  std::string_view node_id;
  uint64_t incarnation = 0;
  uint32_t version = kPeerProtocolVersion;
};

// One part of a partition's log, (prev_offset, offset], shipped by a leader.
struct ReplicateFrame {
  uint32_t partition = 0;
  uint64_t epoch = 0;
  uint64_t prev_offset = 0;
  uint64_t offset = 0;
  uint64_t leader_commit = 0;  // not covered by the checksum
  std::string_view record;
  std::string_view commit_record;
};

// ReplicaAck.result. The first four are core::ReplicateResult in order.
enum class ReplicaAckResult : uint8_t {
  kStaged = 0,      // staged (or ok): durable when durable_offset says so
  kDuplicate = 1,   // held already
  kStaleEpoch = 2,  // the leader's epoch is older than one this node has seen
  kGap = 3,         // prev_offset is not this node's end_offset
  kChecksumMismatch = 4,
};
inline constexpr uint8_t kMaxReplicaAckResult = 4;

struct ReplicaAckFrame {
  uint32_t partition = 0;
  uint64_t epoch = 0;
  uint64_t durable_offset = 0;
  uint64_t end_offset = 0;
  ReplicaAckResult result = ReplicaAckResult::kStaged;
};

struct LeaderCommitFrame {
  uint32_t partition = 0;
  uint64_t epoch = 0;
  uint64_t leader_commit = 0;
};

struct EpochEndRequestFrame {
  uint32_t partition = 0;
  uint64_t epoch = 0;
};

struct EpochEndReplyFrame {
  uint32_t partition = 0;
  uint64_t epoch = 0;
  uint64_t end_offset = 0;
};

struct SnapshotRequestFrame {
  uint32_t partition = 0;
  uint64_t epoch = 0;
  uint64_t snapshot_id = 0;
};

enum class SnapshotChunkKind : uint8_t {
  kRows = 0,       // store rows of the partition
  kLogRecord = 1,  // a record of its log not yet applied at the leader
  kEnd = 2,        // end_offset; data: the epochs
  kNeeded = 3,     // the follower must ask for a snapshot
};
inline constexpr uint8_t kMaxSnapshotChunkKind = 3;

struct SnapshotChunkFrame {
  uint32_t partition = 0;
  uint64_t epoch = 0;
  uint64_t snapshot_id = 0;
  uint64_t seq = 0;
  SnapshotChunkKind kind = SnapshotChunkKind::kRows;
  uint64_t end_offset = 0;
  std::string_view data;
};

// XXH64, seed 0, over: partition (u32 LE), epoch, snapshot_id, seq (u64 LE
// each), kind (u8), end_offset (u64 LE), data length (u32 LE), data.
uint64_t SnapshotChunkChecksum(const SnapshotChunkFrame& chunk);

struct ForwardPublishFrame {
  uint32_t partition = 0;
  uint64_t group_id = 0;
  uint64_t job_id = 0;
  uint32_t chunk = 0;
  std::string_view envelope;
  std::vector<std::string> names;
};

// XXH64, seed 0, over: partition (u32 LE), group_id, job_id (u64 LE each),
// chunk (u32 LE), envelope length (u32 LE), envelope, then per name its
// length (u16 LE) and bytes.
uint64_t ForwardPublishChecksum(const ForwardPublishFrame& forward);

struct ForwardAckFrame {
  uint32_t partition = 0;
  uint64_t job_id = 0;
  uint32_t chunk = 0;
  ErrorCode code = ErrorCode::kOk;
  std::string_view message;
};

// XXH64, seed 0, over: partition (u32 LE), epoch, prev_offset, offset (u64
// LE each), record length (u32 LE), record, commit_record length (u32 LE),
// commit_record. REQUIRES: record and commit_record are below 4 GiB.
uint64_t ReplicateChecksum(uint32_t partition, uint64_t epoch, uint64_t prev_offset,
                           uint64_t offset, std::string_view record,
                           std::string_view commit_record);
inline uint64_t ReplicateChecksum(const ReplicateFrame& r) {
  return ReplicateChecksum(r.partition, r.epoch, r.prev_offset, r.offset, r.record,
                           r.commit_record);
}

std::span<const uint8_t> EncodePeerHello(FrameEncoder& encoder, const PeerIdentity& hello);
std::span<const uint8_t> EncodePeerWelcome(FrameEncoder& encoder, const PeerIdentity& welcome);
// Computes the checksum and puts it in the frame.
std::span<const uint8_t> EncodeReplicate(FrameEncoder& encoder, const ReplicateFrame& part);
std::span<const uint8_t> EncodeReplicaAck(FrameEncoder& encoder, const ReplicaAckFrame& ack);
std::span<const uint8_t> EncodeLeaderCommit(FrameEncoder& encoder, const LeaderCommitFrame& commit);
std::span<const uint8_t> EncodeEpochEndRequest(FrameEncoder& encoder,
                                               const EpochEndRequestFrame& request);
std::span<const uint8_t> EncodeEpochEndReply(FrameEncoder& encoder,
                                             const EpochEndReplyFrame& reply);
std::span<const uint8_t> EncodeSnapshotRequest(FrameEncoder& encoder,
                                               const SnapshotRequestFrame& request);
// Computes the checksum and puts it in the frame.
std::span<const uint8_t> EncodeSnapshotChunk(FrameEncoder& encoder,
                                             const SnapshotChunkFrame& chunk);

// Computes the checksum and puts it in the frame.
std::span<const uint8_t> EncodeForwardPublish(FrameEncoder& encoder,
                                              const ForwardPublishFrame& forward);
std::span<const uint8_t> EncodeForwardAck(FrameEncoder& encoder, const ForwardAckFrame& ack);

// Every Decode* returns kProtocolViolation when the frame is of another type.
Result<PeerIdentity> DecodePeerHello(const wire::Frame& frame);
Result<PeerIdentity> DecodePeerWelcome(const wire::Frame& frame);
// Verifies the checksum: kCorruption when it differs, and then no view of
// the payload is handed out (the follower answers
// ReplicaAckResult::kChecksumMismatch; IsChecksumMismatch tells it apart).
Result<ReplicateFrame> DecodeReplicate(const wire::Frame& frame);
// kMalformedFrame when result is above kMaxReplicaAckResult.
Result<ReplicaAckFrame> DecodeReplicaAck(const wire::Frame& frame);
Result<LeaderCommitFrame> DecodeLeaderCommit(const wire::Frame& frame);
Result<EpochEndRequestFrame> DecodeEpochEndRequest(const wire::Frame& frame);
Result<EpochEndReplyFrame> DecodeEpochEndReply(const wire::Frame& frame);
Result<SnapshotRequestFrame> DecodeSnapshotRequest(const wire::Frame& frame);
// kCorruption when the checksum differs (no view of the data is handed
// out); kMalformedFrame when kind is above kMaxSnapshotChunkKind.
Result<SnapshotChunkFrame> DecodeSnapshotChunk(const wire::Frame& frame);

// kCorruption when the checksum differs.
Result<ForwardPublishFrame> DecodeForwardPublish(const wire::Frame& frame);
Result<ForwardAckFrame> DecodeForwardAck(const wire::Frame& frame);

// True when `s` is DecodeReplicate's checksum mismatch.
bool IsChecksumMismatch(const Status& s);

// Test only: encodes `part` with the given checksum instead of its own.
std::span<const uint8_t> TEST_EncodeReplicateWithChecksum(FrameEncoder& encoder,
                                                          const ReplicateFrame& part,
                                                          uint64_t checksum);

}  // namespace hermod::proto

#endif  // HERMOD_SCHEMAS_PEER_FRAMES_H_
