// Redelivery backoff (docs/semantics.md, "Redelivery backoff") on the
// in-memory store with a fake clock: nacks without a delay and ack-wait
// expiries wait the backoff's delay (a list's Nth, or exponential with
// jitter), per broker, queue or subscription; disconnects do not, and
// dead-lettering still wins.
#include <gtest/gtest.h>

#include "broker.h"
#include "core_harness.h"

namespace hermod::core::testing {
namespace {

class BackoffTest : public ::testing::Test {
 protected:
  CoreHarness h;
  std::vector<Delivered>& deliveries(ClientId c) { return h.out().deliveries[c]; }

  void SetDefault(std::string_view spec) {
    Result<RedeliveryBackoff> parsed = ParseBackoff(spec);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    h.config().queue_defaults.backoff = *parsed;
  }
  void SubscribeWith(ClientId c, SubscriptionId sub, std::string_view backoff,
                     uint32_t ack_wait_ms = 0) {
    SubscribeRequest s;
    s.correlation_id = 500 + sub;
    s.subscription_id = sub;
    s.queue = "q";
    s.credit = 10;
    s.ack_wait_ms = ack_wait_ms;
    s.backoff = backoff;
    h.broker().Subscribe(c, s);
  }
  // Moves time on a millisecond at a time until c gets its next delivery:
  // it must come no sooner than min_ms and no later than max_ms from now
  // (now: the entry was given back, by a nack or an ack-wait expiry set
  // off by the previous call's delivery).
  void ExpectRedeliveredAfter(ClientId c, uint64_t min_ms, uint64_t max_ms) {
    size_t before = deliveries(c).size();
    uint64_t waited = 0;
    while (deliveries(c).size() == before && waited <= max_ms) {
      h.Advance(1);
      ++waited;
    }
    ASSERT_EQ(deliveries(c).size(), before + 1) << "not redelivered within " << max_ms << " ms";
    EXPECT_GE(waited, min_ms) << "redelivered before " << min_ms << " ms";
    EXPECT_LE(waited, max_ms);
  }
};

TEST_F(BackoffTest, ANackWithoutDelayWaitsTheListsNthDelayAndTheLastRepeats) {
  SetDefault("1s,5s");
  h.Start();
  ClientId c = h.Connect();
  h.Publish(c, "q", "m");
  h.Subscribe(c, 1, "q", 10);
  h.Turn();
  ASSERT_EQ(deliveries(c).size(), 1u);
  h.broker().Nack(c, 1, 1, 0);
  h.Turn();
  EXPECT_EQ(deliveries(c).size(), 1u) << "redelivered at once despite the backoff";
  ExpectRedeliveredAfter(c, 1000, 1000);
  EXPECT_EQ(deliveries(c).back().delivery_count, 2u);
  h.broker().Nack(c, 1, 1, 0);
  ExpectRedeliveredAfter(c, 5000, 5000);
  h.broker().Nack(c, 1, 1, 0);
  ExpectRedeliveredAfter(c, 5000, 5000);
  EXPECT_EQ(deliveries(c).back().delivery_count, 4u);
}

TEST_F(BackoffTest, LaterEntriesGoOnWhileOneBacksOff) {
  SetDefault("10s");
  h.Start();
  ClientId c = h.Connect();
  h.Publish(c, "q", "a");
  h.Subscribe(c, 1, "q", 1);
  h.Turn();
  h.Publish(c, "q", "b");
  h.broker().Nack(c, 1, 1, 0);
  h.Turn();
  ASSERT_EQ(deliveries(c).size(), 2u);
  EXPECT_EQ(deliveries(c)[1].payload, "b");
  h.broker().Ack(c, 1, 2, 2);
  h.Advance(10000);
  ASSERT_EQ(deliveries(c).size(), 3u);
  EXPECT_EQ(deliveries(c)[2].payload, "a");
}

TEST_F(BackoffTest, AnExplicitNackDelayWinsOverTheBackoff) {
  SetDefault("10s");
  h.Start();
  ClientId c = h.Connect();
  h.Publish(c, "q", "m");
  h.Subscribe(c, 1, "q", 10);
  h.Turn();
  h.broker().Nack(c, 1, 1, 200);
  ExpectRedeliveredAfter(c, 200, 200);
}

TEST_F(BackoffTest, AckWaitExpiriesBackOffExponentiallyWithJitterUpToTheCap) {
  SetDefault("exp:1s:4s");
  h.Start();
  ClientId c = h.Connect();
  h.Publish(c, "q", "m");
  h.Subscribe(c, 1, "q", 10, /*ack_wait_ms=*/100);
  h.Turn();
  ASSERT_EQ(deliveries(c).size(), 1u);
  // After delivery n, the wait is in [d/2, d] with d = min(4s, 1s * 2^(n-1)),
  // on top of the 100 ms ack wait.
  for (uint64_t d : {1000, 2000, 4000, 4000, 4000}) {
    ExpectRedeliveredAfter(c, 100 + d / 2, 100 + d);
  }
  EXPECT_EQ(deliveries(c).back().delivery_count, 6u);
  EXPECT_EQ(h.Stat("ack_timeouts_total"), 5);
}

TEST_F(BackoffTest, JitterSpreadsEntriesThatFailedTogether) {
  SetDefault("exp:10s:10s");
  h.Start();
  ClientId c = h.Connect();
  for (int i = 0; i < 20; ++i) h.Publish(c, "q", "m");
  h.Subscribe(c, 1, "q", 100);
  h.Turn();
  for (Seq seq = 1; seq <= 20; ++seq) h.broker().Nack(c, 1, seq, 0);
  h.Turn();
  ASSERT_EQ(deliveries(c).size(), 20u);
  h.Advance(4999);
  EXPECT_EQ(deliveries(c).size(), 20u);
  h.Advance(2500);
  size_t partway = deliveries(c).size();
  EXPECT_GT(partway, 20u) << "no jitter: none came back in the first half of [5s, 10s]";
  EXPECT_LT(partway, 40u) << "no jitter: all came back in the first half of [5s, 10s]";
  h.Advance(2501);
  EXPECT_EQ(deliveries(c).size(), 40u);
}

TEST_F(BackoffTest, TheQueuesBackoffOverridesTheDefaultAndAnEmptyOneResetsIt) {
  SetDefault("5s");
  h.Start();
  ClientId c = h.Connect();
  QueueOverrides o;
  o.backoff = "1s";
  h.Configure(c, "q", o);
  h.Publish(c, "q", "m");
  h.Subscribe(c, 1, "q", 10);
  h.Turn();
  Result<QueueDetail> detail = h.broker().ShowQueue("q");
  ASSERT_TRUE(detail.ok());
  auto backoff_limit = [&]() -> QueueLimitInfo {
    for (const QueueLimitInfo& l : detail->limits) {
      if (l.name == "backoff") return l;
    }
    ADD_FAILURE() << "queue show lists no backoff";
    return {};
  };
  EXPECT_EQ(backoff_limit().value, "1s");
  EXPECT_TRUE(backoff_limit().overridden);
  h.broker().Nack(c, 1, 1, 0);
  ExpectRedeliveredAfter(c, 1000, 1000);

  o.backoff = "";
  h.Configure(c, "q", o);
  h.Turn();
  detail = h.broker().ShowQueue("q");
  ASSERT_TRUE(detail.ok());
  EXPECT_EQ(backoff_limit().value, "5s");
  EXPECT_FALSE(backoff_limit().overridden);
  h.broker().Nack(c, 1, 1, 0);
  ExpectRedeliveredAfter(c, 5000, 5000);
}

TEST_F(BackoffTest, AQueueMayTurnTheDefaultOff) {
  SetDefault("5s");
  h.Start();
  ClientId c = h.Connect();
  QueueOverrides o;
  o.backoff = "none";
  h.Configure(c, "q", o);
  h.Publish(c, "q", "m");
  h.Subscribe(c, 1, "q", 10);
  h.Turn();
  h.broker().Nack(c, 1, 1, 0);
  h.Turn();
  EXPECT_EQ(deliveries(c).size(), 2u);
}

TEST_F(BackoffTest, AnInvalidQueueBackoffIsRefused) {
  h.Start();
  ClientId c = h.Connect();
  QueueOverrides o;
  o.backoff = "1s,soon";
  h.Configure(c, "q", o);
  h.Turn();
  ASSERT_EQ(h.out().replies[c].size(), 1u);
  EXPECT_EQ(h.out().replies[c][0].kind, "error");
  EXPECT_EQ(h.out().replies[c][0].status.code(), ErrorCode::kInvalidArgument);
}

TEST_F(BackoffTest, TheSubscriptionsBackoffOverridesTheQueues) {
  SetDefault("10s");
  h.Start();
  ClientId c = h.Connect();
  h.Publish(c, "q", "m");
  SubscribeWith(c, 1, "300ms");
  h.Turn();
  h.broker().Nack(c, 1, 1, 0);
  ExpectRedeliveredAfter(c, 300, 300);
}

TEST_F(BackoffTest, AnInvalidSubscriptionBackoffIsRefused) {
  h.Start();
  ClientId c = h.Connect();
  SubscribeWith(c, 1, "exp:5s:1s");
  h.Turn();
  ASSERT_EQ(h.out().replies[c].size(), 1u);
  EXPECT_EQ(h.out().replies[c][0].kind, "error");
  EXPECT_EQ(h.out().replies[c][0].status.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(h.out().replies[c][0].status.message().find("CAP"), std::string::npos);
  EXPECT_EQ(h.broker().subscriptions(), 0u);
}

TEST_F(BackoffTest, ADisconnectRedeliversAtOnce) {
  SetDefault("10s");
  h.Start();
  ClientId a = h.Connect();
  ClientId b = h.Connect();
  h.Publish(a, "q", "m");
  h.Subscribe(a, 1, "q", 10);
  h.Turn();
  h.Subscribe(b, 1, "q", 10);
  h.broker().Disconnect(a);
  h.Turn();
  ASSERT_EQ(deliveries(b).size(), 1u);
}

TEST_F(BackoffTest, DeadLetteringWinsOverTheBackoff) {
  SetDefault("10s");
  h.config().queue_defaults.max_deliveries = 2;
  h.Start();
  ClientId c = h.Connect();
  h.Publish(c, "q", "poison");
  h.Subscribe(c, 1, "q", 10);
  h.Turn();
  h.broker().Nack(c, 1, 1, 0);
  ExpectRedeliveredAfter(c, 10000, 10000);
  h.broker().Nack(c, 1, 1, 0);
  h.Turn();
  EXPECT_EQ(h.Depth("q"), 0u) << "an exhausted entry waited the backoff";
  EXPECT_EQ(h.Depth("q.dlq"), 1u);
  EXPECT_EQ(h.Stat("dead_lettered_total"), 1);
}

TEST_F(BackoffTest, AnExpiredAckWaitPastMaxDeliveriesDeadLettersAtOnce) {
  SetDefault("10s");
  h.config().queue_defaults.max_deliveries = 1;
  h.Start();
  ClientId c = h.Connect();
  h.Publish(c, "q", "poison");
  h.Subscribe(c, 1, "q", 10, /*ack_wait_ms=*/100);
  h.Turn();
  h.Advance(100);
  EXPECT_EQ(h.Depth("q"), 0u);
  EXPECT_EQ(h.Depth("q.dlq"), 1u);
}

}  // namespace
}  // namespace hermod::core::testing
