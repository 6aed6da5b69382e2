// A follower's partition logs (core/follower_log.h): a shipped part stays
// staged, out of the node's state, until the leader's high watermark
// passes it; older leaders and gaps are refused; truncation after a leader
// change takes back only staged parts; all of it survives a restart.
#include "follower_log.h"

#include <gtest/gtest.h>

#include <string>

#include "core_harness.h"
#include "envelope.h"
#include "hermod/partition.h"
#include "log_record.h"

namespace hermod::core {
namespace {

using testing::CoreHarness;

constexpr store::PartitionId kP = 2;

std::string Envelope(std::string_view payload) {
  std::string out;
  store::EnvelopeWriter w(&out, 1000, 0, 0);
  w.Payload(payload);
  return out;
}

class FollowerLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    h_.config().cluster = true;
    h_.config().partitions = 4;
    h_.config().id_prefix = 2;
    h_.Start();
    // A queue of partition kP, so that taking kP over serves it.
    for (int i = 0; PartitionOf(name_, 4) != kP; ++i) name_ = "q" + std::to_string(i);
  }
  std::string name_ = "alice";

  // A leader's part: queue `queue` (id 1 of prefix 1) created at offset 1,
  // one publish of `payload` with seq = offset.
  std::string Record(uint64_t offset, std::string_view payload) {
    store::LogWriter w;
    store::QueueId queue_id = store::IdBase(1) + 1;
    if (offset == 1) w.CreateQueue(queue_id, 5, name_);
    w.PublishEncoded(queue_id, offset, store::IdBase(1) + 100 + offset, Envelope(payload));
    return w.record();
  }
  Result<ReplicateResult> Take(uint64_t epoch, uint64_t prev, uint64_t offset, uint64_t hw,
                               const std::string& record) {
    ReplicatePart part;
    part.partition = kP;
    part.epoch = epoch;
    part.prev_offset = prev;
    part.offset = offset;
    part.leader_commit = hw;
    part.record = record;
    Result<ReplicateResult> r = h_.broker().TakeReplicated(part);
    h_.Turn();
    return r;
  }
  // The payloads alice holds in the store, in seq order.
  std::vector<std::string> Alice() {
    std::vector<std::string> out;
    Result<std::optional<store::QueueInfo>> info = h_.store().FindQueue(name_);
    EXPECT_TRUE(info.ok());
    if (!info.ok() || !info->has_value()) return out;
    std::vector<store::StoredEntry> entries;
    EXPECT_TRUE(h_.store().ReadEntries((*info)->queue_id, 1, UINT64_MAX - 1, 100, &entries).ok());
    for (const store::StoredEntry& e : entries) {
      store::EnvelopeView view;
      EXPECT_TRUE(view.Parse(e.envelope));
      out.emplace_back(view.payload());
    }
    return out;
  }
  size_t Staged() {
    std::vector<store::StagedPart> parts;
    EXPECT_TRUE(h_.store().ReadStaged(kP, 0, UINT64_MAX, &parts).ok());
    return parts.size();
  }
  // Lets the node apply its log to its index.
  void ApplyAll() { h_.Advance(5000); }

  CoreHarness h_;
};

