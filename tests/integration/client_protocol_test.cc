// libhermod against a scripted broker: the test accepts the client's
// connection on a raw socket and plays the broker frame by frame, so it can
// send what hermodd rarely or never does (Ping, a PublishError ahead of
// earlier confirms, a fatal Error, a frame out of place) and check every
// field the client sends. Reconnecting is in client_reconnect_test.cc; the
// tests here that end the connection turn it off.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "delivery_log.h"
#include "frame_codec.h"
#include "hermod/client.h"
#include "raw_socket.h"
#include "scripted_broker.h"

namespace hermod {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::OwnedFrame;
using test::RawListener;
using test::RawSocket;
using test::ScriptedBroker;
using test::StateLog;

constexpr milliseconds kWait = seconds(10);

class ClientProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<RawListener>> listener = RawListener::Listen();
    ASSERT_TRUE(listener.ok()) << listener.status().ToString();
    listener_ = std::move(*listener);
  }

  // Connects a client while the test plays the broker's side of the
  // handshake (run_handshake may refuse it instead).
  Result<std::unique_ptr<Client>> ConnectWithHandshake(
      const std::function<void(ScriptedBroker&)>& run_handshake, bool reconnect = true) {
    ClientOptions options;
    options.server = listener_->address();
    options.client_name = "scripted";
    options.connect_timeout = kWait;
    options.reconnect = reconnect;
    options.on_state_change = states_.Callback();
    auto connecting =
        std::async(std::launch::async, [options] { return Client::Connect(options); });
    Result<std::unique_ptr<RawSocket>> socket = listener_->Accept(kWait);
    EXPECT_TRUE(socket.ok()) << socket.status().ToString();
    if (socket.ok()) {
      broker_ = std::make_unique<ScriptedBroker>(std::move(*socket));
      run_handshake(*broker_);
    }
    return connecting.get();
  }

  std::unique_ptr<Client> ConnectScripted(bool reconnect = true) {
    Result<std::unique_ptr<Client>> client =
        ConnectWithHandshake([](ScriptedBroker& broker) { broker.Handshake(); }, reconnect);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::move(*client) : nullptr;
  }

  StateLog states_;
  std::unique_ptr<RawListener> listener_;
  std::unique_ptr<ScriptedBroker> broker_;
};

TEST_F(ClientProtocolTest, HandshakeFillsServerInfo) {
  std::unique_ptr<Client> client = ConnectScripted();
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->server_info().version, "9.9.9");
  EXPECT_EQ(client->server_info().sync_mode, "batch");
  EXPECT_EQ(client->server_info().max_frame_bytes, 1u << 20);
  EXPECT_TRUE(states_.WaitFor(ConnectionState::kConnected, kWait));
  // Hello names this client instance; the first connection is no reconnect.
  EXPECT_TRUE(test::IsClientId(broker_->client_id())) << broker_->client_id();
  EXPECT_FALSE(broker_->reconnect());
}

TEST_F(ClientProtocolTest, RefusedHandshakeReturnsTheBrokersCode) {
  Result<std::unique_ptr<Client>> client = ConnectWithHandshake([](ScriptedBroker& broker) {
    ASSERT_EQ(broker.Read().type(), wire::Body::Hello);
    auto& fbb = broker.Start();
    auto message = fbb.CreateString("speak version 7");
    broker.Send(wire::CreateError(fbb, static_cast<uint16_t>(ErrorCode::kUnsupportedVersion),
                                  message, 0, true));
  });
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), ErrorCode::kUnsupportedVersion);
  EXPECT_NE(client.status().message().find("speak version 7"), std::string::npos);
}

TEST_F(ClientProtocolTest, PingIsAnsweredWithPong) {
  std::unique_ptr<Client> client = ConnectScripted();
  ASSERT_NE(client, nullptr);
  auto& fbb = broker_->Start();
  broker_->Send(wire::CreatePing(fbb, 0xC0FFEE));
  OwnedFrame pong = broker_->Read();
  ASSERT_EQ(pong.type(), wire::Body::Pong);
  EXPECT_EQ(pong.frame->body_as_Pong()->nonce(), 0xC0FFEEu);
}

