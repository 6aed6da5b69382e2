// libhermod's reconnect, frame by frame against a scripted broker (see
// scripted_broker.h): what the client sends on the next connection
// (Hello with the same client id, Subscribe again with the latest credit,
// unconfirmed publishes again in order with their dedup ids, unanswered
// ConfigureQueue again), what it drops (acks of the old connection's
// deliveries), the backoff between attempts, and giving up.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
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
using test::ScriptedBroker;
using test::StateLog;
using Clock = std::chrono::steady_clock;

constexpr milliseconds kWait = seconds(10);
// How long a test watches for something that must not happen.
constexpr milliseconds kQuiet = milliseconds(300);

// What a Publish frame carried.
struct SentPublish {
  uint64_t correlation_id = 0;
  std::string queue;
  std::string payload;
  std::string dedup_id;
  uint64_t ttl_ms = 0;
};

SentPublish ReadPublish(ScriptedBroker& broker) {
  OwnedFrame f = broker.Read();
  EXPECT_EQ(f.type(), wire::Body::Publish) << proto::BodyName(f.type());
  SentPublish p;
  if (f.type() != wire::Body::Publish) return p;
  const wire::Publish& publish = *f.frame->body_as_Publish();
  p.correlation_id = publish.correlation_id();
  p.queue = std::string(proto::View(publish.queue()));
  p.payload = std::string(proto::View(publish.payload()));
  p.dedup_id = std::string(proto::View(publish.dedup_id()));
  p.ttl_ms = publish.ttl_ms();
  return p;
}

void Confirm(ScriptedBroker& broker, uint64_t correlation_id, uint64_t msg_id, uint64_t seq,
             bool duplicate) {
  broker.Send(wire::CreatePublishOk(broker.Start(), correlation_id, msg_id, seq, duplicate));
}

class ClientReconnectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<RawListener>> listener = RawListener::Listen();
    ASSERT_TRUE(listener.ok()) << listener.status().ToString();
    listener_ = std::move(*listener);
  }

  ClientOptions Options() {
    ClientOptions options;
    options.server = listener_->address();
    options.client_name = "scripted";
    options.connect_timeout = kWait;
    options.reconnect_initial_delay = milliseconds(10);
    options.reconnect_max_delay = milliseconds(50);
    options.on_state_change = states_.Callback();
    return options;
  }

  // Connects a client and plays the broker's handshake as broker_.
  std::unique_ptr<Client> Connect(const ClientOptions& options) {
    auto connecting =
        std::async(std::launch::async, [options] { return Client::Connect(options); });
    Result<std::unique_ptr<test::RawSocket>> socket = listener_->Accept(kWait);
    EXPECT_TRUE(socket.ok()) << socket.status().ToString();
    if (socket.ok()) {
      broker_ = std::make_unique<ScriptedBroker>(std::move(*socket));
      broker_->Handshake();
      client_id_ = broker_->client_id();
    }
    Result<std::unique_ptr<Client>> client = connecting.get();
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::move(*client) : nullptr;
  }

  // Accepts the client's next connection as broker_, checks that its Hello
  // is a reconnect of the same client, and answers Welcome.
  void AcceptReconnect() {
    Result<std::unique_ptr<test::RawSocket>> socket = listener_->Accept(kWait);
    ASSERT_TRUE(socket.ok()) << socket.status().ToString();
    broker_ = std::make_unique<ScriptedBroker>(std::move(*socket));
    broker_->Handshake();
    EXPECT_EQ(broker_->client_id(), client_id_) << "a reconnect must keep the client id";
    EXPECT_TRUE(broker_->reconnect()) << "Hello.reconnect must be set on a reconnect";
  }

  // Subscribes through broker_, which accepts.
  Result<SubscriptionId> Subscribe(Client& client, const std::string& queue,
                                   const SubscribeOptions& options, DeliveryHandler handler) {
    auto subscribing = std::async(
        std::launch::async, [&] { return client.Subscribe(queue, options, std::move(handler)); });
    OwnedFrame f = broker_->Read();
    EXPECT_EQ(f.type(), wire::Body::Subscribe);
    if (f.type() == wire::Body::Subscribe) {
      const wire::Subscribe& s = *f.frame->body_as_Subscribe();
      broker_->Send(
          wire::CreateSubscribeOk(broker_->Start(), s.correlation_id(), s.subscription_id()));
    }
    return subscribing.get();
  }

  StateLog states_;
  std::unique_ptr<RawListener> listener_;
  std::unique_ptr<ScriptedBroker> broker_;
  std::string client_id_;
};

