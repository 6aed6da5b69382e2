// Publish and consume through libhermod against a real hermodd: pipelined
// confirms over many queues, competing consumers, redelivery after a
// disconnect, range acks, and credit.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
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
using test::TempDir;

// How long a test waits for something that must happen.
constexpr milliseconds kWait = seconds(15);
// How long a test watches for something that must not happen.
constexpr milliseconds kQuiet = milliseconds(300);

class PubSubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BrokerProcess::Options options;
    options.data_dir = dir_.Join("data");
    broker_ = std::make_unique<BrokerProcess>(options);
    Status s = broker_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  std::unique_ptr<Client> Connect() {
    ClientOptions options;
    options.client_name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    return test::ConnectClient(broker_->address(), options);
  }

  // Publishes payloads to queue and waits for every confirm; returns them.
  std::vector<PublishResult> PublishAll(Client& client, const std::string& queue,
                                        const std::vector<std::string>& payloads) {
    test::ConfirmCounter confirms(payloads.size());
    for (size_t i = 0; i < payloads.size(); ++i) {
      client.PublishAsync(queue, payloads[i], {}, confirms.Callback(i));
    }
    EXPECT_TRUE(confirms.WaitFor(payloads.size(), kWait));
    for (const PublishResult& r : confirms.results())
      EXPECT_TRUE(r.status.ok()) << r.status.ToString();
    return confirms.results();
  }

  static std::vector<std::string> Payloads(const std::string& prefix, int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
    return out;
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
};

TEST_F(PubSubTest, TenThousandMessagesOverHundredQueuesKeepPerQueueOrder) {
  constexpr int kQueues = 100;
  constexpr int kMessages = 10000;
  auto queue_of = [](int i) { return "many." + std::to_string(i % kQueues); };

  std::unique_ptr<Client> publisher = Connect();
  ASSERT_NE(publisher, nullptr);
  test::ConfirmCounter confirms(kMessages);
  for (int i = 0; i < kMessages; ++i) {
    publisher->PublishAsync(queue_of(i), "m" + std::to_string(i), {}, confirms.Callback(i));
  }
  ASSERT_TRUE(confirms.WaitFor(kMessages, kWait));
  std::map<std::string, uint64_t> last_seq;
  for (int i = 0; i < kMessages; ++i) {
    const PublishResult r = confirms.result(i);
    ASSERT_TRUE(r.status.ok()) << i << ": " << r.status.ToString();
    // Seqs of one queue increase in publish order.
    EXPECT_GT(r.seq, last_seq[queue_of(i)]) << i;
    last_seq[queue_of(i)] = r.seq;
  }

  std::unique_ptr<Client> consumer = Connect();
  ASSERT_NE(consumer, nullptr);
  Client* acker = consumer.get();
  DeliveryLog log;
  DeliveryHandler handler =
      log.Handler([acker](const Delivery& d) { (void)acker->Ack(d.subscription, d.seq); });
  for (int q = 0; q < kQueues; ++q) {
    SubscribeOptions options;
    options.credit = 50;
    Result<SubscriptionId> sub = consumer->Subscribe(queue_of(q), options, handler);
    ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  }
  ASSERT_TRUE(log.WaitForCount(kMessages, kWait)) << "got " << log.size();
  EXPECT_FALSE(log.WaitForCount(kMessages + 1, kQuiet)) << "extra deliveries";

  std::map<std::string, std::vector<int>> by_queue;
  std::set<uint64_t> msg_ids;
  for (const Delivery& d : log.Snapshot()) {
    by_queue[d.queue].push_back(std::stoi(d.payload.substr(1)));
    msg_ids.insert(d.msg_id);
    EXPECT_EQ(d.delivery_count, 1u);
  }
  EXPECT_EQ(msg_ids.size(), static_cast<size_t>(kMessages)) << "duplicate deliveries";
  ASSERT_EQ(by_queue.size(), static_cast<size_t>(kQueues));
  for (int q = 0; q < kQueues; ++q) {
    const std::vector<int>& got = by_queue[queue_of(q)];
    ASSERT_EQ(got.size(), static_cast<size_t>(kMessages / kQueues)) << queue_of(q);
    for (size_t k = 0; k < got.size(); ++k) {
      // Exactly the messages sent to this queue, in publish order.
      EXPECT_EQ(got[k], q + static_cast<int>(k) * kQueues) << queue_of(q) << " #" << k;
    }
  }
}