TEST_F(ClientProtocolTest, PublishFieldsAndOutOfOrderRefusal) {
  std::unique_ptr<Client> client = ConnectScripted();
  ASSERT_NE(client, nullptr);
  PublishOptions options;
  options.headers = {{"k1", "v1"}, {"k2", ""}};
  std::future<PublishResult> first = client->Publish("q.a", std::string("a\0b", 3), options);
  PublishOptions with_id;
  with_id.ttl = milliseconds(1500);
  with_id.dedup_id = "order-17";
  std::future<PublishResult> second = client->Publish("q.b", "two", with_id);
  std::future<PublishResult> third = client->Publish("q.c", "three");

  std::vector<uint64_t> ids;
  std::vector<std::string> dedup_ids;
  for (int i = 0; i < 3; ++i) {
    OwnedFrame publish = broker_->Read();
    ASSERT_EQ(publish.type(), wire::Body::Publish);
    const wire::Publish& p = *publish.frame->body_as_Publish();
    ids.push_back(p.correlation_id());
    dedup_ids.emplace_back(proto::View(p.dedup_id()));
    if (i == 0) {
      EXPECT_EQ(proto::View(p.queue()), "q.a");
      EXPECT_EQ(proto::View(p.payload()), std::string("a\0b", 3));
      ASSERT_NE(p.headers(), nullptr);
      ASSERT_EQ(p.headers()->size(), 2u);
      EXPECT_EQ(proto::View(p.headers()->Get(0)->key()), "k1");
      EXPECT_EQ(proto::View(p.headers()->Get(0)->value()), "v1");
      EXPECT_EQ(proto::View(p.headers()->Get(1)->key()), "k2");
      EXPECT_EQ(p.ttl_ms(), 0u);
    }
    if (i == 1) {
      EXPECT_EQ(p.ttl_ms(), 1500u);
    }
  }
  // dedup_resends (on by default): publishes without an id get the
  // client's own, counting its publishes; an application id goes as given.
  const std::string prefix = "~" + broker_->client_id() + "-";
  EXPECT_EQ(dedup_ids[0], prefix + "1");
  EXPECT_EQ(dedup_ids[1], "order-17");
  EXPECT_EQ(dedup_ids[2], prefix + "2");
  EXPECT_LT(ids[0], ids[1]);
  EXPECT_LT(ids[1], ids[2]);

  // The refusal of the third overtakes the confirms of the first two.
  auto& fbb = broker_->Start();
  auto message = fbb.CreateString("queue q.c is full");
  broker_->Send(wire::CreatePublishError(
      fbb, ids[2], static_cast<uint16_t>(ErrorCode::kLimitExceeded), message));
  PublishResult refused = third.get();
  EXPECT_EQ(refused.status.code(), ErrorCode::kLimitExceeded);
  EXPECT_EQ(refused.status.message(), "queue q.c is full");
  EXPECT_EQ(first.wait_for(milliseconds(0)), std::future_status::timeout);

  broker_->Send(wire::CreatePublishOk(broker_->Start(), ids[0], 100, 1, false));
  broker_->Send(wire::CreatePublishOk(broker_->Start(), ids[1], 101, 7, true));
  PublishResult r1 = first.get();
  PublishResult r2 = second.get();
  ASSERT_TRUE(r1.status.ok());
  EXPECT_EQ(r1.msg_id, 100u);
  EXPECT_EQ(r1.seq, 1u);
  EXPECT_FALSE(r1.duplicate);
  ASSERT_TRUE(r2.status.ok());
  EXPECT_EQ(r2.msg_id, 101u);
  EXPECT_EQ(r2.seq, 7u);
  EXPECT_TRUE(r2.duplicate);
}