TEST_F(ClientReconnectTest, ResubscribesAndResendsInOrderAfterTheConnectionBreaks) {
  std::unique_ptr<Client> client = Connect(Options());
  ASSERT_NE(client, nullptr);
  test::DeliveryLog log;
  SubscribeOptions sub_options;
  sub_options.credit = 5;
  sub_options.ack_wait = milliseconds(2500);
  Result<SubscriptionId> sub = Subscribe(*client, "inbox", sub_options, log.Handler());
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  ASSERT_TRUE(client->SetCredit(*sub, 7).ok());
  OwnedFrame credit = broker_->Read();
  ASSERT_EQ(credit.type(), wire::Body::Credit);
  EXPECT_EQ(credit.frame->body_as_Credit()->credit(), 7u);

  // Four publishes; only the first is confirmed before the break.
  PublishOptions mine;
  mine.dedup_id = "mine";
  mine.ttl = seconds(5);
  std::vector<std::future<PublishResult>> results;
  results.push_back(client->Publish("q.a", "one"));
  results.push_back(client->Publish("q.b", "two"));
  results.push_back(client->Publish("q.c", "three"));
  results.push_back(client->Publish("q.d", "four", mine));
  std::vector<SentPublish> before;
  for (int i = 0; i < 4; ++i) before.push_back(ReadPublish(*broker_));
  Confirm(*broker_, before[0].correlation_id, 100, 1, false);
  ASSERT_TRUE(results[0].get().status.ok());

  // A delivery of the old connection, never acked there.
  {
    auto& fbb = broker_->Start();
    auto payload = fbb.CreateVector(std::vector<uint8_t>{'x'});
    broker_->Send(wire::CreateDeliver(fbb, *sub, 10, 500, 1, 1, 0, payload));
  }
  ASSERT_TRUE(log.WaitForCount(1, kWait));

  broker_.reset();  // the connection breaks
  ASSERT_TRUE(states_.WaitFor(ConnectionState::kReconnecting, kWait));
  EXPECT_FALSE(client->connected());
  EXPECT_EQ(client->Ack(*sub, 10).code(), ErrorCode::kUnavailable);
  // A publish made while reconnecting waits, and goes out after the resends.
  results.push_back(client->Publish("q.e", "five"));

  ASSERT_NO_FATAL_FAILURE(AcceptReconnect());
  OwnedFrame resubscribe = broker_->Read();
  ASSERT_EQ(resubscribe.type(), wire::Body::Subscribe);
  const wire::Subscribe& s = *resubscribe.frame->body_as_Subscribe();
  EXPECT_EQ(s.subscription_id(), *sub);
  EXPECT_EQ(proto::View(s.queue()), "inbox");
  EXPECT_EQ(s.credit(), 7u) << "the latest SetCredit value";
  EXPECT_EQ(s.ack_wait_ms(), 2500u);
  broker_->Send(wire::CreateSubscribeOk(broker_->Start(), s.correlation_id(), *sub));

  std::vector<SentPublish> after;
  for (int i = 0; i < 4; ++i) after.push_back(ReadPublish(*broker_));
  for (int i = 0; i < 3; ++i) {
    // The unconfirmed ones, in order, exactly as first sent.
    EXPECT_EQ(after[i].correlation_id, before[i + 1].correlation_id);
    EXPECT_EQ(after[i].queue, before[i + 1].queue);
    EXPECT_EQ(after[i].payload, before[i + 1].payload);
    EXPECT_EQ(after[i].dedup_id, before[i + 1].dedup_id);
    EXPECT_EQ(after[i].ttl_ms, before[i + 1].ttl_ms);
  }
  EXPECT_EQ(after[2].dedup_id, "mine");
  EXPECT_EQ(after[2].ttl_ms, 5000u);
  EXPECT_EQ(after[3].payload, "five");
  EXPECT_EQ(after[3].dedup_id, "~" + client_id_ + "-4");
  EXPECT_GT(after[3].correlation_id, after[2].correlation_id);
  ASSERT_TRUE(states_.WaitFor(ConnectionState::kConnected, kWait, 2));

  // The old connection's delivery: its ack is dropped, not sent here.
  ASSERT_TRUE(client->Ack(*sub, 10).ok());
  {
    auto& fbb = broker_->Start();
    auto payload = fbb.CreateVector(std::vector<uint8_t>{'y'});
    broker_->Send(wire::CreateDeliver(fbb, *sub, 11, 501, 1, 1, 0, payload));
  }
  ASSERT_TRUE(log.WaitForCount(2, kWait));
  ASSERT_TRUE(client->Ack(*sub, 11).ok());
  OwnedFrame ack = broker_->Read();
  ASSERT_EQ(ack.type(), wire::Body::Ack);
  EXPECT_EQ(ack.frame->body_as_Ack()->first_seq(), 11u);
  EXPECT_EQ(ack.frame->body_as_Ack()->last_seq(), 11u);

  // "two" had been stored before the break: the broker says duplicate.
  Confirm(*broker_, after[0].correlation_id, 101, 2, true);
  Confirm(*broker_, after[1].correlation_id, 102, 3, false);
  Confirm(*broker_, after[2].correlation_id, 103, 4, false);
  Confirm(*broker_, after[3].correlation_id, 104, 5, false);
  PublishResult two = results[1].get();
  ASSERT_TRUE(two.status.ok()) << two.status.ToString();
  EXPECT_TRUE(two.duplicate);
  EXPECT_EQ(two.msg_id, 101u);
  for (size_t i = 2; i < results.size(); ++i) {
    PublishResult r = results[i].get();
    EXPECT_TRUE(r.status.ok()) << r.status.ToString();
    EXPECT_FALSE(r.duplicate);
  }
  EXPECT_EQ(states_.states(), (std::vector<ConnectionState>{ConnectionState::kConnected,
                                                            ConnectionState::kReconnecting,
                                                            ConnectionState::kConnected}));
}