TEST_F(PubSubTest, CompetingConsumersGetDistinctEntries) {
  // Neither acks at first, so with credit 5 each the first 10 entries must
  // be split between them.
  std::atomic<bool> ack{false};
  DeliveryLog log_a;
  DeliveryLog log_b;
  DeliveryLog both;
  // Declared after what their handlers use, so they are destroyed first.
  std::unique_ptr<Client> a = Connect();
  std::unique_ptr<Client> b = Connect();
  std::unique_ptr<Client> publisher = Connect();
  ASSERT_TRUE(a && b && publisher);
  Client* client_a = a.get();
  Client* client_b = b.get();
  SubscribeOptions options;
  options.credit = 5;
  Result<SubscriptionId> sub_a = a->Subscribe("compete", options, [&](const Delivery& d) {
    log_a.Add(d);
    both.Add(d);
    if (ack) (void)client_a->Ack(d.subscription, d.seq);
  });
  Result<SubscriptionId> sub_b = b->Subscribe("compete", options, [&](const Delivery& d) {
    log_b.Add(d);
    both.Add(d);
    if (ack) (void)client_b->Ack(d.subscription, d.seq);
  });
  ASSERT_TRUE(sub_a.ok() && sub_b.ok());

  constexpr int kMessages = 40;
  PublishAll(*publisher, "compete", Payloads("c", kMessages));
  ASSERT_TRUE(log_a.WaitForCount(5, kWait));
  ASSERT_TRUE(log_b.WaitForCount(5, kWait));

  // Now ack everything so far and from now on: the rest drains. (An entry
  // acked twice, by the handler and here, is harmless.)
  ack = true;
  for (const Delivery& d : log_a.Snapshot()) ASSERT_TRUE(a->Ack(*sub_a, d.seq).ok());
  for (const Delivery& d : log_b.Snapshot()) ASSERT_TRUE(b->Ack(*sub_b, d.seq).ok());
  ASSERT_TRUE(both.WaitForCount(kMessages, kWait)) << "got " << both.size();
  EXPECT_FALSE(both.WaitForCount(kMessages + 1, kQuiet)) << "extra deliveries";
  std::vector<Delivery> got_a = log_a.Snapshot();
  std::vector<Delivery> got_b = log_b.Snapshot();
  ASSERT_EQ(got_a.size() + got_b.size(), static_cast<size_t>(kMessages));

  std::set<uint64_t> seqs;
  for (const Delivery& d : got_a) EXPECT_TRUE(seqs.insert(d.seq).second) << "seq " << d.seq;
  for (const Delivery& d : got_b) EXPECT_TRUE(seqs.insert(d.seq).second) << "seq " << d.seq;
  EXPECT_EQ(seqs.size(), static_cast<size_t>(kMessages));
}

TEST_F(PubSubTest, UnackedDeliveriesGoToTheNextConsumerAfterDisconnect) {
  std::unique_ptr<Client> publisher = Connect();
  ASSERT_NE(publisher, nullptr);
  std::vector<PublishResult> published = PublishAll(*publisher, "redeliver", Payloads("r", 5));

  DeliveryLog first_log;
  {
    std::unique_ptr<Client> first = Connect();
    ASSERT_NE(first, nullptr);
    ASSERT_TRUE(first->Subscribe("redeliver", {}, first_log.Handler()).ok());
    ASSERT_TRUE(first_log.WaitForCount(5, kWait));
    for (const Delivery& d : first_log.Snapshot()) EXPECT_EQ(d.delivery_count, 1u);
  }  // disconnects without acking

  std::unique_ptr<Client> second = Connect();
  ASSERT_NE(second, nullptr);
  DeliveryLog second_log;
  Client* acker = second.get();
  ASSERT_TRUE(second
                  ->Subscribe("redeliver", {}, second_log.Handler([acker](const Delivery& d) {
                    (void)acker->Ack(d.subscription, d.seq);
                  }))
                  .ok());
  ASSERT_TRUE(second_log.WaitForCount(5, kWait));
  EXPECT_FALSE(second_log.WaitForCount(6, kQuiet));
  std::vector<Delivery> got = second_log.Snapshot();
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].payload, "r" + std::to_string(i));
    EXPECT_EQ(got[i].msg_id, published[i].msg_id);
    EXPECT_EQ(got[i].seq, published[i].seq);
    EXPECT_EQ(got[i].delivery_count, 2u) << "seq " << got[i].seq;
  }
}

