// libhermod's own contract against a real hermodd: connect failures, closing
// from any thread (callbacks included) with work in flight, calls from the
// client thread, large payloads, and a publish above the frame limit.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "admin_test_util.h"
#include "broker_process.h"
#include "delivery_log.h"
#include "hermod/client.h"
#include "temp_dir.h"

namespace hermod {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::BrokerProcess;
using test::DeliveryLog;

constexpr milliseconds kWait = seconds(15);
constexpr milliseconds kQuiet = milliseconds(300);

class ClientTest : public ::testing::Test {
 protected:
  void StartBroker(std::vector<std::string> extra_args = {}) {
    BrokerProcess::Options options;
    options.data_dir = dir_.Join("data");
    options.extra_args = std::move(extra_args);
    broker_ = std::make_unique<BrokerProcess>(options);
    Status s = broker_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  std::unique_ptr<Client> Connect() { return test::ConnectClient(broker_->address()); }

  test::TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
};

TEST_F(ClientTest, ConnectToNothingIsUnavailable) {
  ClientOptions options;
  options.server = "127.0.0.1:1";
  Result<std::unique_ptr<Client>> client = Client::Connect(options);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), ErrorCode::kUnavailable) << client.status().ToString();
  EXPECT_NE(client.status().message().find("127.0.0.1:1"), std::string::npos);
}

TEST_F(ClientTest, ConnectToABadAddressIsInvalidArgument) {
  for (const char* bad : {"nowhere", "127.0.0.1", "127.0.0.1:99999", "host.example:7400"}) {
    ClientOptions options;
    options.server = bad;
    Result<std::unique_ptr<Client>> client = Client::Connect(options);
    ASSERT_FALSE(client.ok()) << bad;
    EXPECT_EQ(client.status().code(), ErrorCode::kInvalidArgument) << client.status().ToString();
  }
}

TEST_F(ClientTest, ConnectTimesOutWhenTheHandshakeNeverCompletes) {
  // A listening socket nobody accepts from: the kernel completes the TCP
  // handshake, but no Welcome ever comes.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);

  ClientOptions options;
  options.server = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  options.connect_timeout = milliseconds(200);
  const auto start = std::chrono::steady_clock::now();
  Result<std::unique_ptr<Client>> client = Client::Connect(options);
  const auto took = std::chrono::steady_clock::now() - start;
  ::close(fd);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), ErrorCode::kTimeout) << client.status().ToString();
  EXPECT_GE(took, milliseconds(200));
  EXPECT_LT(took, seconds(5));
}

TEST_F(ClientTest, ServerInfoComesFromWelcome) {
  StartBroker({"--sync", "none"});
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(client->connected());
  EXPECT_EQ(client->server_info().sync_mode, "none");
  EXPECT_EQ(client->server_info().protocol_version, 1u);
  EXPECT_GT(client->server_info().max_frame_bytes, 0u);
  EXPECT_FALSE(client->server_info().version.empty());
}

TEST_F(ClientTest, DestroyingWithPublishesInFlightCompletesEachOnce) {
  StartBroker();
  test::ConfirmCounter completions;
  constexpr size_t kPublishes = 20000;
  {
    std::unique_ptr<Client> client = Connect();
    ASSERT_NE(client, nullptr);
    for (size_t i = 0; i < kPublishes; ++i) {
      client->PublishAsync("inflight", "payload", {}, completions.Callback());
    }
  }  // destroyed at once: closes and joins
  EXPECT_EQ(completions.done(), kPublishes);
  for (ErrorCode code : completions.codes()) EXPECT_EQ(code, ErrorCode::kClosed);
}

TEST_F(ClientTest, CloseFromAConfirmCallbackFailsTheRestWithClosed) {
  StartBroker();
  test::ConfirmCounter completions;
  constexpr size_t kPublishes = 5000;
  std::atomic<bool> closed{false};
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  Client* raw = client.get();
  for (size_t i = 0; i < kPublishes; ++i) {
    ConfirmCallback count = completions.Callback();
    client->PublishAsync("close.inside", "payload", {}, [&, count, raw](const PublishResult& r) {
      if (!closed.exchange(true)) raw->Close();  // on the client thread
      count(r);
    });
  }
  ASSERT_TRUE(completions.WaitFor(kPublishes, kWait)) << completions.done();
  EXPECT_GE(completions.ok(), 1u);
  for (ErrorCode code : completions.codes()) EXPECT_EQ(code, ErrorCode::kClosed);
  EXPECT_FALSE(client->connected());
  // After Close, a publish completes at once with kClosed and acks refuse.
  EXPECT_EQ(client->Publish("close.inside", "late").get().status.code(), ErrorCode::kClosed);
  EXPECT_EQ(client->Ack(1, 1).code(), ErrorCode::kClosed);
  client->Close();  // idempotent
}

