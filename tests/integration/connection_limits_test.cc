// Limits on connections. Heartbeats (--heartbeat-ms, Welcome.heartbeat_ms):
// the broker closes a connection that stays silent for two periods, so a
// peer that vanished without a FIN stops holding its deliveries; libhermod
// pings each period, so an idle client stays connected, and treats two
// silent periods from the broker as a broken connection and reconnects.
// --max-connections: one connection too many is told so and closed.
#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "admin_test_util.h"
#include "broker_process.h"
#include "frame_codec.h"
#include "hermod/client.h"
#include "raw_frames.h"
#include "raw_socket.h"
#include "scripted_broker.h"
#include "temp_dir.h"

namespace hermod::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr uint32_t kHeartbeatMs = 100;

class HeartbeatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BrokerProcess::Options options;
    options.data_dir = dir_.Join("data");
    options.extra_args = {"--heartbeat-ms", std::to_string(kHeartbeatMs)};
    broker_ = std::make_unique<BrokerProcess>(options);
    ASSERT_TRUE(broker_->Start().ok());
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
};

TEST_F(HeartbeatTest, ASilentConnectionIsClosedAfterTwoPeriods) {
  // Greeted, then silent.
  Result<std::unique_ptr<RawSocket>> greeted = RawSocket::Connect(broker_->address());
  ASSERT_TRUE(greeted.ok()) << greeted.status().ToString();
  ASSERT_TRUE((*greeted)->Write(HelloFrame()).ok());
  // Never a word, not even Hello.
  Result<std::unique_ptr<RawSocket>> mute = RawSocket::Connect(broker_->address());
  ASSERT_TRUE(mute.ok()) << mute.status().ToString();

  for (RawSocket* socket : {greeted->get(), mute->get()}) {
    auto start = std::chrono::steady_clock::now();
    Result<std::string> bytes = socket->ReadUntilClosed(seconds(10));
    ASSERT_TRUE(bytes.ok()) << "the broker must close it: " << bytes.status().ToString();
    auto waited = std::chrono::steady_clock::now() - start;
    Received frames = Decode(*bytes, /*complete=*/false);
    ASSERT_TRUE(frames.error_code.has_value());
    EXPECT_EQ(*frames.error_code, ErrorCode::kTimeout);
    EXPECT_TRUE(frames.error_fatal);
    // Not before two silent periods (the timer's period adds up to one).
    EXPECT_GE(waited, milliseconds(socket == greeted->get() ? 2 * kHeartbeatMs - 20 : 0));
    if (socket == greeted->get()) {
      ASSERT_TRUE(frames.heartbeat_ms.has_value());
      EXPECT_EQ(*frames.heartbeat_ms, kHeartbeatMs);
    }
  }
  std::unique_ptr<Client> c = ConnectClient(broker_->address());
  ASSERT_NE(c, nullptr);
  EXPECT_GE(StatOf(*c, "heartbeat_timeouts_total"), 2);
}

TEST_F(HeartbeatTest, AnIdleClientStaysConnectedAndNoticesAStoppedBroker) {
  StateLog log;
  ClientOptions options;
  options.on_state_change = log.Callback();
  options.reconnect_initial_delay = milliseconds(50);
  options.reconnect_max_delay = milliseconds(200);
  std::unique_ptr<Client> c = ConnectClient(broker_->address(), options);
  ASSERT_NE(c, nullptr);
  // Ten periods with nothing to say: its Pings keep it open.
  EXPECT_FALSE(log.WaitFor(ConnectionState::kReconnecting, milliseconds(10 * kHeartbeatMs)));
  EXPECT_EQ(StatOf(*c, "heartbeat_timeouts_total"), 0);

  // A broker that stops answering (SIGSTOP: the socket stays open) is a
  // broken connection after two periods; once it runs again, the client
  // is back.
  broker_->Kill(SIGSTOP);
  bool noticed = log.WaitFor(ConnectionState::kReconnecting, seconds(5));
  broker_->Kill(SIGCONT);
  ASSERT_TRUE(noticed) << "the client must notice a silent broker";
  ASSERT_TRUE(log.WaitFor(ConnectionState::kConnected, seconds(10), 2));
  PublishResult after = c->Publish("hb", "after").get();
  EXPECT_TRUE(after.status.ok()) << after.status.ToString();
}

TEST(ConnectionLimitTest, OneConnectionTooManyIsToldWhyAndTheNextFits) {
  TempDir dir;
  BrokerProcess broker({.data_dir = dir.Join("data"), .extra_args = {"--max-connections", "2"}});
  ASSERT_TRUE(broker.Start().ok());
  std::unique_ptr<Client> first = ConnectClient(broker.address());
  std::unique_ptr<Client> second = ConnectClient(broker.address());
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);

  ClientOptions third_options;
  third_options.server = broker.address();
  Result<std::unique_ptr<Client>> third = Client::Connect(third_options);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), ErrorCode::kLimitExceeded) << third.status().ToString();
  EXPECT_NE(third.status().message().find("--max-connections"), std::string::npos)
      << third.status().ToString();
  EXPECT_EQ(StatOf(*first, "connections_refused_total"), 1);

  // Room again once one leaves (its close reaches the broker a moment later).
  second.reset();
  std::unique_ptr<Client> again;
  ASSERT_TRUE(PollUntil(
      [&] {
        Result<std::unique_ptr<Client>> c = Client::Connect(third_options);
        if (c.ok()) again = std::move(*c);
        return again != nullptr;
      },
      seconds(10), milliseconds(50)));
  EXPECT_TRUE(again->Publish("limits", "fits").get().status.ok());
}

TEST(ConnectionLimitTest, OneAddressCannotTakeMoreThanItsShare) {
  TempDir dir;
  BrokerProcess broker(
      {.data_dir = dir.Join("data"), .extra_args = {"--max-connections-per-ip", "2"}});
  ASSERT_TRUE(broker.Start().ok());
  // Hello, and what the broker answers: Welcome, or an Error and a close.
  std::vector<std::unique_ptr<RawSocket>> sockets;
  auto greet = [&](const std::string& source) -> Received {
    Result<std::unique_ptr<RawSocket>> s = RawSocket::ConnectFrom(broker.address(), source);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (!s.ok()) return Received();
    sockets.push_back(std::move(*s));
    EXPECT_TRUE(sockets.back()->Write(HelloFrame()).ok());
    Result<std::string> answer = sockets.back()->Read(seconds(10));
    return answer.ok() ? Decode(*answer, /*complete=*/false) : Received();
  };
  EXPECT_EQ(greet("127.0.0.1").types, std::vector<wire::Body>{wire::Body::Welcome});
  EXPECT_EQ(greet("127.0.0.1").types, std::vector<wire::Body>{wire::Body::Welcome});
  Received third = greet("127.0.0.1");
  EXPECT_EQ(third.error_code, ErrorCode::kLimitExceeded);
  EXPECT_TRUE(third.error_fatal);
  // Another address is not held back by the first one's share.
  EXPECT_EQ(greet("127.0.0.2").types, std::vector<wire::Body>{wire::Body::Welcome});

  // One of the first two leaves: 127.0.0.1 has room again.
  sockets.erase(sockets.begin());
  std::unique_ptr<Client> client;
  ASSERT_TRUE(PollUntil(
      [&] {
        client = ConnectClient(broker.address());
        return client != nullptr;
      },
      seconds(10), milliseconds(50)));
  // The third raw socket, and any attempt above made before the broker saw
  // the close.
  EXPECT_GE(StatOf(*client, "connections_refused_total"), 1);
}

}  // namespace
}  // namespace hermod::test
