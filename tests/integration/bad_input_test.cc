// Bad input over raw sockets: every protocol violation gets one Error frame
// with the right code and the connection closed, and nothing else changes:
// a libhermod client on the same broker keeps working and its messages stay.
#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "broker_process.h"
#include "delivery_log.h"
#include "frame_codec.h"
#include "hermod/client.h"
#include "raw_frames.h"
#include "raw_socket.h"
#include "temp_dir.h"

namespace hermod {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::AsString;
using test::BrokerProcess;
using test::Decode;
using test::HelloFrame;
using test::RawSocket;
using test::Received;

constexpr milliseconds kWait = seconds(10);
constexpr uint32_t kMaxFrameBytes = 64 * 1024;

std::string PublishFrame() {
  proto::FrameEncoder encoder;
  auto& fbb = encoder.Start();
  auto queue = fbb.CreateString("bad.input");
  static constexpr uint8_t kPayload[] = {'s', 'n', 'e', 'a', 'k', 'y'};
  auto payload = fbb.CreateVector(kPayload, sizeof(kPayload));
  return AsString(encoder.Finish(wire::CreatePublish(fbb, 1, queue, payload)));
}

// A well-formed, verifiable Frame whose union type is one this schema does
// not have (as a newer client might send).
std::string UnknownTypeFrame() {
  flatbuffers::FlatBufferBuilder fbb;
  auto ping = wire::CreatePing(fbb, 7);
  const auto start = fbb.StartTable();
  fbb.AddOffset(wire::Frame::VT_BODY, ping);
  fbb.AddElement<uint8_t>(wire::Frame::VT_BODY_TYPE,
                          static_cast<uint8_t>(static_cast<uint8_t>(wire::Body::MAX) + 10), 0);
  flatbuffers::Offset<wire::Frame> frame(fbb.EndTable(start));
  wire::FinishSizePrefixedFrameBuffer(fbb, frame);
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BrokerProcess::Options broker_options;
    broker_options.data_dir = dir_.Join("data");
    broker_options.extra_args = {"--max-frame-bytes", std::to_string(kMaxFrameBytes)};
    broker_ = std::make_unique<BrokerProcess>(broker_options);
    Status s = broker_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    ClientOptions options;
    options.server = broker_->address();
    Result<std::unique_ptr<Client>> client = Client::Connect(options);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    good_ = std::move(*client);
    EXPECT_EQ(good_->server_info().max_frame_bytes, kMaxFrameBytes);
    PublishResult before = good_->Publish("bad.input", "before").get();
    ASSERT_TRUE(before.status.ok()) << before.status.ToString();
  }

  void TearDown() override {
    if (!good_) return;
    // The good client still works, and what it published is still there.
    ASSERT_TRUE(good_->connected());
    PublishResult after = good_->Publish("bad.input", "after").get();
    ASSERT_TRUE(after.status.ok()) << after.status.ToString();
    test::DeliveryLog log;
    ASSERT_TRUE(good_->Subscribe("bad.input", {}, log.Handler()).ok());
    ASSERT_TRUE(log.WaitForCount(2, kWait));
    std::vector<Delivery> got = log.Snapshot();
    EXPECT_EQ(got[0].payload, "before");
    EXPECT_EQ(got[1].payload, "after");
  }

  // Opens a raw connection, optionally completes the handshake, sends
  // `bytes`, and returns everything received until the broker closed.
  Received SendAndCollect(const std::string& bytes, bool handshake) {
    Result<std::unique_ptr<RawSocket>> socket = RawSocket::Connect(broker_->address());
    EXPECT_TRUE(socket.ok()) << socket.status().ToString();
    if (!socket.ok()) return {};
    std::string received;
    if (handshake) {
      EXPECT_TRUE((*socket)->Write(HelloFrame()).ok());
      // Read until the Welcome frame is complete.
      const auto deadline = std::chrono::steady_clock::now() + kWait;
      while (Decode(received, /*complete=*/false).types.empty() &&
             std::chrono::steady_clock::now() < deadline) {
        Result<std::string> chunk = (*socket)->Read(kWait);
        if (!chunk.ok() || chunk->empty()) break;
        received += *chunk;
      }
      Received welcome = Decode(received);
      EXPECT_EQ(welcome.types, std::vector<wire::Body>{wire::Body::Welcome});
    }
    EXPECT_TRUE((*socket)->Write(bytes).ok());
    Result<std::string> rest = (*socket)->ReadUntilClosed(kWait);
    EXPECT_TRUE(rest.ok()) << "the broker did not close the connection: "
                           << rest.status().ToString();
    if (rest.ok()) received += *rest;
    return Decode(received);
  }

  test::TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<Client> good_;
};

TEST_F(BadInputTest, LengthAboveMaxFrameBytesIsRefused) {
  const uint32_t length = kMaxFrameBytes + 1;
  std::string prefix(4, '\0');
  for (int i = 0; i < 4; ++i) prefix[i] = static_cast<char>((length >> (8 * i)) & 0xFF);
  Received got = SendAndCollect(prefix, /*handshake=*/true);
  ASSERT_TRUE(got.error_code.has_value()) << "no Error frame";
  EXPECT_EQ(*got.error_code, ErrorCode::kFrameTooLarge) << got.error_message;
  EXPECT_TRUE(got.error_fatal);
  EXPECT_EQ(got.types.back(), wire::Body::Error) << "nothing may follow the Error frame";
}

TEST_F(BadInputTest, BytesFailingTheVerifierAreRefused) {
  std::string frame(4 + 24, '\xFF');
  frame[0] = 24;  // length 24, little-endian
  frame[1] = frame[2] = frame[3] = 0;
  Received got = SendAndCollect(frame, /*handshake=*/true);
  ASSERT_TRUE(got.error_code.has_value()) << "no Error frame";
  EXPECT_EQ(*got.error_code, ErrorCode::kMalformedFrame) << got.error_message;
  EXPECT_TRUE(got.error_fatal);
  EXPECT_EQ(got.types.back(), wire::Body::Error);
}

TEST_F(BadInputTest, UnknownFrameTypeIsRefused) {
  const std::string frame = UnknownTypeFrame();
  // The frame itself passes the verifier: only its type is unknown.
  std::vector<uint64_t> aligned((frame.size() + 7) / 8);
  std::memcpy(aligned.data(), frame.data(), frame.size());
  Result<const wire::Frame*> verified =
      proto::FrameDecoder::Verify(reinterpret_cast<const uint8_t*>(aligned.data()), frame.size());
  ASSERT_EQ(verified.status().code(), ErrorCode::kUnknownFrame) << verified.status().ToString();
  Received got = SendAndCollect(frame, /*handshake=*/true);
  ASSERT_TRUE(got.error_code.has_value()) << "no Error frame";
  EXPECT_EQ(*got.error_code, ErrorCode::kUnknownFrame) << got.error_message;
  EXPECT_TRUE(got.error_fatal);
  EXPECT_EQ(got.types.back(), wire::Body::Error);
}

TEST_F(BadInputTest, PublishBeforeHelloIsAProtocolViolation) {
  Received got = SendAndCollect(PublishFrame(), /*handshake=*/false);
  ASSERT_TRUE(got.error_code.has_value()) << "no Error frame";
  EXPECT_EQ(*got.error_code, ErrorCode::kProtocolViolation) << got.error_message;
  EXPECT_TRUE(got.error_fatal);
  EXPECT_EQ(got.types, std::vector<wire::Body>{wire::Body::Error});
}

}  // namespace
}  // namespace hermod