TEST_F(ClientTest, CloseOnOneThreadWhileOthersPublishCompletesEachOnce) {
  // Close() racing publishes from other threads: the command a publisher
  // pushes just before the close, and the wakeup it posts for it while the
  // loop is closing, must neither abort nor be lost. Both did once (the
  // wakeup hit the loop's closed eventfd; a refused wakeup was a CHECK).
  StartBroker({"--sync", "none"});
  constexpr int kRounds = 400;
  constexpr int kPublishers = 2;
  constexpr size_t kPerPublisher = 3000;
  for (int round = 0; round < kRounds; ++round) {
    std::unique_ptr<Client> client = Connect();
    ASSERT_NE(client, nullptr);
    test::ConfirmCounter completions;
    std::atomic<size_t> issued{0};
    std::vector<std::thread> publishers;
    for (int p = 0; p < kPublishers; ++p) {
      publishers.emplace_back([&] {
        for (size_t i = 0; i < kPerPublisher; ++i) {
          client->PublishAsync("close.race", "payload", {}, completions.Callback());
          issued.fetch_add(1);
        }
      });
    }
    // Close at a different point in each round, from a third thread.
    const size_t close_after = static_cast<size_t>(round) * 97 % (kPublishers * kPerPublisher);
    // (close_after is below the total, which the publishers always reach.)
    while (issued.load() < close_after) std::this_thread::yield();
    client->Close();
    for (auto& t : publishers) t.join();
    ASSERT_TRUE(completions.WaitFor(kPublishers * kPerPublisher, kWait))
        << "round " << round << ": " << completions.done() << " of " << kPublishers * kPerPublisher
        << " publishes completed";
    client.reset();
    EXPECT_EQ(completions.done(), kPublishers * kPerPublisher) << "round " << round;
  }
}

TEST_F(ClientTest, CallsFromTheClientThread) {
  StartBroker();
  std::mutex mu;
  std::condition_variable changed;
  Status nested_subscribe;
  Status nested_unsubscribe;
  bool handled = false;
  DeliveryLog log;
  // Declared after what its handler uses, so it is destroyed first.
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Publish("own.thread", "one").get().status.ok());
  ASSERT_TRUE(client->Publish("own.thread", "two").get().status.ok());
  Client* raw = client.get();
  Result<SubscriptionId> sub = client->Subscribe("own.thread", {}, [&](const Delivery& d) {
    log.Add(d);
    if (d.payload != "one") return;
    // Subscribe would block: refused. Unsubscribe does not wait.
    Result<SubscriptionId> nested = raw->Subscribe("elsewhere", {}, [](const Delivery&) {});
    (void)raw->Ack(d.subscription, d.seq);
    Status unsubscribed = raw->Unsubscribe(d.subscription);
    std::lock_guard<std::mutex> lock(mu);
    nested_subscribe = nested.status();
    nested_unsubscribe = unsubscribed;
    handled = true;
    changed.notify_all();
  });
  ASSERT_TRUE(sub.ok());
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(changed.wait_for(lock, kWait, [&] { return handled; }));
  }
  EXPECT_EQ(nested_subscribe.code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(nested_unsubscribe.ok()) << nested_unsubscribe.ToString();
  // "two" may have been delivered before the Unsubscribe left, but after it
  // no handler runs; the broker gives "two" back.
  EXPECT_FALSE(log.WaitForCount(3, kQuiet));

  std::unique_ptr<Client> next = Connect();
  ASSERT_NE(next, nullptr);
  DeliveryLog rest;
  ASSERT_TRUE(next->Subscribe("own.thread", {}, rest.Handler()).ok());
  ASSERT_TRUE(rest.WaitForCount(1, kWait));
  EXPECT_FALSE(rest.WaitForCount(2, kQuiet)) << "the acked message came back";
  EXPECT_EQ(rest.Snapshot()[0].payload, "two");
}

TEST_F(ClientTest, LargePayloadsRoundTrip) {
  StartBroker({"--sync", "none"});
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  std::vector<std::string> payloads;
  for (int i = 0; i < 24; ++i) {
    std::string payload(size_t{1} << 20, '\0');
    for (size_t k = 0; k < payload.size(); ++k) payload[k] = static_cast<char>((k * 7 + i) & 0xFF);
    payloads.push_back(std::move(payload));
  }
  test::ConfirmCounter completions;
  for (const std::string& p : payloads) {
    client->PublishAsync("large", p, {}, completions.Callback());
  }
  ASSERT_TRUE(completions.WaitFor(payloads.size(), kWait));
  EXPECT_EQ(completions.ok(), payloads.size());

  DeliveryLog log;
  Client* raw = client.get();
  SubscribeOptions options;
  options.credit = 4;
  ASSERT_TRUE(client
                  ->Subscribe("large", options, log.Handler([raw](const Delivery& d) {
                    (void)raw->Ack(d.subscription, d.seq);
                  }))
                  .ok());
  ASSERT_TRUE(log.WaitForCount(payloads.size(), kWait)) << log.size();
  std::vector<Delivery> got = log.Snapshot();
  for (size_t i = 0; i < payloads.size(); ++i) {
    EXPECT_TRUE(got[i].payload == payloads[i]) << "payload " << i << " differs";
  }
}

TEST_F(ClientTest, PublishAboveTheFrameLimitFailsAlone) {
  StartBroker({"--max-frame-bytes", "65536"});
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  std::future<PublishResult> before = client->Publish("limit", "small");
  std::future<PublishResult> big = client->Publish("limit", std::string(100000, 'x'));
  std::future<PublishResult> after = client->Publish("limit", "small again");
  EXPECT_TRUE(before.get().status.ok());
  PublishResult refused = big.get();
  EXPECT_EQ(refused.status.code(), ErrorCode::kPayloadTooLarge) << refused.status.ToString();
  EXPECT_TRUE(after.get().status.ok());
  EXPECT_TRUE(client->connected());
}

TEST_F(ClientTest, RefusedSubscribeAndUnknownUnsubscribe) {
  StartBroker();
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  Result<SubscriptionId> bad = client->Subscribe("", {}, [](const Delivery&) {});
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument) << bad.status().ToString();
  EXPECT_EQ(client->Unsubscribe(12345).code(), ErrorCode::kNotFound);
  EXPECT_TRUE(client->connected());
}

}  // namespace
}  // namespace hermod
