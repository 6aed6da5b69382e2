// Scheduled delivery and redelivery backoff over the real protocol, with a
// real hermodd (docs/semantics.md, "Scheduled delivery", "Redelivery
// backoff"). Times are asserted as lower bounds and orders, never exactly:
// a loaded machine may deliver late, never early.
#include <gtest/gtest.h>

#include <signal.h>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "admin_test_util.h"
#include "broker_process.h"
#include "hermod/client.h"
#include "temp_dir.h"

namespace hermod {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::BrokerProcess;
using test::TempDir;

constexpr milliseconds kWait = seconds(15);

uint64_t WallMs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

// A delivery and the wall time it reached the handler.
struct Arrival {
  Delivery delivery;
  uint64_t at_ms = 0;
};

// Records arrivals, and lets a test act on each one on the client thread
// (after it is recorded). The record is shared with the handlers, which may
// run until their client is gone.
class Arrivals {
 public:
  DeliveryHandler Handler(std::function<void(const Delivery&)> then = nullptr) {
    return [state = state_, then = std::move(then)](const Delivery& d) {
      {
        std::lock_guard<std::mutex> lock(state->mu);
        state->arrivals.push_back(Arrival{d, WallMs()});
        state->changed.notify_all();
      }
      if (then) then(d);
    };
  }
  // Waits until at least n arrived; false after kWait.
  bool WaitForCount(size_t n) {
    std::unique_lock<std::mutex> lock(state_->mu);
    return state_->changed.wait_for(lock, kWait, [&] { return state_->arrivals.size() >= n; });
  }
  std::vector<Arrival> Snapshot() {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->arrivals;
  }