TEST_F(ClientReconnectTest, ARefusedResubscribeIsSentAgain) {
  // After a reconnect the broker may refuse the Subscribe for a while (the
  // queue is being deleted, the broker is stopping). The subscription must
  // not end unseen: it is sent again, and deliveries resume.
  std::unique_ptr<Client> client = Connect(Options());
  ASSERT_NE(client, nullptr);
  test::DeliveryLog log;
  Result<SubscriptionId> sub = Subscribe(*client, "inbox", {}, log.Handler());
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();

  broker_.reset();  // the connection breaks
  ASSERT_NO_FATAL_FAILURE(AcceptReconnect());
  for (int refusal = 0; refusal < 2; ++refusal) {
    OwnedFrame again = broker_->Read();
    ASSERT_EQ(again.type(), wire::Body::Subscribe) << "refusal " << refusal;
    const wire::Subscribe& s = *again.frame->body_as_Subscribe();
    EXPECT_EQ(s.subscription_id(), *sub);
    auto& fbb = broker_->Start();
    auto message = fbb.CreateString("queue inbox is being deleted; retry in a moment");
    broker_->Send(wire::CreateError(fbb, static_cast<uint16_t>(ErrorCode::kUnavailable), message,
                                    s.correlation_id(), /*fatal=*/false));
  }
  OwnedFrame accepted = broker_->Read();
  ASSERT_EQ(accepted.type(), wire::Body::Subscribe);
  const wire::Subscribe& s = *accepted.frame->body_as_Subscribe();
  EXPECT_EQ(s.subscription_id(), *sub);
  broker_->Send(wire::CreateSubscribeOk(broker_->Start(), s.correlation_id(), s.subscription_id()));
  {
    auto& fbb = broker_->Start();
    auto payload = fbb.CreateVector(std::vector<uint8_t>{'y'});
    broker_->Send(wire::CreateDeliver(fbb, *sub, 1, 700, 1, 1, 0, payload));
  }
  ASSERT_TRUE(log.WaitForCount(1, kWait));
  EXPECT_EQ(log.Snapshot()[0].payload, "y");
}