TEST_F(FollowerLogTest, APartEntersTheStateOnlyUnderTheHighWatermark) {
  std::string r1 = Record(1, "one");
  std::string r2 = Record(2, "two");
  ASSERT_EQ(*Take(1, 0, 1, 0, r1), ReplicateResult::kStaged);
  ASSERT_EQ(*Take(1, 1, 2, 0, r2), ReplicateResult::kStaged);
  ApplyAll();
  EXPECT_TRUE(Alice().empty());  // staged, durable, not state
  EXPECT_EQ(Staged(), 2u);
  EXPECT_EQ(h_.broker().follower_log().state(kP).end_offset, 2u);

  ASSERT_TRUE(h_.broker().LeaderCommitted(kP, 1, 1).ok());
  h_.Turn();
  ApplyAll();
  EXPECT_EQ(Alice(), (std::vector<std::string>{"one"}));
  EXPECT_EQ(Staged(), 1u);

  // A restart keeps the end, the staged part and what entered the state.
  h_.Restart();
  EXPECT_EQ(h_.broker().follower_log().state(kP).end_offset, 2u);
  EXPECT_EQ(h_.broker().follower_log().state(kP).unstaged_through, 1u);
  ASSERT_TRUE(h_.broker().LeaderCommitted(kP, 1, 2).ok());
  h_.Turn();
  ApplyAll();
  EXPECT_EQ(Alice(), (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(Staged(), 0u);
}

TEST_F(FollowerLogTest, OlderLeadersGapsAndResendsChangeNothing) {
  std::string r1 = Record(1, "one");
  ASSERT_EQ(*Take(3, 0, 1, 0, r1), ReplicateResult::kStaged);
  EXPECT_EQ(*Take(3, 0, 1, 0, r1), ReplicateResult::kDuplicate);
  EXPECT_EQ(*Take(2, 1, 2, 2, Record(2, "stale")), ReplicateResult::kStaleEpoch);
  EXPECT_EQ(*Take(3, 5, 6, 0, Record(6, "gap")), ReplicateResult::kGap);
  // A stale leader's watermark moves nothing either.
  ASSERT_TRUE(h_.broker().LeaderCommitted(kP, 2, 1).ok());
  h_.Turn();
  ApplyAll();
  EXPECT_TRUE(Alice().empty());
  EXPECT_EQ(Staged(), 1u);
  EXPECT_EQ(h_.broker().follower_log().state(kP).end_offset, 1u);
  // Once the control plane names epoch 4, epoch 3 is old too.
  h_.broker().Fence(kP, 4);
  EXPECT_EQ(*Take(3, 1, 2, 0, Record(2, "late")), ReplicateResult::kStaleEpoch);
}

// The map's epoch is a fence that outlives a restart, even when no part of
// that epoch was ever staged here.
TEST_F(FollowerLogTest, TheFenceSurvivesARestart) {
  ASSERT_EQ(*Take(1, 0, 1, 1, Record(1, "one")), ReplicateResult::kStaged);
  h_.broker().Fence(kP, 5);
  h_.Turn();
  h_.Restart();
  EXPECT_EQ(*Take(4, 1, 2, 1, Record(2, "from a deposed leader")), ReplicateResult::kStaleEpoch);
  EXPECT_EQ(*Take(5, 1, 2, 1, Record(2, "two")), ReplicateResult::kStaged);
}

TEST_F(FollowerLogTest, TruncationTakesBackOnlyStagedParts) {
  ASSERT_EQ(*Take(1, 0, 1, 1, Record(1, "one")), ReplicateResult::kStaged);
  ASSERT_EQ(*Take(1, 1, 2, 1, Record(2, "old two")), ReplicateResult::kStaged);
  ASSERT_EQ(*Take(1, 2, 3, 1, Record(3, "old three")), ReplicateResult::kStaged);
  // What a high watermark passed is never taken back.
  EXPECT_EQ(h_.broker().TruncatePartition(kP, 0).code(), ErrorCode::kInvalidArgument);
  // The new leader (epoch 2) ends epoch 1 at offset 1: cut back to it.
  h_.broker().Fence(kP, 2);
  ASSERT_TRUE(h_.broker().TruncatePartition(kP, 1).ok());
  h_.Turn();
  EXPECT_EQ(Staged(), 0u);
  EXPECT_EQ(h_.broker().follower_log().state(kP).end_offset, 1u);
  // The old leader cannot come back with its offset 2 either.
  EXPECT_EQ(*Take(1, 1, 2, 3, Record(2, "old two")), ReplicateResult::kStaleEpoch);
  ASSERT_EQ(*Take(2, 1, 2, 2, Record(2, "new two")), ReplicateResult::kStaged);
  ApplyAll();
  EXPECT_EQ(Alice(), (std::vector<std::string>{"one", "new two"}));

  h_.Restart();
  const store::PartitionLogState& state = h_.broker().follower_log().state(kP);
  EXPECT_EQ(state.end_offset, 2u);
  EXPECT_EQ(state.epochs, (std::vector<std::pair<uint64_t, uint64_t>>{{1, 1}, {2, 2}}));
  EXPECT_EQ(state.EndOfEpoch(1), 1u);
}

// Failover: a follower taken over by the control plane serves what it
// staged (its log's end) and carries the queues on where they were.
TEST_F(FollowerLogTest, APromotedFollowerServesWhatItStagedAndCarriesOn) {
  ASSERT_EQ(*Take(1, 0, 1, 1, Record(1, "one")), ReplicateResult::kStaged);
  ASSERT_EQ(*Take(1, 1, 2, 1, Record(2, "two")), ReplicateResult::kStaged);
  ClientId c = h_.Connect();
  h_.Publish(c, name_, "too early");
  h_.Turn();
  ASSERT_EQ(h_.out().confirms[c].size(), 1u);
  EXPECT_EQ(h_.out().confirms[c][0].status.code(), ErrorCode::kNotLeader);

  ASSERT_TRUE(h_.broker().Promote(kP, 2).ok());
  EXPECT_FALSE(h_.broker().serves(kP));  // not before its log is in the index
  h_.Turn();
  for (int i = 0; i < 100 && !h_.broker().serves(kP); ++i) h_.Advance(10);
  ASSERT_TRUE(h_.broker().serves(kP));
  EXPECT_FALSE(h_.broker().serves(kP + 1));
  EXPECT_EQ(Alice(), (std::vector<std::string>{"one", "two"}));

  h_.Subscribe(c, 1, name_, 10);
  h_.Publish(c, name_, "three");
  h_.Turn();
  ASSERT_EQ(h_.out().deliveries[c].size(), 3u);
  EXPECT_EQ(h_.out().deliveries[c][0].payload, "one");
  EXPECT_EQ(h_.out().deliveries[c][2].payload, "three");
  EXPECT_EQ(h_.out().deliveries[c][2].seq, 3u);  // the seqs carry on
  ASSERT_EQ(h_.out().confirms[c].size(), 2u);
  EXPECT_TRUE(h_.out().confirms[c][1].status.ok());
  EXPECT_EQ(store::IdPrefix(h_.out().confirms[c][1].msg_id), 2u);  // its own ids

  // Its log records where epoch 1 ended, for the followers it will have.
  Result<store::PartitionLogState> log = h_.store().ReadPartitionLog(kP);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(log->EndOfEpoch(1), 2u);
  EXPECT_EQ(log->epoch, 2u);
}

// Losing the partition: its subscribers are sent away, nothing more is
// served, and it can be taken over again once its stale queues are gone.
TEST_F(FollowerLogTest, ADemotedLeaderSendsItsSubscribersAway) {
  ASSERT_TRUE(h_.broker().Promote(kP, 1).ok());
  h_.Turn();
  for (int i = 0; i < 100 && !h_.broker().serves(kP); ++i) h_.Advance(10);
  ASSERT_TRUE(h_.broker().serves(kP));
  ClientId c = h_.Connect();
  ClientId bystander = h_.Connect();
  h_.Subscribe(c, 1, name_, 10);
  h_.Publish(c, name_, "x");
  h_.Turn();
  ASSERT_EQ(h_.out().deliveries[c].size(), 1u);

  h_.broker().Demote(kP);
  EXPECT_FALSE(h_.broker().serves(kP));
  ASSERT_FALSE(h_.out().replies[c].empty());
  const testing::Reply& away = h_.out().replies[c].back();
  EXPECT_EQ(away.kind, "error");
  EXPECT_EQ(away.status.code(), ErrorCode::kNotLeader);
  EXPECT_TRUE(h_.out().replies[bystander].empty());
  h_.Publish(bystander, name_, "y");
  h_.Turn();
  ASSERT_EQ(h_.out().confirms[bystander].size(), 1u);
  EXPECT_EQ(h_.out().confirms[bystander][0].status.code(), ErrorCode::kNotLeader);

  // Its queue is still in memory (the client has not gone yet): no
  // takeover on stale state.
  EXPECT_EQ(h_.broker().Promote(kP, 3).code(), ErrorCode::kUnavailable);
  h_.broker().Disconnect(c);  // the server closes the connection
  h_.Advance(5000);
  ASSERT_TRUE(h_.broker().Promote(kP, 3).ok());
  h_.Turn();
  for (int i = 0; i < 100 && !h_.broker().serves(kP); ++i) h_.Advance(10);
  EXPECT_TRUE(h_.broker().serves(kP));
  EXPECT_EQ(Alice(), (std::vector<std::string>{"x"}));  // unacked: still there
}

}  // namespace
}  // namespace hermod::core