 private:
  struct State {
    std::mutex mu;  // guards arrivals
    std::condition_variable changed;
    std::vector<Arrival> arrivals;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

uint64_t DeliverAtHeader(const Delivery& d) {
  for (const Header& h : d.headers) {
    if (h.key != "x-hermod-deliver-at") continue;
    uint64_t at = 0;
    std::from_chars(h.value.data(), h.value.data() + h.value.size(), at);
    return at;
  }
  return 0;
}

class ScheduleTest : public ::testing::Test {
 protected:
  void StartBroker(std::vector<std::string> extra_args = {}) {
    BrokerProcess::Options options;
    options.data_dir = dir_.Join("data");
    options.extra_args = std::move(extra_args);
    broker_ = std::make_unique<BrokerProcess>(options);
    ASSERT_TRUE(broker_->Start().ok());
  }
  PublishResult Publish(Client& client, const std::string& queue, const std::string& payload,
                        const PublishOptions& options = {}) {
    std::future<PublishResult> confirm = client.Publish(queue, payload, options);
    EXPECT_EQ(confirm.wait_for(kWait), std::future_status::ready);
    PublishResult result = confirm.get();
    EXPECT_TRUE(result.status.ok()) << result.status.ToString();
    return result;
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
};

TEST_F(ScheduleTest, ScheduledMessagesAreNotDeliveredEarly) {
  StartBroker();
  std::unique_ptr<Client> client = test::ConnectClient(broker_->address());
  ASSERT_NE(client, nullptr);
  Arrivals arrivals;
  SubscribeOptions sub;
  Result<SubscriptionId> subscription = client->Subscribe(
      "sched", sub,
      arrivals.Handler([&](const Delivery& d) { (void)client->Ack(d.subscription, d.seq); }));
  ASSERT_TRUE(subscription.ok()) << subscription.status().ToString();

  const uint64_t before = WallMs();
  PublishOptions delayed;
  delayed.delay = milliseconds(2500);
  PublishOptions at;
  at.deliver_at = std::chrono::system_clock::time_point(milliseconds(before + 1500));
  Publish(*client, "sched", "by-delay", delayed);
  Publish(*client, "sched", "by-time", at);
  Publish(*client, "sched", "now");
  // Confirmed at once, and visible to peek as scheduled (unless this
  // machine took over 1.5 s to get here). The delay counts from the
  // broker's time of the publish.
  Result<std::vector<PeekedEntry>> peeked = client->PeekQueue("sched");
  ASSERT_TRUE(peeked.ok()) << peeked.status().ToString();
  ASSERT_GE(peeked->size(), 2u);
  const uint64_t delay_due = (*peeked)[0].publish_time_ms + 2500;
  if (WallMs() < before + 1500) {
    EXPECT_EQ((*peeked)[0].deliver_at_ms, delay_due);
    EXPECT_EQ((*peeked)[1].deliver_at_ms, before + 1500);
  }

  ASSERT_TRUE(arrivals.WaitForCount(3));
  std::vector<Arrival> got = arrivals.Snapshot();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].delivery.payload, "now");
  EXPECT_EQ(got[1].delivery.payload, "by-time");
  EXPECT_EQ(got[2].delivery.payload, "by-delay");
  EXPECT_EQ(DeliverAtHeader(got[1].delivery), before + 1500);
  EXPECT_EQ(DeliverAtHeader(got[2].delivery), delay_due);
  for (const Arrival& a : {got[1], got[2]}) {
    EXPECT_GE(a.at_ms, DeliverAtHeader(a.delivery)) << a.delivery.payload << " delivered early";
  }
  EXPECT_EQ(test::StatOf(*client, "scheduled_total"), 2);
}

TEST_F(ScheduleTest, ATimeThatPassedWhileTheBrokerWasDownIsDeliveredAfterTheRestart) {
  StartBroker();
  uint64_t scheduled = 0;
  {
    std::unique_ptr<Client> client = test::ConnectClient(broker_->address());
    ASSERT_NE(client, nullptr);
    PublishOptions delayed;
    delayed.delay = milliseconds(1000);
    Publish(*client, "sched", "across", delayed);
    Result<std::vector<PeekedEntry>> peeked = client->PeekQueue("sched");
    ASSERT_TRUE(peeked.ok());
    ASSERT_EQ(peeked->size(), 1u);
    scheduled = (*peeked)[0].publish_time_ms + 1000;
  }
  // Down hard (SIGKILL), and kept down past the scheduled time.
  broker_->Kill(SIGKILL);
  ASSERT_TRUE(broker_->Wait(kWait).ok());
  while (WallMs() <= scheduled) {
    std::this_thread::sleep_for(milliseconds(scheduled + 1 - WallMs()));
  }
  ASSERT_TRUE(broker_->Start().ok());
  std::unique_ptr<Client> client = test::ConnectClient(broker_->address());
  ASSERT_NE(client, nullptr);
  Arrivals arrivals;
  ASSERT_TRUE(client->Subscribe("sched", {}, arrivals.Handler()).ok());
  ASSERT_TRUE(arrivals.WaitForCount(1));
  std::vector<Arrival> got = arrivals.Snapshot();
  EXPECT_EQ(got[0].delivery.payload, "across");
  EXPECT_EQ(DeliverAtHeader(got[0].delivery), scheduled);
  EXPECT_GE(got[0].at_ms, scheduled);
}

TEST_F(ScheduleTest, AMessageScheduledBeforeARestartWaitsForItsTimeAfterIt) {
  StartBroker();
  std::unique_ptr<Client> client = test::ConnectClient(broker_->address());
  ASSERT_NE(client, nullptr);
  PublishOptions delayed;
  delayed.delay = milliseconds(3000);
  Publish(*client, "sched", "later", delayed);
  client.reset();
  ASSERT_TRUE(broker_->Restart().ok());
  client = test::ConnectClient(broker_->address());
  ASSERT_NE(client, nullptr);
  Arrivals arrivals;
  ASSERT_TRUE(client->Subscribe("sched", {}, arrivals.Handler()).ok());
  ASSERT_TRUE(arrivals.WaitForCount(1));
  std::vector<Arrival> got = arrivals.Snapshot();
  EXPECT_GE(got[0].at_ms, DeliverAtHeader(got[0].delivery));
}

// The subscription's backoff list: each nack without a delay waits the
// next delay, while other entries go on.
TEST_F(ScheduleTest, BackoffOrdersRedeliveriesAndWaitsAtLeastEachDelay) {
  StartBroker({"--redelivery-backoff", "10m"});  // overridden by the subscription
  std::unique_ptr<Client> client = test::ConnectClient(broker_->address());
  ASSERT_NE(client, nullptr);
  std::mutex mu;
  std::vector<uint64_t> nacked_at;  // wall ms of each nack of "poison"
  Arrivals arrivals;
  SubscribeOptions sub;
  sub.backoff = "400ms,800ms";
  Result<SubscriptionId> subscription =
      client->Subscribe("work", sub, arrivals.Handler([&](const Delivery& d) {
        if (d.payload == "poison" && d.delivery_count < 3) {
          {
            std::lock_guard<std::mutex> lock(mu);
            nacked_at.push_back(WallMs());
          }
          (void)client->Nack(d.subscription, d.seq);
        } else {
          (void)client->Ack(d.subscription, d.seq);
        }
      }));
  ASSERT_TRUE(subscription.ok()) << subscription.status().ToString();
  Publish(*client, "work", "poison");
  Publish(*client, "work", "good");
  ASSERT_TRUE(arrivals.WaitForCount(4));
  std::vector<Arrival> got = arrivals.Snapshot();
  ASSERT_EQ(got.size(), 4u);
  std::vector<std::string> order;
  for (const Arrival& a : got) {
    order.push_back(a.delivery.payload + "#" + std::to_string(a.delivery.delivery_count));
  }
  EXPECT_EQ(order, (std::vector<std::string>{"poison#1", "good#1", "poison#2", "poison#3"}));
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(nacked_at.size(), 2u);
  EXPECT_GE(got[2].at_ms, nacked_at[0] + 400) << "redelivered before the first delay";
  EXPECT_GE(got[3].at_ms, nacked_at[1] + 800) << "redelivered before the second delay";
}

// The queue's backoff (exponential, set with ConfigureQueue) applies to
// ack-wait expiries; queue show lists it with its source.
TEST_F(ScheduleTest, TheQueuesBackoffDelaysAckWaitRedeliveries) {
  StartBroker();
  std::unique_ptr<Client> client = test::ConnectClient(broker_->address());
  ASSERT_NE(client, nullptr);
  QueueSettings settings;
  settings.backoff = "exp:1s:1s";  // a wait in [500 ms, 1 s]
  ASSERT_TRUE(client->ConfigureQueue("slow", settings).ok());
  QueueSettings bad;
  bad.backoff = "exp:1s";
  Status refused = client->ConfigureQueue("slow", bad);
  EXPECT_EQ(refused.code(), ErrorCode::kInvalidArgument) << refused.ToString();
  Result<QueueInfo> info = client->ShowQueue("slow");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  bool listed = false;
  for (const QueueLimitInfo& l : info->limits) {
    if (l.name != "backoff") continue;
    listed = true;
    EXPECT_EQ(l.value, "exp:1s:1s");
    EXPECT_EQ(l.source, "queue");
  }
  EXPECT_TRUE(listed);

  Arrivals arrivals;
  SubscribeOptions sub;
  sub.ack_wait = milliseconds(200);
  ASSERT_TRUE(client->Subscribe("slow", sub, arrivals.Handler()).ok());  // never acks
  Publish(*client, "slow", "m");
  ASSERT_TRUE(arrivals.WaitForCount(2));
  std::vector<Arrival> got = arrivals.Snapshot();
  EXPECT_EQ(got[1].delivery.delivery_count, 2u);
  EXPECT_GE(got[1].at_ms, got[0].at_ms + 200 + 500) << "redelivered before ack wait + backoff";
}

// The broker's default, --redelivery-backoff, applies to a nack without a
// delay when neither the queue nor the subscription sets one.
TEST_F(ScheduleTest, TheBrokersDefaultBackoffApplies) {
  StartBroker({"--redelivery-backoff", "700ms"});
  std::unique_ptr<Client> client = test::ConnectClient(broker_->address());
  ASSERT_NE(client, nullptr);
  std::mutex mu;
  uint64_t nacked_at = 0;
  Arrivals arrivals;
  ASSERT_TRUE(client
                  ->Subscribe("q", {}, arrivals.Handler([&](const Delivery& d) {
                    if (d.delivery_count == 1) {
                      std::lock_guard<std::mutex> lock(mu);
                      nacked_at = WallMs();
                      (void)client->Nack(d.subscription, d.seq);
                    }
                  }))
                  .ok());
  Publish(*client, "q", "m");
  ASSERT_TRUE(arrivals.WaitForCount(2));
  std::vector<Arrival> got = arrivals.Snapshot();
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_GE(got[1].at_ms, nacked_at + 700);
}

}  // namespace
}  // namespace hermod
