// Issue 11: deliveries stop waiting for the disk; confirms still do. On the
// in-memory store with commits held back on purpose (core_harness.h).
#include <gtest/gtest.h>

#include "broker.h"
#include "core_harness.h"

namespace hermod::core::testing {
namespace {

class DeliveryBeforeCommitTest : public ::testing::Test {
 protected:
  CoreHarness h;
  std::vector<Delivered>& deliveries(ClientId c) { return h.out().deliveries[c]; }
  std::vector<Confirm>& confirms(ClientId c) { return h.out().confirms[c]; }
  double Stored(const char* table_stat) { return h.Stat(table_stat); }
};

TEST_F(DeliveryBeforeCommitTest, AnOnlineConsumerGetsThePublishBeforeItsBatchCommits) {
  h.Start();
  ClientId pub = h.Connect();
  ClientId sub = h.Connect();
  h.Subscribe(sub, 1, "q", 10);
  h.Turn();
  h.committer().Hold();
  h.Publish(pub, "q", "now");
  ASSERT_EQ(deliveries(sub).size(), 1u) << "the delivery waited for the commit";
  EXPECT_EQ(deliveries(sub)[0].payload, "now");
  h.Turn();
  EXPECT_GE(h.committer().held(), 1u);
  EXPECT_TRUE(confirms(pub).empty()) << "confirmed before durable";
  h.committer().Release();
  h.Turn();
  ASSERT_EQ(confirms(pub).size(), 1u);
  EXPECT_TRUE(confirms(pub)[0].status.ok());
  EXPECT_EQ(confirms(pub)[0].seq, deliveries(sub)[0].seq);
}

TEST_F(DeliveryBeforeCommitTest, AnAckBeforeThePublishIsDurableCancelsItBeforeTheIndex) {
  h.Start();
  ClientId pub = h.Connect();
  ClientId sub = h.Connect();
  h.Subscribe(sub, 1, "q", 10);
  h.Turn();
  h.committer().Hold();
  h.Publish(pub, "q", "m");
  ASSERT_EQ(deliveries(sub).size(), 1u);
  h.broker().Ack(sub, 1, 1, 1);
  h.Turn();
  h.committer().Release();
  h.Turn();
  EXPECT_EQ(h.Depth("q"), 0u);
  h.Advance(3000);  // every record applied
  EXPECT_EQ(Stored("entries_stored"), 0) << "the acked entry reached the index";
  EXPECT_EQ(Stored("messages_stored"), 0);
  // The log, replayed, agrees: nothing comes back after a restart.
  h.Restart();
  ClientId again = h.Connect();
  h.Subscribe(again, 1, "q", 10);
  h.Turn();
  EXPECT_TRUE(deliveries(again).empty());
  EXPECT_EQ(h.Depth("q"), 0u);
}

TEST_F(DeliveryBeforeCommitTest, AnAckBeforeACrashKeepsThePublishOnceItIsLogged) {
  // The ack goes in a batch after the publish's: if only the publish's
  // batch made it, the entry comes back (at least once); never the other
  // way round.
  h.Start();
  ClientId pub = h.Connect();
  ClientId sub = h.Connect();
  h.Subscribe(sub, 1, "q", 10);
  h.Turn();
  h.Publish(pub, "q", "m");
  h.Turn();  // the publish's batch commits
  ASSERT_EQ(confirms(pub).size(), 1u);
  h.committer().Hold();
  h.broker().Ack(sub, 1, 1, 1);
  h.Turn();     // the ack's batch is held: not durable
  h.Restart();  // a crash: the held batch is gone
  ClientId again = h.Connect();
  h.Subscribe(again, 1, "q", 10);
  h.Turn();
  ASSERT_EQ(deliveries(again).size(), 1u);
  EXPECT_EQ(deliveries(again)[0].payload, "m");
}

TEST_F(DeliveryBeforeCommitTest, APublishWhoseBatchFailsIsRefusedAlthoughItWasDelivered) {
  h.Start();
  ClientId pub = h.Connect();
  ClientId sub = h.Connect();
  h.Subscribe(sub, 1, "q", 10);
  h.Turn();
  h.store().TEST_FailNextCommit(Status::StorageFull("injected: no room"));
  h.Publish(pub, "q", "lost");
  ASSERT_EQ(deliveries(sub).size(), 1u);
  h.Turn();
  ASSERT_EQ(confirms(pub).size(), 1u);
  EXPECT_EQ(confirms(pub)[0].status.code(), ErrorCode::kStorageFull);
  EXPECT_EQ(h.Depth("q"), 0u) << "a message that was never stored still counts";
  // The consumer's ack of it is a no-op; the broker goes on.
  h.broker().Ack(sub, 1, deliveries(sub)[0].seq, deliveries(sub)[0].seq);
  h.Advance(6000);  // past the retry hold-off after a full store
  h.Publish(pub, "q", "kept");
  h.Turn();
  ASSERT_EQ(confirms(pub).size(), 2u);
  EXPECT_TRUE(confirms(pub)[1].status.ok());
  ASSERT_EQ(deliveries(sub).size(), 2u);
  EXPECT_EQ(deliveries(sub)[1].payload, "kept");
  EXPECT_EQ(h.Depth("q"), 1u);
}

TEST_F(DeliveryBeforeCommitTest, ADeliveredEntryOfAFailedBatchThatIsRetriedStays) {
  // A batch that fails for room is retried without its publishes. A member
  // entry of a group publish confirmed earlier is not one of them: it is
  // retried, and the consumer that got it before the failure acks it as
  // usual. (One member entry per batch here.)
  h.config().fanout_chunk = 1;
  h.Start();
  ClientId c = h.Connect();
  h.CreateGroup(c, "g", {"a", "b"});
  h.Subscribe(c, 1, "b", 10);
  h.Turn();
  h.committer().Hold();
  h.PublishToGroup(c, "g", "to all");
  h.Turn();  // batch: the message, its job, member a's entry (held)
  h.committer().Release();
  h.committer().Hold();
  h.Turn();  // it commits (confirm); the next batch, member b's entry, is held
  ASSERT_FALSE(confirms(c).empty());
  EXPECT_TRUE(confirms(c).back().status.ok());
  ASSERT_EQ(deliveries(c).size(), 1u) << "b's entry waited for its commit to be delivered";
  ASSERT_EQ(h.committer().held(), 1u);
  // The batch carrying b's entry is the one that fails.
  h.store().TEST_FailNextCommit(Status::StorageFull("injected: no room"));
  h.committer().Release();
  h.Advance(500);  // the failure, its hold-off (100 ms), the retry; not yet applied
  EXPECT_EQ(h.Depth("a"), 1u);
  EXPECT_EQ(h.Depth("b"), 1u) << "the retried entry was dropped";
  // Acked while the retried record is still unapplied: the ack must cancel
  // the retried entry, or the apply would put it in the index.
  Seq seq = deliveries(c)[0].seq;
  h.broker().Ack(c, 1, seq, seq);
  h.Advance(3000);
  EXPECT_EQ(h.Depth("b"), 0u);
  h.Restart();
  ClientId again = h.Connect();
  h.Subscribe(again, 1, "b", 10);
  h.Turn();
  EXPECT_TRUE(deliveries(again).empty()) << "the acked entry came back after a restart";
  EXPECT_EQ(h.Depth("a"), 1u);
}

TEST_F(DeliveryBeforeCommitTest, WithDeliverAfterCommitNothingGoesOutBeforeItIsDurable) {
  h.config().deliver_after_commit = true;
  h.Start();
  ClientId pub = h.Connect();
  ClientId sub = h.Connect();
  h.Subscribe(sub, 1, "q", 10);
  h.Turn();
  h.committer().Hold();
  h.Publish(pub, "q", "m");
  h.Turn();
  EXPECT_TRUE(deliveries(sub).empty()) << "delivered before durable";
  h.committer().Release();
  h.Turn();
  ASSERT_EQ(confirms(pub).size(), 1u);
  ASSERT_EQ(deliveries(sub).size(), 1u);
}

// Part of a batch goes out from the log tail, the rest waits for credit;
// then the batch's record is applied and the queue's index range grows
// over it. Entries delivered from the tail must not be read from the index
// again: they were delivered once, not acked yet, and are not redeliveries.
TEST_F(DeliveryBeforeCommitTest, EntriesDeliveredFromTheTailAreNotReadAgainFromTheIndex) {
  h.Start();
  ClientId pub = h.Connect();
  ClientId sub = h.Connect();
  h.Subscribe(sub, 1, "q", 2);
  for (const char* m : {"a", "b", "c"}) h.Publish(pub, "q", m);
  h.Turn();
  ASSERT_EQ(deliveries(sub).size(), 2u);
  h.Advance(5000);  // the record is applied: c is in the index now
  h.broker().SetCredit(sub, 1, 10);
  h.Turn();
  std::vector<Seq> seqs;
  for (const Delivered& d : deliveries(sub)) seqs.push_back(d.seq);
  EXPECT_EQ(seqs, (std::vector<Seq>{1, 2, 3}));
  EXPECT_EQ(h.Stat("delivered_total"), 3);
  EXPECT_EQ(h.Stat("redelivered_total"), 0);
}

}  // namespace
}  // namespace hermod::core::testing
