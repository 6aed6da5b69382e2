// The one frame codec of hermod, shared by the broker, libhermod and the tools.
//
// A frame on the wire is a size-prefixed FlatBuffer: a 4-byte little-endian
// length L, then L bytes holding a verified `hermod.wire.Frame` (schemas/
// hermod.fbs). FrameEncoder builds frames; FrameDecoder turns a byte stream
// into verified frames. Neither knows about sockets or connection state. See
// docs/protocol.md for the framing rules.
//
// Every frame FrameEncoder produces is a multiple of 8 bytes long, so in a
// stream of them each frame starts 8-byte aligned when the stream does; the
// decoder verifies such frames in place and copies only misaligned ones
// (FlatBuffers accessors read scalars through aligned pointers).
//
// Thread-compatible: one encoder or decoder per thread or connection.
#ifndef HERMOD_SCHEMAS_FRAME_CODEC_H_
#define HERMOD_SCHEMAS_FRAME_CODEC_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>

#include "hermod/status.h"
#include "hermod_generated.h"

namespace hermod::proto {

// The protocol version spoken by this build, sent in Hello and Welcome.
inline constexpr uint32_t kProtocolVersion = 1;
// Bytes of the length prefix in front of every frame.
inline constexpr size_t kLengthPrefixBytes = 4;
// Default for --max-frame-bytes: the largest frame (length prefix excluded).
inline constexpr uint32_t kDefaultMaxFrameBytes = 16u << 20;
// The smallest frame the verifier can accept: root offset + file identifier.
inline constexpr uint32_t kMinFrameBytes = 8;

// Reads a FlatBuffers string as a view; empty when absent.
inline std::string_view View(const flatbuffers::String* s) {
  return s ? std::string_view(s->data(), s->size()) : std::string_view();
}
// Reads a FlatBuffers byte vector as a view; empty when absent.
inline std::string_view View(const flatbuffers::Vector<uint8_t>* v) {
  return v ? std::string_view(reinterpret_cast<const char*>(v->data()), v->size())
           : std::string_view();
}

// Returns the name of a body type ("Publish"), "Unknown" when out of range.
const char* BodyName(wire::Body type);

// Builds one frame at a time into a reused buffer.
//
//   auto& fbb = encoder.Start();
//   auto body = wire::CreatePing(fbb, nonce);
//   std::span<const uint8_t> bytes = encoder.Finish(body);
//
// The returned bytes stay valid until the next Start(). The buffer keeps its
// capacity between frames, so steady-state encoding does not allocate.
class FrameEncoder {
 public:
  FrameEncoder() : fbb_(1024) {}
  FrameEncoder(const FrameEncoder&) = delete;
  FrameEncoder& operator=(const FrameEncoder&) = delete;

  // Clears the builder and returns it for building one body table.
  flatbuffers::FlatBufferBuilder& Start() {
    fbb_.Clear();
    return fbb_;
  }

  // Wraps `body` in a Frame, finishes it size-prefixed and 8-byte padded.
  template <typename T>
  std::span<const uint8_t> Finish(flatbuffers::Offset<T> body) {
    return FinishUnion(wire::BodyTraits<T>::enum_value, body.Union());
  }

 private:
  std::span<const uint8_t> FinishUnion(wire::Body type, flatbuffers::Offset<void> body);

  flatbuffers::FlatBufferBuilder fbb_;
};

// Turns a stream of bytes into verified frames.
//
// Feed() may be called with any split of the stream; a frame cut across two
// calls is kept in a buffer sized for exactly that frame and freed once the
// frame is complete, so an idle decoder holds no heap memory.
class FrameDecoder {
 public:
  explicit FrameDecoder(uint32_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}
  FrameDecoder(const FrameDecoder&) = delete;
  FrameDecoder& operator=(const FrameDecoder&) = delete;

  // Calls on_frame(const wire::Frame&) for every complete frame in data, in
  // order. on_frame returns false to stop (its owner is closing); then Feed
  // returns OK and the rest of data is dropped. Returns kFrameTooLarge,
  // kMalformedFrame or kUnknownFrame on the first bad frame; the decoder is
  // then unusable and the connection must be closed.
  //
  // The frame passed to on_frame is valid only during the call.
  template <typename OnFrame>
  Status Feed(const uint8_t* data, size_t size, OnFrame&& on_frame);

  // Where the rest of a partly received frame can be read to directly, so
  // that large frames are not copied twice. Empty when no frame is partial.
  std::span<uint8_t> PartialSpace();
  // Records that n bytes were written into PartialSpace().
  // Calls on_frame as Feed() does when the frame completes.
  template <typename OnFrame>
  Status CommitPartial(size_t n, OnFrame&& on_frame);