TEST_F(ClientReconnectTest, AFatalErrorReconnects) {
  std::unique_ptr<Client> client = Connect(Options());
  ASSERT_NE(client, nullptr);
  auto& fbb = broker_->Start();
  auto message = fbb.CreateString("restarting");
  broker_->Send(
      wire::CreateError(fbb, static_cast<uint16_t>(ErrorCode::kShuttingDown), message, 0, true));
  ASSERT_TRUE(states_.WaitFor(ConnectionState::kReconnecting, kWait));
  EXPECT_EQ(states_.last_reason().code(), ErrorCode::kShuttingDown);
  ASSERT_NO_FATAL_FAILURE(AcceptReconnect());
  ASSERT_TRUE(states_.WaitFor(ConnectionState::kConnected, kWait, 2));
  EXPECT_TRUE(client->connected());
}

TEST_F(ClientReconnectTest, PublishRefusedAsShuttingDownIsResent) {
  std::unique_ptr<Client> client = Connect(Options());
  ASSERT_NE(client, nullptr);
  std::future<PublishResult> result = client->Publish("q", "x");
  SentPublish first = ReadPublish(*broker_);
  auto& fbb = broker_->Start();
  auto message = fbb.CreateString("broker is stopping");
  broker_->Send(wire::CreatePublishError(fbb, first.correlation_id,
                                         static_cast<uint16_t>(ErrorCode::kShuttingDown), message));
  // Not a failure: the broker is going away, and the next one gets it.
  EXPECT_EQ(result.wait_for(kQuiet), std::future_status::timeout);
  broker_.reset();
  ASSERT_NO_FATAL_FAILURE(AcceptReconnect());
  SentPublish again = ReadPublish(*broker_);
  EXPECT_EQ(again.correlation_id, first.correlation_id);
  EXPECT_EQ(again.dedup_id, first.dedup_id);
  Confirm(*broker_, again.correlation_id, 7, 1, false);
  PublishResult r = result.get();
  EXPECT_TRUE(r.status.ok()) << r.status.ToString();
}

