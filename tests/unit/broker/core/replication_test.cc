// Two cores replicating over a scripted link: the leader numbers and ships
// its partition parts (ReplicationTracker), the follower stages them and
// moves them into its state under the high watermark (FollowerLog), and
// the leader confirms a publish only once the follower acked it durable.
// At the end the follower's store holds what the leader's does.
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "core_harness.h"
#include "follower_log.h"
#include "hermod/partition.h"
#include "replication_tracker.h"

namespace hermod::core {
namespace {

using testing::CoreHarness;

constexpr uint32_t kPartitions = 4;
constexpr uint64_t kEpoch = 1;

class ReplicationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::StartLeaderAndFollower(leader_, follower_, kPartitions);
    for (PartitionId p = 0; p < kPartitions; ++p) tracker_.Lead(p, kEpoch, {"f"}, {"f"}, 2, 0);
    Broker& b = leader_.broker();
    b.set_replication_gate(true);
    b.set_submit_listener([this](store::WriteBatch& batch) { tracker_.OnSubmit(batch); });
    b.set_commit_listener([this](const store::WriteBatch& batch) {
      Result<std::vector<ShippedPart>> parts = tracker_.OnBatch(batch);
      ASSERT_TRUE(parts.ok());
      for (ShippedPart& part : *parts) outbox_.push_back(std::move(part));
    });
  }

  // One round over the link: ship, take, ack, confirm, heartbeat.
  void Pump() {
    leader_.Turn();
    Deliver();
  }
  // The link's half of a round: what the leader committed so far.
  void Deliver() {
    std::vector<std::tuple<PartitionId, uint64_t, BatchNo>> taken;
    for (const ShippedPart& s : outbox_) {
      ReplicatePart part;
      part.partition = s.partition;
      part.epoch = s.epoch;
      part.prev_offset = s.prev_offset;
      part.offset = s.offset;
      part.leader_commit = tracker_.high_watermark(s.partition);
      part.record = s.record;
      part.commit_record = s.commit_record;
      BatchNo into = follower_.broker().batch_no();
      Result<ReplicateResult> r = follower_.broker().TakeReplicated(part);
      ASSERT_TRUE(r.ok());
      ASSERT_EQ(*r, ReplicateResult::kStaged);
      taken.emplace_back(s.partition, s.offset, into);
    }
    outbox_.clear();
    follower_.Turn();
    for (const auto& [p, offset, into] : taken) {
      ASSERT_GE(follower_.broker().committed_through(), into);
      EXPECT_TRUE(tracker_.OnAck("f", p, kEpoch, offset));
    }
    for (BatchNo failed : tracker_.TakeFailed()) {
      leader_.broker().FailReplication(failed, Status::Unavailable("lost"));
    }
    leader_.broker().OnReplicated(tracker_.replicated_through());
    for (PartitionId p = 0; p < kPartitions; ++p) {
      ASSERT_TRUE(follower_.broker().LeaderCommitted(p, kEpoch, tracker_.high_watermark(p)).ok());
    }
    follower_.Turn();
  }

  CoreHarness leader_;
  CoreHarness follower_;
  ReplicationTracker tracker_;
  std::vector<ShippedPart> outbox_;
};

TEST_F(ReplicationTest, ConfirmsWaitForTheFollowerAndItsStateEndsAsTheLeaders) {
  ClientId pub = leader_.Connect();
  ClientId con = leader_.Connect();
  leader_.Subscribe(con, 1, "q0", 100);
  const std::vector<std::string> queues = {"q0", "q1", "q2", "q3", "q4"};
  for (int i = 0; i < 4; ++i) {
    for (const std::string& q : queues) leader_.Publish(pub, q, "m" + std::to_string(i));
  }
  leader_.Turn();
  EXPECT_TRUE(leader_.out().confirms[pub].empty());  // committed, not yet replicated
  EXPECT_FALSE(outbox_.empty());
  Pump();
  ASSERT_EQ(leader_.out().confirms[pub].size(), queues.size() * 4);
  for (const testing::Confirm& c : leader_.out().confirms[pub]) EXPECT_TRUE(c.status.ok());

  // Acks replicate like publishes.
  leader_.broker().Ack(con, 1, 1, 2);
  Pump();
  leader_.Advance(1500);  // the leader applies its log: later acks are index acks
  Pump();
  leader_.broker().Ack(con, 1, 3, 3);
  Pump();
  Pump();  // the last watermark reaches the follower
  leader_.Advance(5000);
  follower_.Advance(5000);
  for (const std::string& q : queues) {
    EXPECT_EQ(testing::ReadStoredQueue(follower_.store(), q),
              testing::ReadStoredQueue(leader_.store(), q))
        << q;
  }
  EXPECT_EQ(testing::ReadStoredQueue(leader_.store(), "q0").depth, 1u);
  EXPECT_EQ(testing::ReadStoredQueue(leader_.store(), "q1").depth, 4u);
  EXPECT_EQ(tracker_.waiting(), 0u);
}