  // Bytes held for an unfinished frame.
  size_t buffered() const { return partial_have_ + head_have_; }

  // Verifies one complete size-prefixed frame. REQUIRES: data is 8-byte
  // aligned and size is the length prefix + 4. Returns the frame, or a status
  // (kMalformedFrame, kUnknownFrame) when it is not a valid frame.
  static Result<const wire::Frame*> Verify(const uint8_t* data, size_t size);

 private:
  // Reads the length prefix at p; returns the whole frame size or an error.
  Result<size_t> FrameSize(const uint8_t* p) const;
  // Verifies `size` bytes at p, copying them to aligned memory when needed.
  Result<const wire::Frame*> VerifyAnywhere(const uint8_t* p, size_t size,
                                            std::unique_ptr<uint64_t[]>& copy);

  uint32_t max_frame_bytes_;
  bool failed_ = false;
  uint8_t head_[kLengthPrefixBytes] = {};  // a length prefix cut by a read
  uint32_t head_have_ = 0;
  std::unique_ptr<uint64_t[]> partial_;  // the unfinished frame, 8-aligned
  uint32_t partial_size_ = 0;
  uint32_t partial_have_ = 0;
};

template <typename OnFrame>
Status FrameDecoder::Feed(const uint8_t* data, size_t size, OnFrame&& on_frame) {
  if (failed_) return Status(ErrorCode::kMalformedFrame, "decoder already failed");
  while (size > 0) {
    if (partial_) {
      std::span<uint8_t> space = PartialSpace();
      size_t n = std::min(space.size(), size);
      std::memcpy(space.data(), data, n);
      data += n;
      size -= n;
      bool go_on = true;
      Status s = CommitPartial(n, [&](const wire::Frame& f) { return go_on = on_frame(f); });
      if (!s.ok() || !go_on) return s;
      continue;
    }
    if (head_have_ > 0 || size < kLengthPrefixBytes) {
      size_t n = std::min<size_t>(kLengthPrefixBytes - head_have_, size);
      std::memcpy(head_ + head_have_, data, n);
      head_have_ += n;
      data += n;
      size -= n;
      if (head_have_ < kLengthPrefixBytes) return Status::OK();
      Result<size_t> frame_size = FrameSize(head_);
      if (!frame_size.ok()) {
        failed_ = true;
        return frame_size.status();
      }
      partial_size_ = static_cast<uint32_t>(*frame_size);
      partial_ = std::make_unique<uint64_t[]>((partial_size_ + 7) / 8);
      std::memcpy(partial_.get(), head_, kLengthPrefixBytes);
      partial_have_ = kLengthPrefixBytes;
      head_have_ = 0;
      continue;
    }
    Result<size_t> frame_size = FrameSize(data);
    if (!frame_size.ok()) {
      failed_ = true;
      return frame_size.status();
    }
    if (*frame_size > size) {  // the frame continues in a later read
      partial_size_ = static_cast<uint32_t>(*frame_size);
      partial_ = std::make_unique<uint64_t[]>((partial_size_ + 7) / 8);
      std::memcpy(partial_.get(), data, size);
      partial_have_ = static_cast<uint32_t>(size);
      return Status::OK();
    }
    std::unique_ptr<uint64_t[]> copy;
    Result<const wire::Frame*> frame = VerifyAnywhere(data, *frame_size, copy);
    if (!frame.ok()) {
      failed_ = true;
      return frame.status();
    }
    if (!on_frame(**frame)) return Status::OK();
    data += *frame_size;
    size -= *frame_size;
  }
  return Status::OK();
}

template <typename OnFrame>
Status FrameDecoder::CommitPartial(size_t n, OnFrame&& on_frame) {
  partial_have_ += static_cast<uint32_t>(n);
  if (partial_have_ < partial_size_) return Status::OK();
  // Move the buffer out first: on_frame may destroy the decoder's owner.
  std::unique_ptr<uint64_t[]> frame_bytes = std::move(partial_);
  size_t size = partial_size_;
  partial_size_ = partial_have_ = 0;
  Result<const wire::Frame*> frame =
      Verify(reinterpret_cast<const uint8_t*>(frame_bytes.get()), size);
  if (!frame.ok()) {
    failed_ = true;
    return frame.status();
  }
  on_frame(**frame);
  return Status::OK();
}

}  // namespace hermod::proto

#endif  // HERMOD_SCHEMAS_FRAME_CODEC_H_