TEST_F(ClientReconnectTest, ConfigureQueueFieldsAndReplayAfterABreak) {
  std::unique_ptr<Client> client = Connect(Options());
  ASSERT_NE(client, nullptr);
  QueueSettings settings;
  settings.reset = true;
  settings.max_messages = 0;
  settings.overflow = "drop-oldest";
  settings.max_age = seconds(90);
  settings.dead_letter_queue = "";
  Client* raw = client.get();
  auto configuring =
      std::async(std::launch::async, [&] { return raw->ConfigureQueue("user:1", settings); });
  uint64_t first_correlation_id = 0;
  for (int round = 0; round < 2; ++round) {
    OwnedFrame f = broker_->Read();
    ASSERT_EQ(f.type(), wire::Body::ConfigureQueue);
    const wire::ConfigureQueue& c = *f.frame->body_as_ConfigureQueue();
    EXPECT_GE(c.correlation_id(), uint64_t{1} << 63);
    EXPECT_EQ(proto::View(c.queue()), "user:1");
    EXPECT_TRUE(c.reset());
    // Only the fields that were set are on the wire.
    ASSERT_TRUE(c.max_messages().has_value());
    EXPECT_EQ(*c.max_messages(), 0u);
    EXPECT_FALSE(c.max_bytes().has_value());
    ASSERT_NE(c.overflow(), nullptr);
    EXPECT_EQ(proto::View(c.overflow()), "drop-oldest");
    ASSERT_TRUE(c.max_age_ms().has_value());
    EXPECT_EQ(*c.max_age_ms(), 90000u);
    EXPECT_FALSE(c.max_deliveries().has_value());
    ASSERT_NE(c.dead_letter_queue(), nullptr) << "an empty dead_letter_queue is set";
    EXPECT_EQ(c.dead_letter_queue()->size(), 0u);
    EXPECT_FALSE(c.ack_wait_ms().has_value());
    if (round == 0) {
      // No answer before the break: the next connection asks again.
      first_correlation_id = c.correlation_id();
      broker_.reset();
      ASSERT_NO_FATAL_FAILURE(AcceptReconnect());
      continue;
    }
    EXPECT_NE(c.correlation_id(), first_correlation_id);
    auto& fbb = broker_->Start();
    auto message = fbb.CreateString("overflow drop-oldest needs max_messages");
    broker_->Send(wire::CreateError(fbb, static_cast<uint16_t>(ErrorCode::kInvalidArgument),
                                    message, c.correlation_id(), false));
  }
  Status refused = configuring.get();
  EXPECT_EQ(refused.code(), ErrorCode::kInvalidArgument) << refused.ToString();
  EXPECT_EQ(refused.message(), "overflow drop-oldest needs max_messages");

  QueueSettings other;
  other.max_bytes = 5;
  other.max_deliveries = 3;
  other.ack_wait = seconds(2);
  other.dead_letter_queue = "parking";
  configuring =
      std::async(std::launch::async, [&] { return raw->ConfigureQueue("user:2", other); });
  OwnedFrame f = broker_->Read();
  ASSERT_EQ(f.type(), wire::Body::ConfigureQueue);
  const wire::ConfigureQueue& c = *f.frame->body_as_ConfigureQueue();
  EXPECT_FALSE(c.reset());
  EXPECT_FALSE(c.max_messages().has_value());
  EXPECT_EQ(c.max_bytes().value_or(0), 5u);
  EXPECT_EQ(c.overflow(), nullptr);
  EXPECT_FALSE(c.max_age_ms().has_value());
  EXPECT_EQ(c.max_deliveries().value_or(0), 3u);
  EXPECT_EQ(proto::View(c.dead_letter_queue()), "parking");
  EXPECT_EQ(c.ack_wait_ms().value_or(0), 2000u);
  broker_->Send(wire::CreateConfigureQueueOk(broker_->Start(), c.correlation_id()));
  Status ok = configuring.get();
  EXPECT_TRUE(ok.ok()) << ok.ToString();

  // Refused before anything is sent.
  QueueSettings negative;
  negative.max_age = milliseconds(-1);
  EXPECT_EQ(client->ConfigureQueue("q", negative).code(), ErrorCode::kInvalidArgument);
}

