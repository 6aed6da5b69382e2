// Fuzz target: bytes from a client, as the broker's connections decode them.
// The first byte picks a chunk size, so frames arrive split at every
// boundary (the length prefix, the body, several frames in one read).
#include <cstddef>
#include <cstdint>

#include "frame_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 64;
  ++data;
  --size;
  hermod::proto::FrameDecoder decoder(1 << 16);
  size_t frames = 0;
  for (size_t at = 0; at < size;) {
    const size_t n = size - at < chunk ? size - at : chunk;
    hermod::Status s = decoder.Feed(data + at, n, [&](const hermod::wire::Frame& frame) {
      // What a handler reads first: the type, and its name for errors.
      frames += hermod::proto::BodyName(frame.body_type())[0] != '\0';
      return true;
    });
    if (!s.ok()) break;  // the connection would be closed
    at += n;
  }
  return frames > size ? 1 : 0;  // never: a frame takes at least 4 bytes
}
