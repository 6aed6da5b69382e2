// The core's delivery rules, on the in-memory store with a fake clock
// (core_harness.h): no sockets, no sleeps; time moves only by Advance().
#include "broker.h"

#include <gtest/gtest.h>

#include "core_harness.h"

namespace hermod::core::testing {
namespace {

class BrokerTest : public ::testing::Test {
 protected:
  CoreHarness h;
  std::vector<Delivered>& deliveries(ClientId c) { return h.out().deliveries[c]; }
  std::vector<Confirm>& confirms(ClientId c) { return h.out().confirms[c]; }
};

TEST_F(BrokerTest, ConfirmsOnlyOnceTheBatchIsDurable) {
  h.Start();
  ClientId pub = h.Connect();
  h.committer().Hold();
  h.Publish(pub, "q", "hello");
  h.Turn();
  EXPECT_EQ(h.committer().held(), 1u);
  EXPECT_TRUE(confirms(pub).empty());
  h.committer().Release();
  h.Turn();
  ASSERT_EQ(confirms(pub).size(), 1u);
  EXPECT_TRUE(confirms(pub)[0].status.ok());
  EXPECT_EQ(confirms(pub)[0].seq, 1u);
  EXPECT_EQ(h.Stat("published_total"), 1);
}

TEST_F(BrokerTest, RepliesLeaveInRequestOrder) {
  h.Start();
  ClientId pub = h.Connect();
  for (int i = 0; i < 5; ++i) h.Publish(pub, "q" + std::to_string(i % 2), "m");
  h.Turn();
  ASSERT_EQ(confirms(pub).size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(confirms(pub)[i].correlation_id, i + 1);
}

TEST_F(BrokerTest, DeliversOldestFirstWithinCredit) {
  h.Start();
  ClientId pub = h.Connect();
  ClientId sub = h.Connect();
  for (int i = 1; i <= 3; ++i) h.Publish(pub, "q", "m" + std::to_string(i));
  h.Turn();
  h.Subscribe(sub, 7, "q", /*credit=*/2);
  h.Turn();
  ASSERT_EQ(deliveries(sub).size(), 2u);
  EXPECT_EQ(deliveries(sub)[0].payload, "m1");
  EXPECT_EQ(deliveries(sub)[1].payload, "m2");
  EXPECT_EQ(deliveries(sub)[0].delivery_count, 1u);
  h.broker().Ack(sub, 7, 1, 1);
  h.Turn();
  ASSERT_EQ(deliveries(sub).size(), 3u);
  EXPECT_EQ(deliveries(sub)[2].payload, "m3");
  EXPECT_EQ(h.Depth("q"), 2u);
}

TEST_F(BrokerTest, AckRangeRemovesEveryEntryInIt) {
  h.Start();
  ClientId c = h.Connect();
  for (int i = 0; i < 4; ++i) h.Publish(c, "q", "m");
  h.Subscribe(c, 1, "q", 10);
  h.Turn();
  ASSERT_EQ(deliveries(c).size(), 4u);
  h.broker().Ack(c, 1, 1, 3);
  h.Turn();
  EXPECT_EQ(h.Depth("q"), 1u);
  EXPECT_EQ(h.Stat("acked_total"), 3);
}

TEST_F(BrokerTest, AckWaitRedeliversWithTheCountRaised) {
  h.Start();
  ClientId c = h.Connect();
  h.Publish(c, "q", "m");
  h.Subscribe(c, 1, "q", 10, /*ack_wait_ms=*/1000);
  h.Turn();
  ASSERT_EQ(deliveries(c).size(), 1u);
  h.Advance(999);
  EXPECT_EQ(deliveries(c).size(), 1u) << "redelivered before its ack wait ran out";
  h.Advance(1);
  ASSERT_EQ(deliveries(c).size(), 2u);
  EXPECT_EQ(deliveries(c)[1].seq, 1u);
  EXPECT_EQ(deliveries(c)[1].delivery_count, 2u);
  EXPECT_EQ(h.Stat("ack_timeouts_total"), 1);
  EXPECT_EQ(h.Stat("redelivered_total"), 1);
}

TEST_F(BrokerTest, AnAckedDeliveryIsNotRedelivered) {
  h.Start();
  ClientId c = h.Connect();
  h.Publish(c, "q", "m");
  h.Subscribe(c, 1, "q", 10, 1000);
  h.Turn();
  h.broker().Ack(c, 1, 1, 1);
  h.Advance(5000);
  EXPECT_EQ(deliveries(c).size(), 1u);
  EXPECT_EQ(h.Stat("ack_timeouts_total"), 0);
}

TEST_F(BrokerTest, NackWithDelayRedeliversAfterTheDelay) {
  h.Start();
  ClientId c = h.Connect();
  h.Publish(c, "q", "m");
  h.Subscribe(c, 1, "q", 10);
  h.Turn();
  h.broker().Nack(c, 1, 1, /*delay_ms=*/500);
  h.Turn();
  EXPECT_EQ(deliveries(c).size(), 1u);
  h.Advance(499);
  EXPECT_EQ(deliveries(c).size(), 1u) << "redelivered before the nack's delay";
  h.Advance(1);
  ASSERT_EQ(deliveries(c).size(), 2u);
  EXPECT_EQ(deliveries(c)[1].delivery_count, 2u);
}

TEST_F(BrokerTest, NackWithoutDelayRedeliversAtOnce) {
  h.Start();
  ClientId c = h.Connect();
  h.Publish(c, "q", "m");
  h.Subscribe(c, 1, "q", 10);
  h.Turn();
  h.broker().Nack(c, 1, 1, 0);
  h.Turn();
  ASSERT_EQ(deliveries(c).size(), 2u);
  EXPECT_EQ(h.Stat("nacked_total"), 1);
}

TEST_F(BrokerTest, MaxDeliveriesMovesTheEntryToItsDeadLetterQueue) {
  h.Start();
  ClientId c = h.Connect();
  QueueOverrides o;
  o.max_deliveries = 2;
  h.Configure(c, "q", o);
  h.Publish(c, "q", "poison");
  h.Subscribe(c, 1, "q", 10);
  h.Turn();
  h.broker().Nack(c, 1, 1, 0);
  h.Turn();
  ASSERT_EQ(deliveries(c).size(), 2u);
  h.broker().Nack(c, 1, 1, 0);
  h.Turn();
  EXPECT_EQ(deliveries(c).size(), 2u) << "delivered past max_deliveries";
  EXPECT_EQ(h.Depth("q"), 0u);
  EXPECT_EQ(h.Depth("q.dlq"), 1u);
  EXPECT_EQ(h.Stat("dead_lettered_total"), 1);
  h.Subscribe(c, 2, "q.dlq", 10);
  h.Turn();
  ASSERT_EQ(deliveries(c).size(), 3u);
  const Delivered& dead = deliveries(c)[2];
  EXPECT_EQ(dead.payload, "poison");
  EXPECT_EQ(dead.headers.at("x-hermod-dead-letter-from"), "q");
  EXPECT_EQ(dead.headers.at("x-hermod-dead-letter-reason"), "nacked");
  EXPECT_EQ(dead.headers.at("x-hermod-delivery-count"), "2");
  EXPECT_EQ(dead.headers.at("x-hermod-original-seq"), "1");
}

TEST_F(BrokerTest, AConsumerGoneGivesItsDeliveriesToAnother) {
  h.Start();
  ClientId a = h.Connect();
  ClientId b = h.Connect();
  h.Publish(a, "q", "m");
  h.Subscribe(a, 1, "q", 10);
  h.Turn();
  ASSERT_EQ(deliveries(a).size(), 1u);
  h.Subscribe(b, 1, "q", 10);
  h.Turn();
  EXPECT_TRUE(deliveries(b).empty());
  h.broker().Disconnect(a);
  h.Turn();
  ASSERT_EQ(deliveries(b).size(), 1u);
  EXPECT_EQ(deliveries(b)[0].delivery_count, 2u);
}

TEST_F(BrokerTest, CompetingConsumersShareAQueue) {
  h.Start();
  ClientId a = h.Connect();
  ClientId b = h.Connect();
  h.Subscribe(a, 1, "q", 100);
  h.Subscribe(b, 1, "q", 100);
  for (int i = 0; i < 10; ++i) h.Publish(a, "q", "m");
  h.Turn();
  EXPECT_EQ(deliveries(a).size() + deliveries(b).size(), 10u);
  EXPECT_GT(deliveries(a).size(), 0u);
  EXPECT_GT(deliveries(b).size(), 0u);
}

TEST_F(BrokerTest, ExpiredEntriesAreNeverDelivered) {
  h.Start();
  ClientId c = h.Connect();
  h.Publish(c, "q", "short", /*ttl_ms=*/1000);
  h.Publish(c, "q", "long", /*ttl_ms=*/60000);
  h.Turn();
  h.Advance(1000);
  h.Subscribe(c, 1, "q", 10);
  h.Turn();
  ASSERT_EQ(deliveries(c).size(), 1u);
  EXPECT_EQ(deliveries(c)[0].payload, "long");
  EXPECT_EQ(h.Stat("expired_total"), 1);
}

TEST_F(BrokerTest, TheSweepRemovesExpiredEntriesNobodyConsumes) {
  h.config().sweep_interval_ms = 1000;
  h.Start();
  ClientId c = h.Connect();
  h.Publish(c, "q", "m", /*ttl_ms=*/2000);
  h.Turn();
  h.Advance(1500);  // the record is applied to the index (lag 1 s)
  EXPECT_EQ(h.Depth("q"), 1u);
  h.Advance(2000);  // expired, and swept
  EXPECT_EQ(h.Depth("q"), 0u);
  EXPECT_EQ(h.Stat("expired_total"), 1);
}

TEST_F(BrokerTest, MaxAgeExpiresEntriesPublishedBeforeItWasSet) {
  h.Start();
  ClientId c = h.Connect();
  h.Publish(c, "q", "old");
  h.Turn();
  h.Advance(5000);
  QueueOverrides o;
  o.max_age_ms = 1000;
  h.Configure(c, "q", o);
  h.Publish(c, "q", "new");
  h.Subscribe(c, 1, "q", 10);
  h.Turn();
  ASSERT_EQ(deliveries(c).size(), 1u);
  EXPECT_EQ(deliveries(c)[0].payload, "new");
}

TEST_F(BrokerTest, AFullQueueThatRejectsRefusesThePublish) {
  h.Start();
  ClientId c = h.Connect();
  QueueOverrides o;
  o.max_messages = 2;
  h.Configure(c, "q", o);
  for (int i = 0; i < 3; ++i) h.Publish(c, "q", "m");
  h.Turn();
  ASSERT_EQ(confirms(c).size(), 3u);
  // A refusal answers at once; confirms wait for their batch.
  std::sort(confirms(c).begin(), confirms(c).end(),
            [](const Confirm& a, const Confirm& b) { return a.correlation_id < b.correlation_id; });
  EXPECT_TRUE(confirms(c)[0].status.ok());
  EXPECT_TRUE(confirms(c)[1].status.ok());
  EXPECT_EQ(confirms(c)[2].status.code(), ErrorCode::kLimitExceeded);
  EXPECT_EQ(h.Depth("q"), 2u);
  EXPECT_EQ(h.Stat("refused_full_total"), 1);
}

TEST_F(BrokerTest, AFullQueueThatDropsOldestMakesRoom) {
  h.Start();
  ClientId c = h.Connect();
  QueueOverrides o;
  o.max_messages = 2;
  o.overflow = Overflow::kDropOldest;
  h.Configure(c, "q", o);
  for (int i = 1; i <= 3; ++i) h.Publish(c, "q", "m" + std::to_string(i));
  h.Subscribe(c, 1, "q", 10);
  h.Turn();
  for (const Confirm& confirm : confirms(c)) EXPECT_TRUE(confirm.status.ok());
  ASSERT_EQ(deliveries(c).size(), 2u);
  EXPECT_EQ(deliveries(c)[0].payload, "m2");
  EXPECT_EQ(deliveries(c)[1].payload, "m3");
  EXPECT_EQ(h.Stat("dropped_total"), 1);
}

TEST_F(BrokerTest, ADedupIdRepeatedInsideTheWindowIsStoredOnce) {
  h.config().dedup_window_ms = 10000;
  h.Start();
  ClientId c = h.Connect();
  h.Publish(c, "q", "m", 0, "order-1");
  h.Turn();
  h.Advance(2000);  // past the apply lag: the id is in the store's dedup table
  h.Publish(c, "q", "m", 0, "order-1");
  h.Turn();
  ASSERT_EQ(confirms(c).size(), 2u);
  EXPECT_FALSE(confirms(c)[0].duplicate);
  EXPECT_TRUE(confirms(c)[1].duplicate);
  EXPECT_EQ(confirms(c)[1].msg_id, confirms(c)[0].msg_id);
  EXPECT_EQ(h.Depth("q"), 1u);
}

TEST_F(BrokerTest, ADedupIdPastTheWindowIsANewPublish) {
  h.config().dedup_window_ms = 10000;
  h.config().sweep_interval_ms = 1000;
  h.Start();
  ClientId c = h.Connect();
  h.Publish(c, "q", "m", 0, "order-1");
  h.Turn();
  h.Advance(12000);
  h.Publish(c, "q", "m", 0, "order-1");
  h.Turn();
  ASSERT_EQ(confirms(c).size(), 2u);
  EXPECT_FALSE(confirms(c)[1].duplicate);
  EXPECT_NE(confirms(c)[1].msg_id, confirms(c)[0].msg_id);
  EXPECT_EQ(h.Depth("q"), 2u);
}

TEST_F(BrokerTest, GroupFanOutGoesInChunksAndReachesEveryMember) {
  h.config().fanout_chunk = 3;
  h.Start();
  ClientId c = h.Connect();
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) names.push_back("member" + std::to_string(i));
  h.CreateGroup(c, "g", names);
  h.Turn();
  ASSERT_EQ(h.out().replies[c].size(), 2u);
  EXPECT_EQ(h.out().replies[c][1].count, 10u);

  // One batch at a time: each carries at most fanout_chunk member entries.
  h.PublishToGroup(c, "g", "hi all");
  h.committer().Hold();
  h.Turn();  // the publish and the first chunk go in one batch
  uint64_t before = static_cast<uint64_t>(h.Stat("fanout_entries_total"));
  EXPECT_LE(before, 3u);
  size_t batches = 0;
  while (h.Stat("fanout_entries_total") < 10 && batches < 20) {
    h.committer().Release();
    h.committer().Hold();
    h.Turn();
    uint64_t now = static_cast<uint64_t>(h.Stat("fanout_entries_total"));
    EXPECT_LE(now - before, 3u) << "a batch carried more than fanout_chunk entries";
    before = now;
    ++batches;
  }
  h.committer().Release();
  h.Turn();
  EXPECT_EQ(h.Stat("fanout_entries_total"), 10);
  EXPECT_GE(batches, 3u);
  for (const std::string& name : names) EXPECT_EQ(h.Depth(name), 1u) << name;
  ASSERT_FALSE(confirms(c).empty());
  EXPECT_TRUE(confirms(c).back().status.ok());
}

TEST_F(BrokerTest, AnIdleQueueLeavesMemory) {
  h.Start();
  ClientId c = h.Connect();
  h.Publish(c, "q", "m");
  h.Subscribe(c, 1, "q", 10);
  h.Turn();
  h.broker().Ack(c, 1, 1, 1);
  ASSERT_TRUE(h.broker().Unsubscribe(c, 1).ok());
  h.Turn();
  EXPECT_EQ(h.broker().queues_in_memory(), 1u) << "evicted before its record was applied";
  h.Advance(2000);  // the apply lag passes: the store holds everything
  EXPECT_EQ(h.broker().queues_in_memory(), 0u);
}

TEST_F(BrokerTest, AFailedCommitRefusesItsPublishesAndLaterOnes) {
  h.Start();
  ClientId c = h.Connect();
  h.store().TEST_FailNextCommit(Status::IoError("disk on fire"));
  h.Publish(c, "q", "m");
  h.Turn();
  ASSERT_EQ(confirms(c).size(), 1u);
  EXPECT_EQ(confirms(c)[0].status.code(), ErrorCode::kIoError);
  h.Publish(c, "q", "m");
  ASSERT_EQ(confirms(c).size(), 2u);
  EXPECT_FALSE(confirms(c)[1].status.ok());
  EXPECT_FALSE(h.broker().Healthy());
}

TEST_F(BrokerTest, DeliveriesWaitWhileTheClientCannotTakeThem) {
  h.Start();
  ClientId c = h.Connect();
  h.out().blocked[c] = true;
  h.Publish(c, "q", "m");
  h.Subscribe(c, 1, "q", 10);
  h.Turn();
  EXPECT_TRUE(deliveries(c).empty());
  h.out().blocked.erase(c);
  h.broker().ClientWritable(c);
  h.Turn();
  EXPECT_EQ(deliveries(c).size(), 1u);
}

TEST_F(BrokerTest, ADeliveryCountSurvivesTheIndex) {
  // The count is durable: an entry delivered, then applied to the index
  // and read back, shows the next delivery as count 2.
  h.Start();
  ClientId a = h.Connect();
  h.Publish(a, "q", "m");
  h.Subscribe(a, 1, "q", 10);
  h.Turn();
  h.Advance(2000);  // applied, with its delivery count
  h.broker().Disconnect(a);
  h.Turn();
  h.Advance(2000);
  ClientId b = h.Connect();
  h.Subscribe(b, 1, "q", 10);
  h.Turn();
  ASSERT_EQ(deliveries(b).size(), 1u);
  EXPECT_EQ(deliveries(b)[0].delivery_count, 2u);
}

TEST_F(BrokerTest, ReplayingTheLogBringsBackResendIdsAndLaterIds) {
  // libhermod's resend ids live only in memory and in the log: a restart
  // must find them again in the log tail, through ApplyCommitted.
  h.Start();
  ClientId c = h.Connect();
  const std::string resend_id = "~00000000000000ab-1";
  h.Publish(c, "q", "m", 0, resend_id);
  h.Turn();
  ASSERT_EQ(confirms(c).size(), 1u);
  MsgId original = confirms(c)[0].msg_id;
  h.Restart();  // the record is still in the log tail (apply lag 1 s)
  c = h.Connect();
  h.Publish(c, "q", "m", 0, resend_id);
  h.Publish(c, "q", "other");
  h.Turn();
  ASSERT_EQ(confirms(c).size(), 2u);
  EXPECT_TRUE(confirms(c)[0].duplicate);
  EXPECT_EQ(confirms(c)[0].msg_id, original);
  EXPECT_GT(confirms(c)[1].msg_id, original) << "a message id was reused after the restart";
  EXPECT_EQ(h.Depth("q"), 2u);
}

}  // namespace
}  // namespace hermod::core::testing