TEST_F(ClientReconnectTest, CallsWhileReconnecting) {
  std::unique_ptr<Client> client = Connect(Options());
  ASSERT_NE(client, nullptr);
  test::DeliveryLog log;
  Result<SubscriptionId> gone = Subscribe(*client, "gone", {}, log.Handler());
  Result<SubscriptionId> kept = Subscribe(*client, "kept", {}, log.Handler());
  ASSERT_TRUE(gone.ok() && kept.ok());

  broker_.reset();
  ASSERT_TRUE(states_.WaitFor(ConnectionState::kReconnecting, kWait));
  // No connection holds the subscription: Unsubscribe has nobody to ask.
  EXPECT_TRUE(client->Unsubscribe(*gone).ok());
  EXPECT_EQ(client->Unsubscribe(*gone).code(), ErrorCode::kNotFound);
  // Accepted now, applied with the Subscribe after the reconnect.
  EXPECT_TRUE(client->SetCredit(*kept, 3).ok());
  // Waits for the connection.
  Client* raw = client.get();
  auto subscribing = std::async(std::launch::async, [&] {
    return raw->Subscribe("later", SubscribeOptions{.credit = 4}, log.Handler());
  });
  // Nothing happens before there is a connection.
  EXPECT_EQ(subscribing.wait_for(kQuiet), std::future_status::timeout);

  ASSERT_NO_FATAL_FAILURE(AcceptReconnect());
  // "kept" is subscribed again; "gone" is not; "later" follows once asked.
  OwnedFrame again = broker_->Read();
  ASSERT_EQ(again.type(), wire::Body::Subscribe);
  EXPECT_EQ(again.frame->body_as_Subscribe()->subscription_id(), *kept);
  EXPECT_EQ(proto::View(again.frame->body_as_Subscribe()->queue()), "kept");
  broker_->Send(wire::CreateSubscribeOk(broker_->Start(),
                                        again.frame->body_as_Subscribe()->correlation_id(), *kept));
  OwnedFrame later = broker_->Read();
  ASSERT_EQ(later.type(), wire::Body::Subscribe);
  const wire::Subscribe& s = *later.frame->body_as_Subscribe();
  EXPECT_EQ(proto::View(s.queue()), "later");
  EXPECT_EQ(s.credit(), 4u);
  // A later Credit for "kept" may follow its Subscribe, when SetCredit ran
  // after the Welcome; either way the broker ends up with 3.
  const uint32_t kept_credit = again.frame->body_as_Subscribe()->credit();
  broker_->Send(wire::CreateSubscribeOk(broker_->Start(), s.correlation_id(), s.subscription_id()));
  Result<SubscriptionId> later_sub = subscribing.get();
  ASSERT_TRUE(later_sub.ok()) << later_sub.status().ToString();
  EXPECT_EQ(*later_sub, s.subscription_id());
  if (kept_credit != 3u) {
    OwnedFrame credit = broker_->Read();
    ASSERT_EQ(credit.type(), wire::Body::Credit);
    EXPECT_EQ(credit.frame->body_as_Credit()->credit(), 3u);
  }
}

TEST_F(ClientReconnectTest, BackoffDoublesWithJitterUpToTheMaximum) {
  ClientOptions options = Options();
  options.reconnect_initial_delay = milliseconds(100);
  options.reconnect_max_delay = milliseconds(400);
  std::unique_ptr<Client> client = Connect(options);
  ASSERT_NE(client, nullptr);
  // Each attempt is accepted and closed at once, so it fails at the
  // handshake; the gaps between accepts are the backoff delays.
  broker_.reset();
  std::vector<Clock::time_point> accepted{Clock::now()};
  for (int i = 0; i < 5; ++i) {
    Result<std::unique_ptr<test::RawSocket>> socket = listener_->Accept(kWait);
    ASSERT_TRUE(socket.ok()) << socket.status().ToString();
    accepted.push_back(Clock::now());
  }
  const int64_t expected[] = {100, 200, 400, 400, 400};
  for (int i = 0; i < 5; ++i) {
    const int64_t gap =
        std::chrono::duration_cast<milliseconds>(accepted[i + 1] - accepted[i]).count();
    // +-20% jitter; a loaded machine may add, never subtract.
    EXPECT_GE(gap, expected[i] * 8 / 10 - 5) << "attempt " << i;
    EXPECT_LE(gap, expected[i] * 12 / 10 + 250) << "attempt " << i;
  }
  EXPECT_EQ(states_.states(), (std::vector<ConnectionState>{ConnectionState::kConnected,
                                                            ConnectionState::kReconnecting}))
      << "failed attempts are not reported one by one";
}