TEST_F(ClientProtocolTest, SubscriptionFramesAndDeliveryFields) {
  std::unique_ptr<Client> client = ConnectScripted();
  ASSERT_NE(client, nullptr);
  test::DeliveryLog log;
  Client* raw = client.get();
  SubscribeOptions options;
  options.credit = 17;
  options.ack_wait = milliseconds(2500);
  auto subscribing = std::async(std::launch::async, [&] {
    return raw->Subscribe("inbox", options, log.Handler([raw](const Delivery& d) {
      if (d.seq == 42) (void)raw->Ack(d.subscription, d.seq);
    }));
  });
  OwnedFrame subscribe = broker_->Read();
  ASSERT_EQ(subscribe.type(), wire::Body::Subscribe);
  const wire::Subscribe& s = *subscribe.frame->body_as_Subscribe();
  EXPECT_EQ(proto::View(s.queue()), "inbox");
  EXPECT_EQ(s.credit(), 17u);
  EXPECT_EQ(s.ack_wait_ms(), 2500u);
  const uint32_t subscription = s.subscription_id();
  broker_->Send(wire::CreateSubscribeOk(broker_->Start(), s.correlation_id(), subscription));
  Result<SubscriptionId> sub = subscribing.get();
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  EXPECT_EQ(*sub, subscription);

  {
    auto& fbb = broker_->Start();
    auto key = fbb.CreateString("trace");
    auto value = fbb.CreateString("abc");
    std::vector<flatbuffers::Offset<wire::Header>> header_list = {
        wire::CreateHeader(fbb, key, value)};
    auto headers = fbb.CreateVector(header_list);
    static constexpr uint8_t kPayload[] = {0, 1, 2, 255};
    auto payload = fbb.CreateVector(kPayload, sizeof(kPayload));
    broker_->Send(
        wire::CreateDeliver(fbb, subscription, 42, 9000, 3, 1700000000123, headers, payload));
  }
  // Three more deliveries (seqs 43, 44, 45) that the test acks and nacks
  // itself: acks and nacks go out only for seqs this connection delivered.
  for (uint64_t seq = 43; seq <= 45; ++seq) {
    auto& fbb = broker_->Start();
    auto payload = fbb.CreateVector(std::vector<uint8_t>{7});
    broker_->Send(
        wire::CreateDeliver(fbb, subscription, seq, 9000 + seq, 1, 1700000000123, 0, payload));
  }
  ASSERT_TRUE(log.WaitForCount(4, kWait));
  Delivery d = log.Snapshot()[0];
  EXPECT_EQ(d.subscription, subscription);
  EXPECT_EQ(d.queue, "inbox");
  EXPECT_EQ(d.seq, 42u);
  EXPECT_EQ(d.msg_id, 9000u);
  EXPECT_EQ(d.delivery_count, 3u);
  EXPECT_EQ(d.publish_time_ms, 1700000000123u);
  ASSERT_EQ(d.headers.size(), 1u);
  EXPECT_EQ(d.headers[0].key, "trace");
  EXPECT_EQ(d.headers[0].value, "abc");
  EXPECT_EQ(d.payload, std::string("\0\1\2\xFF", 4));

  // The handler's ack, then the application's nack, credit and range ack,
  // in call order.
  OwnedFrame ack = broker_->Read();
  ASSERT_EQ(ack.type(), wire::Body::Ack);
  EXPECT_EQ(ack.frame->body_as_Ack()->subscription_id(), subscription);
  EXPECT_EQ(ack.frame->body_as_Ack()->first_seq(), 42u);
  EXPECT_EQ(ack.frame->body_as_Ack()->last_seq(), 42u);
  ASSERT_TRUE(client->Nack(*sub, 43, milliseconds(1500)).ok());
  ASSERT_TRUE(client->SetCredit(*sub, 5).ok());
  ASSERT_TRUE(client->AckRange(*sub, 44, 50).ok());
  EXPECT_EQ(client->AckRange(*sub, 50, 44).code(), ErrorCode::kInvalidArgument);
  OwnedFrame nack = broker_->Read();
  ASSERT_EQ(nack.type(), wire::Body::Nack);
  EXPECT_EQ(nack.frame->body_as_Nack()->seq(), 43u);
  EXPECT_EQ(nack.frame->body_as_Nack()->delay_ms(), 1500u);
  OwnedFrame credit = broker_->Read();
  ASSERT_EQ(credit.type(), wire::Body::Credit);
  EXPECT_EQ(credit.frame->body_as_Credit()->credit(), 5u);
  OwnedFrame range = broker_->Read();
  ASSERT_EQ(range.type(), wire::Body::Ack);
  EXPECT_EQ(range.frame->body_as_Ack()->first_seq(), 44u);
  EXPECT_EQ(range.frame->body_as_Ack()->last_seq(), 50u);
  // Every delivery is acked or nacked now: acking them again, or seqs never
  // delivered, sends nothing (the Unsubscribe below is the next frame).
  ASSERT_TRUE(client->Ack(*sub, 42).ok());
  ASSERT_TRUE(client->AckRange(*sub, 43, 100).ok());
  ASSERT_TRUE(client->Nack(*sub, 1000).ok());

  auto unsubscribing = std::async(std::launch::async, [&] { return raw->Unsubscribe(*sub); });
  OwnedFrame unsubscribe = broker_->Read();
  ASSERT_EQ(unsubscribe.type(), wire::Body::Unsubscribe);
  EXPECT_EQ(unsubscribe.frame->body_as_Unsubscribe()->subscription_id(), subscription);
  EXPECT_NE(unsubscribe.frame->body_as_Unsubscribe()->correlation_id(), s.correlation_id());
  broker_->Send(wire::CreateUnsubscribeOk(
      broker_->Start(), unsubscribe.frame->body_as_Unsubscribe()->correlation_id(), subscription));
  EXPECT_TRUE(unsubscribing.get().ok());
}

