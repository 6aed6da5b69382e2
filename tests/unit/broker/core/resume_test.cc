// Resume after a dropped connection: a subscribe's resume_through settles
// the deliveries the consumer had processed, on the in-memory store with a
// fake clock (core_harness.h). Issue 14.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "broker.h"
#include "core_harness.h"

namespace hermod::core::testing {
namespace {

class ResumeTest : public ::testing::Test {
 protected:
  std::vector<Delivered>& deliveries(ClientId c) { return h.out().deliveries[c]; }

  void Subscribe(ClientId c, SubscriptionId sub, std::string_view queue, uint32_t credit,
                 Seq resume_through, uint32_t ack_wait_ms = 0) {
    SubscribeRequest s;
    s.correlation_id = ++correlation_;
    s.subscription_id = sub;
    s.queue = queue;
    s.credit = credit;
    s.ack_wait_ms = ack_wait_ms;
    s.resume_through = resume_through;
    h.broker().Subscribe(c, s);
    h.Turn();
  }
  std::vector<Seq> Seqs(ClientId c) {
    std::vector<Seq> seqs;
    for (const Delivered& d : deliveries(c)) seqs.push_back(d.seq);
    return seqs;
  }
  void PublishN(ClientId c, std::string_view queue, int n) {
    for (int i = 1; i <= n; ++i) h.Publish(c, queue, "m" + std::to_string(i));
    h.Turn();
  }

  CoreHarness h;
  uint64_t correlation_ = 1000;
};

TEST_F(ResumeTest, ReturnedDeliveriesUpToTheResumeAreSettled) {
  h.Start();
  ClientId a = h.Connect();
  PublishN(a, "q", 5);
  Subscribe(a, 1, "q", 10, 0);
  ASSERT_EQ(deliveries(a).size(), 5u);
  h.broker().Disconnect(a);  // its acks of 1..3 were lost with it
  h.Turn();
  ClientId b = h.Connect();
  Subscribe(b, 1, "q", 10, /*resume_through=*/3);
  EXPECT_EQ(Seqs(b), (std::vector<Seq>{4, 5}));
  for (const Delivered& d : deliveries(b)) EXPECT_EQ(d.delivery_count, 2u);
  EXPECT_EQ(h.Depth("q"), 2u);
  EXPECT_EQ(h.Stat("resumed_acks_total"), 3);
  // Settled for good: after a restart only 4 and 5 are left.
  h.Restart();
  EXPECT_EQ(h.Depth("q"), 2u);
}

TEST_F(ResumeTest, DeliveriesComingBackLaterFromADeadConnectionAreSettled) {
  h.Start();
  ClientId a = h.Connect();
  PublishN(a, "q", 4);
  Subscribe(a, 1, "q", 10, 0, /*ack_wait_ms=*/1000);
  ASSERT_EQ(deliveries(a).size(), 4u);
  // The consumer reconnects before the broker noticed its old connection
  // died: every entry is still in flight there, and it takes no more.
  h.out().blocked[a] = true;
  ClientId b = h.Connect();
  Subscribe(b, 1, "q", 10, /*resume_through=*/2);
  EXPECT_TRUE(deliveries(b).empty());
  h.Advance(1000);  // ack wait runs out on the old connection
  EXPECT_EQ(Seqs(b), (std::vector<Seq>{3, 4}));
  EXPECT_EQ(h.Stat("resumed_acks_total"), 2);
  h.broker().Disconnect(a);
  h.Turn();
  EXPECT_EQ(Seqs(b), (std::vector<Seq>{3, 4})) << "a settled entry came back";
  EXPECT_EQ(h.Depth("q"), 2u);
}

TEST_F(ResumeTest, EntriesNeverDeliveredAreDeliveredNormally) {
  h.Start();
  ClientId a = h.Connect();
  PublishN(a, "q", 5);
  Subscribe(a, 1, "q", /*credit=*/2, 0);
  ASSERT_EQ(Seqs(a), (std::vector<Seq>{1, 2}));
  h.broker().Disconnect(a);
  h.Turn();
  ClientId b = h.Connect();
  Subscribe(b, 1, "q", 10, /*resume_through=*/4);
  // 1 and 2 were processed; 3 and 4 were never delivered, whatever the
  // consumer claims.
  EXPECT_EQ(Seqs(b), (std::vector<Seq>{3, 4, 5}));
  for (const Delivered& d : deliveries(b)) EXPECT_EQ(d.delivery_count, 1u);
  EXPECT_EQ(h.Stat("resumed_acks_total"), 2);
}

TEST_F(ResumeTest, DeliveriesAfterTheResumeAreNotSettled) {
  h.Start();
  ClientId a = h.Connect();
  PublishN(a, "q", 2);
  ClientId b = h.Connect();
  Subscribe(b, 1, "q", 10, /*resume_through=*/5);
  ASSERT_EQ(Seqs(b), (std::vector<Seq>{1, 2}));
  // A nack, or a connection lost again, gives back what this subscription
  // got: it was not processed, so it is delivered again.
  h.broker().Nack(b, 1, 1, 0);
  h.Turn();
  EXPECT_EQ(Seqs(b), (std::vector<Seq>{1, 2, 1}));
  h.broker().Disconnect(b);
  h.Turn();
  ClientId c = h.Connect();
  Subscribe(c, 1, "q", 10, 0);
  EXPECT_EQ(Seqs(c), (std::vector<Seq>{1, 2}));
  EXPECT_EQ(h.Stat("resumed_acks_total"), 0);
}

TEST_F(ResumeTest, DeliveriesBeforeARestartAreSettledFromTheIndex) {
  h.Start();
  ClientId a = h.Connect();
  PublishN(a, "q", 3);
  Subscribe(a, 1, "q", 10, 0);
  ASSERT_EQ(deliveries(a).size(), 3u);
  h.Advance(5000);  // the delivery counts reach the index
  h.Restart();
  ClientId b = h.Connect();
  Subscribe(b, 1, "q", 10, /*resume_through=*/2);
  EXPECT_EQ(Seqs(b), (std::vector<Seq>{3}));
  EXPECT_EQ(deliveries(b)[0].delivery_count, 2u);
  EXPECT_EQ(h.Depth("q"), 1u);
}

}  // namespace
}  // namespace hermod::core::testing
