// A follower that writes its leader's shipped operations into its own log
// (core/replica_log.h) ends with the leader's state in its index, whichever
// of the two applied its log first: acks of entries only in the leader's
// log, acks from the leader's index, nacks and purges included.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core_harness.h"
#include "log_record.h"

namespace hermod::core {
namespace {

using testing::CoreHarness;

constexpr uint32_t kPartitions = 4;

struct Shipped {
  store::PartitionId partition = 0;
  std::string record;
  std::string commit_record;
};

// Param: how far the follower's clock moves (applying its log) right after
// it took the leader's publishes, before the leader's acks arrive.
class ReplicaLogTest : public ::testing::TestWithParam<uint64_t> {
 protected:
  void SetUp() override {
    leader_.config().partitions = kPartitions;
    leader_.config().id_prefix = 1;
    follower_.config().partitions = kPartitions;
    follower_.config().id_prefix = 2;
    leader_.Start();
    leader_.LeadAll();
    follower_.Start();
    // Every committed batch of the leader, cut by partition (all of which
    // this follower follows).
    leader_.committer().set_on_commit([this](const store::WriteBatch& batch) {
      std::map<store::PartitionId, Shipped> parts;
      for (bool commit : {false, true}) {
        const std::string& record = commit ? batch.log.commit_record() : batch.log.record();
        Result<std::vector<store::PartitionRecord>> split = store::SplitByPartition(record);
        ASSERT_TRUE(split.ok());
        for (store::PartitionRecord& part : *split) {
          if (part.partition == store::kNodeLocalPartition) continue;
          Shipped& s = parts[part.partition];
          s.partition = part.partition;
          (commit ? s.commit_record : s.record) = std::move(part.record);
        }
      }
      for (auto& [p, s] : parts) shipped_.push_back(std::move(s));
    });
  }

  // Turns the leader, and hands what it committed to the follower.
  void Sync() {
    leader_.Turn();
    for (const Shipped& s : shipped_) {
      Result<BatchNo> into =
          follower_.broker().AppendReplicated(s.partition, s.record, s.commit_record);
      ASSERT_TRUE(into.ok()) << into.status().ToString();
    }
    shipped_.clear();
    follower_.Turn();
  }

  // The queue as the store holds it: its counters and its entries.
  struct Snapshot {
    uint64_t depth = 0, bytes = 0, last_seq = 0;
    std::vector<std::tuple<Seq, MsgId, uint32_t>> entries;
    bool operator==(const Snapshot&) const = default;
  };
  static Snapshot Read(store::Store& store, std::string_view name) {
    Snapshot snap;
    Result<std::optional<store::QueueInfo>> info = store.FindQueue(name);
    EXPECT_TRUE(info.ok());
    if (!info.ok() || !info->has_value()) return snap;
    const store::QueueInfo& q = **info;
    snap.depth = q.state.depth;
    snap.bytes = q.state.bytes;
    snap.last_seq = q.state.last_seq;
    std::vector<store::StoredEntry> entries;
    EXPECT_TRUE(store.ReadEntries(q.queue_id, 1, q.state.last_seq + 1, 1000, &entries).ok());
    for (const store::StoredEntry& e : entries) {
      snap.entries.emplace_back(e.seq, e.value.msg_id, e.value.delivery_count);
    }
    return snap;
  }

  CoreHarness leader_;
  CoreHarness follower_;
  std::vector<Shipped> shipped_;

  // The scenario; with `restart`, the follower restarts (its memory gone,
  // its log replayed into its index) halfway.
  void Run(bool restart) {
    ClientId pub = leader_.Connect();
    ClientId con = leader_.Connect();
    leader_.Subscribe(con, 1, "alice", 100);
    for (int i = 0; i < 10; ++i) {
      for (const char* q : {"alice", "bob", "carol"})
        leader_.Publish(pub, q, "m" + std::to_string(i));
    }
    Sync();
    ASSERT_EQ(leader_.out().deliveries[con].size(), 10u);
    EXPECT_GT(follower_.broker().replica_pending(), 0u);
    follower_.Advance(GetParam());

    // Acked while only in the leader's log: kAck.
    leader_.broker().Ack(con, 1, 1, 3);
    Sync();
    // The leader applies its log; acks from here on are kIndexAck.
    leader_.Advance(1500);
    Sync();
    if (restart) follower_.Restart();
    leader_.broker().Ack(con, 1, 4, 6);
    leader_.broker().Nack(con, 1, 7, 0);  // redelivered: a delivery count
    leader_.broker().PurgeQueue(pub, 99, "carol", false);
    for (int i = 0; i < 3; ++i) leader_.Publish(pub, "bob", "late" + std::to_string(i));
    Sync();
    leader_.broker().Ack(con, 1, 8, 8);
    Sync();

    // Both apply everything.
    leader_.Advance(5000);
    Sync();
    follower_.Advance(5000);
    Sync();
    follower_.Advance(5000);

    for (const char* q : {"alice", "bob", "carol"}) {
      Snapshot want = Read(leader_.store(), q);
      Snapshot got = Read(follower_.store(), q);
      EXPECT_EQ(got, want) << q << ": follower depth " << got.depth << " entries "
                           << got.entries.size() << ", leader depth " << want.depth << " entries "
                           << want.entries.size();
    }
    Snapshot alice = Read(leader_.store(), "alice");
    EXPECT_EQ(alice.depth, 3u);  // 7 (nacked, redelivered), 9, 10
    EXPECT_EQ(Read(leader_.store(), "carol").depth, 0u);
    EXPECT_EQ(Read(leader_.store(), "bob").depth, 13u);
    EXPECT_EQ(follower_.broker().replica_pending(), 0u);
  }
};

TEST_P(ReplicaLogTest, TheFollowersIndexEndsAsTheLeaders) { Run(false); }

TEST_P(ReplicaLogTest, AndSoAfterTheFollowerRestarts) { Run(true); }

INSTANTIATE_TEST_SUITE_P(FollowerApplies, ReplicaLogTest, ::testing::Values(0, 2000),
                         [](const ::testing::TestParamInfo<uint64_t>& info) {
                           return info.param == 0 ? std::string("AfterTheLeader")
                                                  : std::string("BeforeTheLeader");
                         });

}  // namespace
}  // namespace hermod::core
