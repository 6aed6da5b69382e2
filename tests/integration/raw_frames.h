// Frames for tests that talk to hermodd over raw sockets (raw_socket.h): a
// Hello to send, and what a byte stream from the broker held. Header-only;
// the test links hermod_proto. Any thread.
#ifndef HERMOD_TESTS_INTEGRATION_RAW_FRAMES_H_
#define HERMOD_TESTS_INTEGRATION_RAW_FRAMES_H_

#include <gtest/gtest.h>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "frame_codec.h"

namespace hermod::test {

inline std::string AsString(std::span<const uint8_t> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// A Hello of this protocol version, without an auth token.
inline std::string HelloFrame(std::string_view client_name = "raw") {
  proto::FrameEncoder encoder;
  auto& fbb = encoder.Start();
  auto name = fbb.CreateString(client_name);
  return AsString(encoder.Finish(wire::CreateHello(fbb, proto::kProtocolVersion, name)));
}

// What a raw connection received from the broker.
struct Received {
  std::vector<wire::Body> types;         // every frame, in order
  std::optional<uint32_t> heartbeat_ms;  // from a Welcome
  std::optional<ErrorCode> error_code;   // from the last Error
  bool error_fatal = false;
  std::string error_message;
};

// Decodes a byte stream from the broker; it must decode. With `complete`,
// it must also hold only whole frames (not so for a read that may have
// stopped inside one).
inline Received Decode(const std::string& bytes, bool complete = true) {
  Received out;
  proto::FrameDecoder decoder(proto::kDefaultMaxFrameBytes);
  Status s = decoder.Feed(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                          [&](const wire::Frame& frame) {
                            out.types.push_back(frame.body_type());
                            if (const wire::Welcome* w = frame.body_as_Welcome()) {
                              out.heartbeat_ms = w->heartbeat_ms();
                            }
                            if (const wire::Error* e = frame.body_as_Error()) {
                              out.error_code = static_cast<ErrorCode>(e->code());
                              out.error_fatal = e->fatal();
                              out.error_message = std::string(proto::View(e->message()));
                            }
                            return true;
                          });
  EXPECT_TRUE(s.ok()) << "the broker sent bytes that do not decode: " << s.ToString();
  if (complete) {
    EXPECT_EQ(decoder.buffered(), 0u) << "the broker's output ends in a partial frame";
  }
  return out;
}

}  // namespace hermod::test

#endif  // HERMOD_TESTS_INTEGRATION_RAW_FRAMES_H_
