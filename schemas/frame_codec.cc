#include "frame_codec.h"

#include <cstring>
#include <string>

namespace hermod::proto {

namespace {

// Bounds on the verifier's work per frame: our frames are two tables deep
// (Frame -> body -> headers), so anything deeper or wider is hostile.
constexpr flatbuffers::uoffset_t kMaxDepth = 16;
constexpr flatbuffers::uoffset_t kMaxTables = 1 << 16;

uint32_t ReadLittleEndian32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

}  // namespace

const char* BodyName(wire::Body type) {
  if (type < wire::Body::MIN || type > wire::Body::MAX) return "Unknown";
  return wire::EnumNameBody(type);
}

std::span<const uint8_t> FrameEncoder::FinishUnion(wire::Body type,
                                                   flatbuffers::Offset<void> body) {
  wire::FrameBuilder frame(fbb_);
  frame.add_body(body);
  frame.add_body_type(type);
  auto root = frame.Finish();
  // Pads the finished frame to a multiple of 8 bytes: see the header comment.
  fbb_.TrackMinAlign(8);
  wire::FinishSizePrefixedFrameBuffer(fbb_, root);
  return {fbb_.GetBufferPointer(), fbb_.GetSize()};
}

std::span<uint8_t> FrameDecoder::PartialSpace() {
  if (!partial_) return {};
  return {reinterpret_cast<uint8_t*>(partial_.get()) + partial_have_,
          partial_size_ - partial_have_};
}

Result<size_t> FrameDecoder::FrameSize(const uint8_t* p) const {
  uint32_t length = ReadLittleEndian32(p);
  if (length > max_frame_bytes_) {
    return Status(ErrorCode::kFrameTooLarge, "frame of " + std::to_string(length) +
                                                 " bytes is above max_frame_bytes " +
                                                 std::to_string(max_frame_bytes_));
  }
  if (length < kMinFrameBytes) {
    return Status(ErrorCode::kMalformedFrame,
                  "frame of " + std::to_string(length) + " bytes is too short");
  }
  return size_t{length} + kLengthPrefixBytes;
}

Result<const wire::Frame*> FrameDecoder::Verify(const uint8_t* data, size_t size) {
  flatbuffers::Verifier::Options options;
  options.max_depth = kMaxDepth;
  options.max_tables = kMaxTables;
  flatbuffers::Verifier verifier(data, size, options);
  if (!wire::VerifySizePrefixedFrameBuffer(verifier)) {
    return Status(ErrorCode::kMalformedFrame, "frame failed verification");
  }
  const wire::Frame* frame = wire::GetSizePrefixedFrame(data);
  // The verifier accepts union members it does not know (a newer schema's),
  // so the type is checked here.
  wire::Body type = frame->body_type();
  if (type == wire::Body::NONE || type > wire::Body::MAX) {
    return Status(ErrorCode::kUnknownFrame,
                  "unknown frame type " + std::to_string(static_cast<int>(type)));
  }
  return frame;
}

Result<const wire::Frame*> FrameDecoder::VerifyAnywhere(const uint8_t* p, size_t size,
                                                        std::unique_ptr<uint64_t[]>& copy) {
  if (reinterpret_cast<uintptr_t>(p) % 8 != 0) {
    copy = std::make_unique<uint64_t[]>((size + 7) / 8);
    std::memcpy(copy.get(), p, size);
    p = reinterpret_cast<const uint8_t*>(copy.get());
  }
  return Verify(p, size);
}

}  // namespace hermod::proto
