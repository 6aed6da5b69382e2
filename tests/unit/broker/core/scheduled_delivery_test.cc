// Scheduled delivery (docs/semantics.md, "Scheduled delivery") on the
// in-memory store with a fake clock: a scheduled entry is stored at once,
// held back until its time while later entries go on, and delivered once
// the clock passes its time, across a restart too.
#include <gtest/gtest.h>

#include "broker.h"
#include "core_harness.h"

namespace hermod::core::testing {
namespace {

class ScheduledDeliveryTest : public ::testing::Test {
 protected:
  CoreHarness h;
  std::vector<Delivered>& deliveries(ClientId c) { return h.out().deliveries[c]; }

  // Publishes `payload` to q, deliverable delay_ms from now.
  void PublishLater(ClientId client, std::string_view payload, uint64_t delay_ms) {
    PublishRequest p;
    p.correlation_id = ++correlation_;
    p.queue = "q";
    p.payload = payload;
    p.delay_ms = delay_ms;
    h.broker().Publish(client, p);
  }
  std::vector<std::string> Payloads(ClientId c) {
    std::vector<std::string> out;
    for (const Delivered& d : deliveries(c)) out.push_back(d.payload);
    return out;
  }
  uint64_t correlation_ = 1000;
};

TEST_F(ScheduledDeliveryTest, WaitsForItsTimeWhileLaterEntriesGoFirst) {
  h.Start();
  ClientId c = h.Connect();
  h.Subscribe(c, 1, "q", 10);
  PublishLater(c, "later", 5000);
  h.Publish(c, "q", "now");
  h.Turn();
  // Stored and confirmed at once, counted in depth.
  ASSERT_EQ(h.out().confirms[c].size(), 2u);
  EXPECT_TRUE(h.out().confirms[c][0].status.ok());
  EXPECT_EQ(h.Depth("q"), 2u);
  EXPECT_EQ(Payloads(c), std::vector<std::string>{"now"});
  h.broker().Ack(c, 1, 2, 2);
  h.Advance(4999);
  EXPECT_EQ(Payloads(c), std::vector<std::string>{"now"}) << "delivered before its time";
  h.Advance(1);
  ASSERT_EQ(Payloads(c), (std::vector<std::string>{"now", "later"}));
  const Delivered& late = deliveries(c)[1];
  EXPECT_EQ(late.seq, 1u);
  EXPECT_EQ(late.delivery_count, 1u);
  EXPECT_EQ(late.headers.at("x-hermod-deliver-at"),
            std::to_string(FakeClock::kWallBase + 1000 + 5000));
  EXPECT_EQ(h.Stat("scheduled_total"), 1);
}

TEST_F(ScheduledDeliveryTest, EntriesAreHeldInTheirOrderOfTime) {
  h.Start();
  ClientId c = h.Connect();
  PublishLater(c, "third", 3000);
  PublishLater(c, "first", 1000);
  PublishLater(c, "second", 2000);
  h.Turn();
  h.Subscribe(c, 1, "q", 10);
  h.Turn();
  EXPECT_TRUE(deliveries(c).empty());
  h.Advance(3000);
  EXPECT_EQ(Payloads(c), (std::vector<std::string>{"first", "second", "third"}));
}

TEST_F(ScheduledDeliveryTest, WithoutCreditItWaitsAsAnyEntry) {
  h.Start();
  ClientId c = h.Connect();
  PublishLater(c, "later", 1000);
  h.Publish(c, "q", "a");
  h.Turn();
  h.Subscribe(c, 1, "q", 1);
  h.Turn();
  EXPECT_EQ(Payloads(c), std::vector<std::string>{"a"});
  h.Advance(2000);
  EXPECT_EQ(Payloads(c), std::vector<std::string>{"a"}) << "delivered past the credit";
  h.broker().Ack(c, 1, 2, 2);
  h.Turn();
  EXPECT_EQ(Payloads(c), (std::vector<std::string>{"a", "later"}));
}

TEST_F(ScheduledDeliveryTest, SurvivesARestartFromTheIndex) {
  h.Start();
  ClientId c = h.Connect();
  PublishLater(c, "later", 10000);
  h.Turn();
  h.Advance(2000);  // past the apply lag: the entry is in the index
  h.Restart();
  c = h.Connect();
  h.Subscribe(c, 1, "q", 10);
  h.Turn();
  EXPECT_TRUE(deliveries(c).empty()) << "delivered before its time after a restart";
  h.Advance(7999);
  EXPECT_TRUE(deliveries(c).empty());
  h.Advance(1);
  EXPECT_EQ(Payloads(c), std::vector<std::string>{"later"});
}

TEST_F(ScheduledDeliveryTest, ATimeThatPassedDuringTheRestartDeliversAtOnce) {
  h.Start();
  ClientId c = h.Connect();
  PublishLater(c, "later", 1000);
  h.Turn();
  h.Restart();
  h.Advance(5000);
  c = h.Connect();
  h.Subscribe(c, 1, "q", 10);
  h.Turn();
  EXPECT_EQ(Payloads(c), std::vector<std::string>{"later"});
}

TEST_F(ScheduledDeliveryTest, PeekShowsTheTimeUntilItPasses) {
  h.Start();
  ClientId c = h.Connect();
  PublishLater(c, "later", 5000);
  h.Publish(c, "q", "now");
  h.Subscribe(c, 1, "q", 10);  // takes the scheduled entry into memory
  h.Turn();
  Result<std::vector<PeekedEntry>> peeked = h.broker().PeekQueue("q", 0, 10);
  ASSERT_TRUE(peeked.ok());
  ASSERT_EQ(peeked->size(), 2u);
  EXPECT_EQ((*peeked)[0].deliver_at_ms, FakeClock::kWallBase + 1000 + 5000);
  EXPECT_FALSE((*peeked)[0].inflight);
  EXPECT_EQ((*peeked)[1].deliver_at_ms, 0u);
  EXPECT_TRUE((*peeked)[1].inflight);
  h.Advance(5000);
  peeked = h.broker().PeekQueue("q", 0, 10);
  ASSERT_TRUE(peeked.ok());
  ASSERT_EQ(peeked->size(), 2u);
  EXPECT_EQ((*peeked)[0].deliver_at_ms, 0u) << "still shown as scheduled after its time";
}

TEST_F(ScheduledDeliveryTest, AScheduledEntryStillExpires) {
  h.Start();
  ClientId c = h.Connect();
  QueueOverrides o;
  o.max_age_ms = 2000;  // set after publish: applies at delivery
  PublishLater(c, "later", 3000);
  h.Turn();
  h.Configure(c, "q", o);
  h.Subscribe(c, 1, "q", 10);
  h.Advance(3000);
  EXPECT_TRUE(deliveries(c).empty());
  EXPECT_EQ(h.Depth("q"), 0u);
  EXPECT_EQ(h.Stat("expired_total"), 1);
}

TEST_F(ScheduledDeliveryTest, PurgeRemovesHeldEntries) {
  h.Start();
  ClientId c = h.Connect();
  PublishLater(c, "later", 3000);
  h.Subscribe(c, 1, "q", 10);
  h.Turn();
  h.broker().PurgeQueue(c, 77, "q", /*forget=*/false);
  h.Turn();
  h.Advance(5000);
  EXPECT_TRUE(deliveries(c).empty());
  EXPECT_EQ(h.Depth("q"), 0u);
}

}  // namespace
}  // namespace hermod::core::testing
