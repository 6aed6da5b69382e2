// What a cluster leader may confirm: a batch once every partition part it
// carries is durable on every in-sync follower, with enough of them in
// sync; never a batch of a partition it stopped leading.
#include "replication_tracker.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hermod::core {
namespace {

// A committed batch with one publish in each of `partitions`.
store::WriteBatch Batch(BatchNo batch_no, const std::vector<PartitionId>& partitions) {
  store::WriteBatch batch;
  batch.batch_no = batch_no;
  for (PartitionId p : partitions) {
    batch.log.In(p).PublishEncoded(100 + p, batch_no, 1000 * batch_no + p, "m");
  }
  return batch;
}

// Submits the batch (numbering its parts) and reports it done.
Result<std::vector<ShippedPart>> Commit(ReplicationTracker& t, store::WriteBatch batch) {
  t.OnSubmit(batch);
  return t.OnBatch(batch);
}

TEST(ReplicationTracker, ShipsEachLedPartitionsPartWithTheNextOffset) {
  ReplicationTracker t;
  t.Lead(1, 7, {"b", "c"}, {"b", "c"}, 2, 0);
  t.Lead(2, 3, {"b"}, {"b"}, 2, 40);
  store::WriteBatch batch = Batch(5, {1, 2, 9});  // 9: not led here
  batch.log.In(1).IndexAck(101, 1, 2, 3, 0);
  t.OnSubmit(batch);
  // The batch itself records where the leader's logs of 1 and 2 end.
  std::vector<std::pair<PartitionId, uint64_t>> ends;
  store::LogReader reader(batch.log.commit_record());
  store::LogOp op;
  while (reader.Next(&op)) {
    if (op.type == store::LogOpType::kPartitionEnd) ends.emplace_back(op.log_partition, op.offset);
  }
  EXPECT_EQ(ends, (std::vector<std::pair<PartitionId, uint64_t>>{{1, 1}, {2, 41}}));
  Result<std::vector<ShippedPart>> parts = t.OnBatch(batch);
  ASSERT_TRUE(parts.ok());
  ASSERT_EQ(parts->size(), 2u);
  const ShippedPart& one = (*parts)[0];
  EXPECT_EQ(one.partition, 1u);
  EXPECT_EQ(one.epoch, 7u);
  EXPECT_EQ(one.prev_offset, 0u);
  EXPECT_EQ(one.offset, 1u);
  EXPECT_EQ(one.followers, (std::vector<NodeId>{"b", "c"}));
  EXPECT_FALSE(one.record.empty());
  EXPECT_FALSE(one.commit_record.empty());
  // The part reads back as that partition's operations only.
  store::LogReader part(one.record, 1);
  ASSERT_TRUE(part.Next(&op));
  EXPECT_EQ(op.queue_id, 101u);
  EXPECT_FALSE(part.Next(&op));
  store::LogReader commits(one.commit_record, 1);
  ASSERT_TRUE(commits.Next(&op));
  EXPECT_EQ(op.type, store::LogOpType::kIndexAck);  // no partition_end: node-local
  EXPECT_FALSE(commits.Next(&op));
  const ShippedPart& two = (*parts)[1];
  EXPECT_EQ(two.partition, 2u);
  EXPECT_EQ(two.prev_offset, 40u);
  EXPECT_EQ(two.offset, 41u);
  EXPECT_TRUE(two.commit_record.empty());
}

TEST(ReplicationTracker, ABatchIsReplicatedWhenTheWholeIsrHasEveryPart) {
  ReplicationTracker t;
  t.Lead(1, 1, {"b", "c"}, {"b", "c"}, 2, 0);
  t.Lead(2, 1, {"b", "c"}, {"b", "c"}, 2, 0);
  ASSERT_TRUE(Commit(t, Batch(1, {1, 2})).ok());
  ASSERT_TRUE(Commit(t, Batch(2, {1})).ok());
  EXPECT_EQ(t.replicated_through(), 0u);
  EXPECT_TRUE(t.OnAck("b", 1, 1, 2));
  EXPECT_TRUE(t.OnAck("b", 2, 1, 1));
  EXPECT_EQ(t.replicated_through(), 0u);  // c has nothing yet
  EXPECT_TRUE(t.OnAck("c", 1, 1, 2));
  EXPECT_EQ(t.high_watermark(1), 2u);
  EXPECT_EQ(t.replicated_through(), 0u);  // batch 1's part of 2 is not on c
  EXPECT_TRUE(t.OnAck("c", 2, 1, 1));
  EXPECT_EQ(t.replicated_through(), 2u);
  EXPECT_EQ(t.waiting(), 0u);

  // Batches with nothing to ship pass once those before do.
  ASSERT_TRUE(Commit(t, Batch(3, {1})).ok());
  ASSERT_TRUE(Commit(t, Batch(4, {})).ok());
  EXPECT_EQ(t.replicated_through(), 2u);
  t.OnAck("b", 1, 1, 3);
  t.OnAck("c", 1, 1, 3);
  EXPECT_EQ(t.replicated_through(), 4u);

  // A batch in storage holds back the ones after it, even empty ones.
  store::WriteBatch slow = Batch(5, {2});
  t.OnSubmit(slow);
  ASSERT_TRUE(Commit(t, Batch(6, {})).ok());
  EXPECT_EQ(t.replicated_through(), 4u);
  ASSERT_TRUE(t.OnBatch(slow).ok());
  t.OnAck("b", 2, 1, 2);
  t.OnAck("c", 2, 1, 2);
  EXPECT_EQ(t.replicated_through(), 6u);
}

// A failed commit leaves the numbering of its partitions in doubt: they
// are given up, and what waits on them fails.
TEST(ReplicationTracker, AFailedBatchGivesUpItsPartitions) {
  ReplicationTracker t;
  t.Lead(1, 1, {"b"}, {"b"}, 2, 0);
  t.Lead(2, 1, {"b"}, {"b"}, 2, 0);
  ASSERT_TRUE(Commit(t, Batch(1, {1})).ok());
  store::WriteBatch failed = Batch(2, {1});
  failed.status = Status::StorageError("disk");
  Result<std::vector<ShippedPart>> none = Commit(t, failed);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_FALSE(t.leads(1));
  EXPECT_TRUE(t.leads(2));
  EXPECT_EQ(t.TakeFailed(), (std::vector<BatchNo>{1, 2}));
  EXPECT_EQ(t.replicated_through(), 2u);
}

// A follower asked into the ISR may be elected as soon as the change
// lands, before this leader sees the new map: from the moment it is asked
// for, a confirm needs its ack too. It does not make up min_insync.
TEST(ReplicationTracker, AJoiningFollowerMustHoldEveryConfirmBeforeItCounts) {
  ReplicationTracker t;
  t.Lead(1, 1, {"b", "c"}, {"b"}, 2, 0);
  ASSERT_TRUE(Commit(t, Batch(1, {1})).ok());
  t.OnAck("b", 1, 1, 1);
  t.OnAck("c", 1, 1, 1);
  EXPECT_EQ(t.replicated_through(), 1u);
  // c caught up and is asked into the ISR.
  t.Lead(1, 1, {"b", "c"}, {"b"}, 2, 0, {"c"});
  ASSERT_TRUE(Commit(t, Batch(2, {1})).ok());
  t.OnAck("b", 1, 1, 2);
  EXPECT_EQ(t.replicated_through(), 1u) << "confirmed without the joining follower";
  t.OnAck("c", 1, 1, 2);
  EXPECT_EQ(t.replicated_through(), 2u);
  // A joiner alone is not in sync: with b gone, the leader and c are not
  // min_insync 2 until the map says c joined.
  t.Lead(1, 1, {"b", "c"}, {}, 2, 0, {"c"});
  ASSERT_TRUE(Commit(t, Batch(3, {1})).ok());
  t.OnAck("c", 1, 1, 3);
  EXPECT_EQ(t.replicated_through(), 2u);
  t.Lead(1, 1, {"b", "c"}, {"c"}, 2, 0);
  EXPECT_EQ(t.replicated_through(), 3u);
}

TEST(ReplicationTracker, TooFewInSyncConfirmsNothingUntilTheSetGrowsBack) {
  ReplicationTracker t;
  t.Lead(1, 1, {"b", "c"}, {"b", "c"}, 2, 0);
  ASSERT_TRUE(Commit(t, Batch(1, {1})).ok());
  // b leaves the ISR: c alone (with the leader) is still 2 in sync.
  t.Lead(1, 1, {"b", "c"}, {"c"}, 2, 0);
  t.OnAck("c", 1, 1, 1);
  EXPECT_EQ(t.replicated_through(), 1u);
  // c leaves too: the leader alone is under min_insync 2.
  t.Lead(1, 1, {"b", "c"}, {}, 2, 0);
  ASSERT_TRUE(Commit(t, Batch(2, {1})).ok());
  t.OnAck("b", 1, 1, 2);
  t.OnAck("c", 1, 1, 2);
  EXPECT_EQ(t.replicated_through(), 1u);
  t.Lead(1, 1, {"b", "c"}, {"b"}, 2, 0);  // b is back, and has it
  EXPECT_EQ(t.replicated_through(), 2u);

  // With min_insync 1 a lone leader confirms by itself.
  ReplicationTracker alone;
  alone.Lead(4, 1, {"b"}, {}, 1, 0);
  ASSERT_TRUE(Commit(alone, Batch(1, {4})).ok());
  EXPECT_EQ(alone.replicated_through(), 1u);
}

TEST(ReplicationTracker, AcksOfAnotherEpochOrStrangersCountForNothing) {
  ReplicationTracker t;
  t.Lead(1, 5, {"b"}, {"b"}, 2, 0);
  ASSERT_TRUE(Commit(t, Batch(1, {1})).ok());
  EXPECT_FALSE(t.OnAck("b", 1, 4, 1));  // stale epoch
  EXPECT_FALSE(t.OnAck("x", 1, 5, 1));  // not a replica
  EXPECT_FALSE(t.OnAck("b", 3, 5, 1));  // not led here
  EXPECT_EQ(t.replicated_through(), 0u);
  EXPECT_TRUE(t.OnAck("b", 1, 5, 99));  // past the end: counts up to the end
  EXPECT_EQ(t.high_watermark(1), 1u);
  EXPECT_EQ(t.replicated_through(), 1u);
  // A new epoch forgets the old one's acks.
  t.Lead(1, 6, {"b"}, {"b"}, 2, 0);
  ASSERT_TRUE(Commit(t, Batch(2, {1})).ok());
  EXPECT_EQ(t.replicated_through(), 1u);
  EXPECT_TRUE(t.OnAck("b", 1, 6, 2));
  EXPECT_EQ(t.replicated_through(), 2u);
}

TEST(ReplicationTracker, BatchesOfALostPartitionFailAndDoNotBlockTheRest) {
  ReplicationTracker t;
  t.Lead(1, 1, {"b"}, {"b"}, 2, 0);
  t.Lead(2, 1, {"b"}, {"b"}, 2, 0);
  ASSERT_TRUE(Commit(t, Batch(1, {1})).ok());
  ASSERT_TRUE(Commit(t, Batch(2, {2})).ok());
  t.OnAck("b", 2, 1, 1);
  EXPECT_EQ(t.replicated_through(), 0u);
  t.StopLeading(1);
  EXPECT_EQ(t.TakeFailed(), (std::vector<BatchNo>{1}));
  EXPECT_EQ(t.replicated_through(), 2u);
  EXPECT_TRUE(t.TakeFailed().empty());
}

}  // namespace
}  // namespace hermod::core