TEST_F(ClientReconnectTest, GivesUpAfterMaxAttemptsAndFailsEverythingPending) {
  ClientOptions options = Options();
  options.max_reconnect_attempts = 3;
  std::unique_ptr<Client> client = Connect(options);
  ASSERT_NE(client, nullptr);
  std::future<PublishResult> unconfirmed = client->Publish("q", "1");
  ReadPublish(*broker_);
  Client* raw = client.get();
  auto subscribing = std::async(std::launch::async,
                                [raw] { return raw->Subscribe("q", {}, [](const Delivery&) {}); });
  ASSERT_EQ(broker_->Read().type(), wire::Body::Subscribe);

  // No broker any more: every attempt is refused.
  listener_.reset();
  broker_.reset();
  ASSERT_TRUE(states_.WaitFor(ConnectionState::kDisconnected, kWait));
  PublishResult r = unconfirmed.get();
  EXPECT_EQ(r.status.code(), ErrorCode::kUnavailable) << r.status.ToString();
  EXPECT_NE(r.status.message().find("after 3 attempts"), std::string::npos) << r.status.ToString();
  EXPECT_EQ(subscribing.get().status().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(states_.states(), (std::vector<ConnectionState>{ConnectionState::kConnected,
                                                            ConnectionState::kReconnecting,
                                                            ConnectionState::kDisconnected}));
  EXPECT_EQ(client->Publish("q", "2").get().status.code(), ErrorCode::kUnavailable);
  EXPECT_EQ(client->SetCredit(1, 1).code(), ErrorCode::kUnavailable);
  EXPECT_EQ(client->ConfigureQueue("q", QueueSettings{.reset = true}).code(),
            ErrorCode::kUnavailable);
}

TEST_F(ClientReconnectTest, CallsWaitingForAConnectionTimeOut) {
  ClientOptions options = Options();
  options.connect_timeout = milliseconds(200);
  options.reconnect_max_delay = milliseconds(100);
  // Wait bound: 2 x connect_timeout + reconnect_max_delay = 500 ms.
  std::unique_ptr<Client> client = Connect(options);
  ASSERT_NE(client, nullptr);
  listener_.reset();
  broker_.reset();
  ASSERT_TRUE(states_.WaitFor(ConnectionState::kReconnecting, kWait));
  const auto start = Clock::now();
  Result<SubscriptionId> sub = client->Subscribe("q", {}, [](const Delivery&) {});
  EXPECT_EQ(sub.status().code(), ErrorCode::kTimeout) << sub.status().ToString();
  Status configured = client->ConfigureQueue("q", QueueSettings{.max_messages = 5});
  EXPECT_EQ(configured.code(), ErrorCode::kTimeout) << configured.ToString();
  const auto took = Clock::now() - start;
  EXPECT_GE(took, milliseconds(2 * 500 - 20));
  EXPECT_LT(took, seconds(5));
  EXPECT_FALSE(client->connected());  // still reconnecting: nothing gave up
}

TEST_F(ClientReconnectTest, CloseWhileReconnectingFailsPendingWithClosed) {
  std::unique_ptr<Client> client = Connect(Options());
  ASSERT_NE(client, nullptr);
  std::future<PublishResult> pending = client->Publish("q", "1");
  ReadPublish(*broker_);
  listener_.reset();
  broker_.reset();
  ASSERT_TRUE(states_.WaitFor(ConnectionState::kReconnecting, kWait));
  client->Close();
  EXPECT_EQ(pending.get().status.code(), ErrorCode::kClosed);
  EXPECT_EQ(states_.states().back(), ConnectionState::kClosed);
  EXPECT_EQ(client->Publish("q", "2").get().status.code(), ErrorCode::kClosed);
}

}  // namespace
}  // namespace hermod