TEST_F(ClientProtocolTest, RefusedSubscribeReturnsTheBrokersError) {
  std::unique_ptr<Client> client = ConnectScripted();
  ASSERT_NE(client, nullptr);
  Client* raw = client.get();
  auto subscribing = std::async(std::launch::async,
                                [raw] { return raw->Subscribe("q", {}, [](const Delivery&) {}); });
  OwnedFrame subscribe = broker_->Read();
  ASSERT_EQ(subscribe.type(), wire::Body::Subscribe);
  auto& fbb = broker_->Start();
  auto message = fbb.CreateString("subscription exists");
  broker_->Send(wire::CreateError(fbb, static_cast<uint16_t>(ErrorCode::kAlreadyExists), message,
                                  subscribe.frame->body_as_Subscribe()->correlation_id(), false));
  Result<SubscriptionId> sub = subscribing.get();
  EXPECT_EQ(sub.status().code(), ErrorCode::kAlreadyExists);
  EXPECT_TRUE(client->connected());
}

TEST_F(ClientProtocolTest, FatalErrorFailsEverythingPending) {
  std::unique_ptr<Client> client = ConnectScripted(/*reconnect=*/false);
  ASSERT_NE(client, nullptr);
  std::future<PublishResult> first = client->Publish("q", "1");
  std::future<PublishResult> second = client->Publish("q", "2");
  ASSERT_EQ(broker_->Read().type(), wire::Body::Publish);
  ASSERT_EQ(broker_->Read().type(), wire::Body::Publish);
  Client* raw = client.get();
  auto subscribing = std::async(std::launch::async,
                                [raw] { return raw->Subscribe("q", {}, [](const Delivery&) {}); });
  ASSERT_EQ(broker_->Read().type(), wire::Body::Subscribe);

  auto& fbb = broker_->Start();
  auto message = fbb.CreateString("disk on fire");
  broker_->Send(
      wire::CreateError(fbb, static_cast<uint16_t>(ErrorCode::kStorageError), message, 0, true));
  for (std::future<PublishResult>* f : {&first, &second}) {
    PublishResult r = f->get();
    EXPECT_EQ(r.status.code(), ErrorCode::kUnavailable) << r.status.ToString();
    EXPECT_NE(r.status.message().find("disk on fire"), std::string::npos) << r.status.ToString();
  }
  EXPECT_EQ(subscribing.get().status().code(), ErrorCode::kUnavailable);
  ASSERT_TRUE(states_.WaitFor(ConnectionState::kDisconnected, kWait));
  EXPECT_EQ(states_.last_reason().code(), ErrorCode::kStorageError);
  EXPECT_FALSE(client->connected());
  EXPECT_EQ(client->Publish("q", "3").get().status.code(), ErrorCode::kUnavailable);
  EXPECT_EQ(client->Ack(1, 1).code(), ErrorCode::kUnavailable);
  // The client closed its side.
  Result<std::string> rest = broker_->socket().ReadUntilClosed(kWait);
  EXPECT_TRUE(rest.ok()) << rest.status().ToString();
}

TEST_F(ClientProtocolTest, UnexpectedFrameIsAProtocolViolation) {
  std::unique_ptr<Client> client = ConnectScripted(/*reconnect=*/false);
  ASSERT_NE(client, nullptr);
  // Hello is a frame only clients send.
  auto& fbb = broker_->Start();
  auto name = fbb.CreateString("confused broker");
  broker_->Send(wire::CreateHello(fbb, proto::kProtocolVersion, name));
  OwnedFrame error = broker_->Read();
  ASSERT_EQ(error.type(), wire::Body::Error);
  EXPECT_EQ(error.frame->body_as_Error()->code(),
            static_cast<uint16_t>(ErrorCode::kProtocolViolation));
  EXPECT_TRUE(error.frame->body_as_Error()->fatal());
  Result<std::string> rest = broker_->socket().ReadUntilClosed(kWait);
  EXPECT_TRUE(rest.ok()) << rest.status().ToString();
  ASSERT_TRUE(states_.WaitFor(ConnectionState::kDisconnected, kWait));
  EXPECT_FALSE(client->connected());
}

TEST_F(ClientProtocolTest, ClosingTheSocketDisconnects) {
  std::unique_ptr<Client> client = ConnectScripted(/*reconnect=*/false);
  ASSERT_NE(client, nullptr);
  std::future<PublishResult> pending = client->Publish("q", "x");
  ASSERT_EQ(broker_->Read().type(), wire::Body::Publish);
  broker_.reset();  // closes the socket
  EXPECT_EQ(pending.get().status.code(), ErrorCode::kUnavailable);
  ASSERT_TRUE(states_.WaitFor(ConnectionState::kDisconnected, kWait));
  client->Close();
  EXPECT_TRUE(states_.WaitFor(ConnectionState::kClosed, kWait));
}

}  // namespace
}  // namespace hermod