TEST_F(PubSubTest, AckByRangeRemovesExactlyTheRange) {
  std::unique_ptr<Client> publisher = Connect();
  ASSERT_NE(publisher, nullptr);
  std::vector<PublishResult> published = PublishAll(*publisher, "range", Payloads("g", 10));

  {
    std::unique_ptr<Client> consumer = Connect();
    ASSERT_NE(consumer, nullptr);
    DeliveryLog log;
    SubscribeOptions options;
    options.credit = 10;
    Result<SubscriptionId> sub = consumer->Subscribe("range", options, log.Handler());
    ASSERT_TRUE(sub.ok());
    ASSERT_TRUE(log.WaitForCount(10, kWait));
    // Acks seqs of messages 0..5 in one frame, then message 8 alone.
    ASSERT_TRUE(consumer->AckRange(*sub, published[0].seq, published[5].seq).ok());
    ASSERT_TRUE(consumer->Ack(*sub, published[8].seq).ok());
    // The reply to Unsubscribe comes after the broker handled the acks.
    ASSERT_TRUE(consumer->Unsubscribe(*sub).ok());
  }

  std::unique_ptr<Client> next = Connect();
  ASSERT_NE(next, nullptr);
  DeliveryLog log;
  ASSERT_TRUE(next->Subscribe("range", {}, log.Handler()).ok());
  ASSERT_TRUE(log.WaitForCount(3, kWait));
  EXPECT_FALSE(log.WaitForCount(4, kQuiet));
  std::vector<Delivery> got = log.Snapshot();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].seq, published[6].seq);
  EXPECT_EQ(got[1].seq, published[7].seq);
  EXPECT_EQ(got[2].seq, published[9].seq);
}

TEST_F(PubSubTest, CreditBoundsUnackedDeliveries) {
  std::unique_ptr<Client> publisher = Connect();
  ASSERT_NE(publisher, nullptr);
  PublishAll(*publisher, "credit", Payloads("k", 10));

  std::unique_ptr<Client> consumer = Connect();
  ASSERT_NE(consumer, nullptr);
  DeliveryLog log;
  SubscribeOptions options;
  options.credit = 5;
  Result<SubscriptionId> sub = consumer->Subscribe("credit", options, log.Handler());
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(log.WaitForCount(5, kWait));
  EXPECT_FALSE(log.WaitForCount(6, kQuiet)) << "a 6th delivery beyond credit 5";

  // One ack frees one slot: exactly one more delivery.
  ASSERT_TRUE(consumer->Ack(*sub, log.Snapshot()[0].seq).ok());
  ASSERT_TRUE(log.WaitForCount(6, kWait));
  EXPECT_FALSE(log.WaitForCount(7, kQuiet)) << "a 7th delivery after one ack";
  EXPECT_EQ(log.Snapshot()[5].payload, "k5");

  // Raising the credit lets the rest come.
  ASSERT_TRUE(consumer->SetCredit(*sub, 20).ok());
  ASSERT_TRUE(log.WaitForCount(10, kWait));
}

TEST_F(PubSubTest, PublishFailsCleanlyOnceTheBrokerIsGone) {
  std::mutex mu;
  std::condition_variable changed;
  std::vector<ConnectionState> states;
  // A state callback makes the loss observable. Without reconnecting, a
  // lost connection is final at once (reconnect_test.cc covers the rest).
  ClientOptions options;
  options.server = broker_->address();
  options.reconnect = false;
  options.on_state_change = [&](ConnectionState state, const Status&) {
    std::lock_guard<std::mutex> lock(mu);
    states.push_back(state);
    changed.notify_all();
  };
  Result<std::unique_ptr<Client>> watched = Client::Connect(options);
  ASSERT_TRUE(watched.ok());
  ASSERT_TRUE(broker_->Stop().ok());
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(changed.wait_for(lock, kWait, [&] {
      return std::find(states.begin(), states.end(), ConnectionState::kDisconnected) !=
             states.end();
    }));
  }
  EXPECT_FALSE((*watched)->connected());
  PublishResult r = (*watched)->Publish("gone", "x").get();
  EXPECT_EQ(r.status.code(), ErrorCode::kUnavailable) << r.status.ToString();
  (*watched)->Close();
  r = (*watched)->Publish("gone", "x").get();
  EXPECT_EQ(r.status.code(), ErrorCode::kClosed) << r.status.ToString();
}

}  // namespace
}  // namespace hermod