TEST_F(ReplicationTest, WithoutTheFollowerNothingIsConfirmed) {
  ClientId pub = leader_.Connect();
  leader_.Publish(pub, "q1", "x");
  leader_.Turn();
  leader_.Advance(10000);  // no link: time alone confirms nothing
  EXPECT_TRUE(leader_.out().confirms[pub].empty());
  // The follower leaves the ISR: the leader alone is under min_insync 2.
  for (PartitionId p = 0; p < kPartitions; ++p) tracker_.Lead(p, kEpoch, {"f"}, {}, 2, 0);
  leader_.broker().OnReplicated(tracker_.replicated_through());
  EXPECT_TRUE(leader_.out().confirms[pub].empty());
  // It comes back and catches up.
  for (PartitionId p = 0; p < kPartitions; ++p) tracker_.Lead(p, kEpoch, {"f"}, {"f"}, 2, 0);
  Pump();
  ASSERT_EQ(leader_.out().confirms[pub].size(), 1u);
  EXPECT_TRUE(leader_.out().confirms[pub][0].status.ok());
}

// A group publish whose fan-out is still running when its leader is lost:
// the follower that takes the partition over finishes the job from its
// store, so every member gets the confirmed message once.
class ReplicationFanoutTest : public ReplicationTest {
 protected:
  void SetUp() override {
    leader_.config().fanout_chunk = 1;
    follower_.config().fanout_chunk = 1;
    ReplicationTest::SetUp();
  }
};

TEST_F(ReplicationFanoutTest, ANewLeaderFinishesAnUnfinishedFanout) {
  ClientId pub = leader_.Connect();
  // Members of the group's own partition (others' get forwards).
  std::vector<std::string> members;
  for (int i = 0; members.size() < 12; ++i) {
    std::string name = "member" + std::to_string(i);
    if (PartitionOf(name, kPartitions) == PartitionOf("team", kPartitions)) members.push_back(name);
  }
  leader_.CreateGroup(pub, "team", members);
  Pump();
  leader_.PublishToGroup(pub, "team", "hello");
  // One batch only: the job's start and its first member, then the leader
  // is lost.
  leader_.broker().EndOfTurn();
  leader_.broker().OnStorageWake();
  Deliver();
  ASSERT_EQ(leader_.out().confirms[pub].size(), 1u);
  EXPECT_TRUE(leader_.out().confirms[pub][0].status.ok());
  follower_.Advance(5000);  // what the follower holds reaches its index
  size_t before = 0;
  for (const std::string& m : members) {
    before += testing::ReadStoredQueue(follower_.store(), m).depth;
  }
  ASSERT_LT(before, members.size()) << "the job finished before the failover";
  // The leader is gone; the follower takes every partition over.
  follower_.LeadAll(2);
  for (int i = 0; i < 40; ++i) follower_.Advance(10);
  follower_.Advance(5000);
  for (const std::string& m : members) {
    EXPECT_EQ(testing::ReadStoredQueue(follower_.store(), m).depth, 1u) << m;
  }
}

// The replicator's order of calls: a batch's replies are decided after its
// commit listener ran, and the listener may learn there that the batch
// will never be replicated (its partition was given up while it was at
// storage). Such a batch must be refused, never confirmed.
TEST(ReplicationGateTest, ABatchGivenUpWhileAtStorageIsRefusedNotConfirmed) {
  CoreHarness leader;
  CoreHarness follower;
  testing::StartLeaderAndFollower(leader, follower, kPartitions);
  ReplicationTracker tracker;
  for (PartitionId p = 0; p < kPartitions; ++p) tracker.Lead(p, kEpoch, {"f"}, {"f"}, 2, 0);
  Broker& b = leader.broker();
  b.set_replication_gate(true);
  b.set_submit_listener([&](store::WriteBatch& batch) { tracker.OnSubmit(batch); });
  b.set_commit_listener([&](const store::WriteBatch& batch) {
    ASSERT_TRUE(tracker.OnBatch(batch).ok());
    for (BatchNo failed : tracker.TakeFailed()) {
      b.FailReplication(failed, Status::Unavailable("gave the partition up"));
    }
    b.OnReplicated(tracker.replicated_through());
  });
  ClientId pub = leader.Connect();
  leader.committer().Hold();
  leader.Publish(pub, "q1", "x");
  leader.Turn();  // at storage, held
  for (PartitionId p = 0; p < kPartitions; ++p) tracker.StopLeading(p);
  EXPECT_TRUE(tracker.TakeFailed().empty());  // not done yet: decided when it is
  leader.committer().Release();
  leader.Turn();
  ASSERT_EQ(leader.out().confirms[pub].size(), 1u);
  EXPECT_FALSE(leader.out().confirms[pub][0].status.ok());
}

}  // namespace
}  // namespace hermod::core
