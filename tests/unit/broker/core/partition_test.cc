// The core's side of a cluster's partitions (docs/cluster.md): every
// operation it logs is tagged with the partition of its queue or group, so a
// leader can ship each partition's operations to that partition's
// followers; every id it allocates carries its data directory's prefix, so
// replicas hold their leaders' ids side by side.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "core_harness.h"
#include "hermod/partition.h"
#include "log_record.h"

namespace hermod::core {
namespace {

using testing::CoreHarness;

constexpr uint32_t kPartitions = 8;
constexpr uint32_t kPrefix = 5;

class CorePartitionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    h_.config().cluster = true;
    h_.config().partitions = kPartitions;
    h_.config().id_prefix = kPrefix;
    h_.Start();
    h_.LeadAll();
  }
  CoreHarness h_;
};

TEST_F(CorePartitionTest, OperationsCarryTheirQueuesOrGroupsPartitionAndIdsThePrefix) {
  ClientId c = h_.Connect();
  h_.committer().Hold();
  // Enough names that several partitions are in one batch.
  std::vector<std::string> queues = {"alice", "bob", "carol", "dave", "erin", "frank"};
  for (const std::string& q : queues) h_.Publish(c, q, "hi");
  h_.CreateGroup(c, "team", {"alice", "bob"});
  h_.PublishToGroup(c, "team", "to all");
  h_.Turn();
  ASSERT_GE(h_.committer().held(), 1u);

  std::map<store::QueueId, std::string> names;
  std::set<store::PartitionId> partitions;
  size_t ops = 0;
  for (size_t i = 0; i < h_.committer().held(); ++i) {
    const store::WriteBatch& batch = h_.committer().held_batch(i);
    for (const std::string* record : {&batch.log.record(), &batch.log.commit_record()}) {
      store::LogReader reader(*record);
      store::LogOp op;
      while (reader.Next(&op)) {
        ++ops;
        partitions.insert(op.partition);
        switch (op.type) {
          case store::LogOpType::kCreateQueue:
            EXPECT_EQ(store::IdPrefix(op.queue_id), kPrefix);
            names[op.queue_id] = std::string(op.name);
            EXPECT_EQ(op.partition, PartitionOf(op.name, kPartitions)) << op.name;
            break;
          case store::LogOpType::kPublish:
          case store::LogOpType::kEntry:
            EXPECT_EQ(store::IdPrefix(op.msg_id), kPrefix);
            ASSERT_EQ(names.count(op.queue_id), 1u);
            EXPECT_EQ(op.partition, PartitionOf(names[op.queue_id], kPartitions));
            break;
          case store::LogOpType::kGroupChange:
            EXPECT_EQ(op.group, "team");
            EXPECT_EQ(op.partition, PartitionOf("team", kPartitions));
            if (op.group_kind == store::GroupChange::kCreate) {
              EXPECT_EQ(store::IdPrefix(op.group_id), kPrefix);
            }
            break;
          case store::LogOpType::kFanoutStart:
          case store::LogOpType::kFanoutProgress:
            EXPECT_EQ(op.partition, PartitionOf("team", kPartitions));
            EXPECT_EQ(store::IdPrefix(op.job_id), kPrefix);
            EXPECT_EQ(store::IdPrefix(op.msg_id), kPrefix);
            break;
          default:
            break;
        }
      }
      ASSERT_TRUE(reader.status().ok());
    }
  }
  EXPECT_EQ(names.size(), queues.size());
  EXPECT_GT(partitions.size(), 2u);  // six names over eight partitions
  EXPECT_GT(ops, queues.size());

  h_.committer().Release();
  h_.Turn();
  for (const testing::Confirm& confirm : h_.out().confirms[c]) {
    EXPECT_TRUE(confirm.status.ok());
    EXPECT_EQ(store::IdPrefix(confirm.msg_id), kPrefix);
  }
}

TEST_F(CorePartitionTest, IdsOfAnotherPrefixNeverMoveThisNodesCounters) {
  // A follower applies its leader's operations: their ids are not its own.
  store::LogOp foreign;
  foreign.type = store::LogOpType::kPublish;
  foreign.queue_id = store::IdBase(9) + 7;
  foreign.msg_id = store::IdBase(9) + 1000;
  h_.broker().ApplyCommitted(foreign);
  foreign.type = store::LogOpType::kCreateQueue;
  h_.broker().ApplyCommitted(foreign);

  ClientId c = h_.Connect();
  h_.Publish(c, "q", "x");
  h_.Turn();
  ASSERT_EQ(h_.out().confirms[c].size(), 1u);
  store::MsgId first = h_.out().confirms[c][0].msg_id;
  EXPECT_EQ(store::IdPrefix(first), kPrefix);

  // Its own ids survive a restart: the next one is above the last.
  h_.Restart();
  h_.LeadAll();
  ClientId d = h_.Connect();
  h_.Publish(d, "q", "y");
  h_.Turn();
  ASSERT_EQ(h_.out().confirms[d].size(), 1u);
  EXPECT_EQ(store::IdPrefix(h_.out().confirms[d][0].msg_id), kPrefix);
  EXPECT_GT(h_.out().confirms[d][0].msg_id, first);
}

// A cluster leader confirms only what its in-sync replicas have durable:
// the replies of a committed batch wait for OnReplicated(); the listener
// sees the batch (its records, to ship) when it commits.
TEST_F(CorePartitionTest, ConfirmsWaitForReplication) {
  std::vector<BatchNo> committed;
  std::string shipped;
  h_.broker().set_commit_listener([&](const store::WriteBatch& batch) {
    if (!batch.status.ok()) return;
    committed.push_back(batch.batch_no);
    shipped += batch.log.record();
  });
  h_.broker().set_replication_gate(true);
  ClientId c = h_.Connect();
  ClientId consumer = h_.Connect();
  h_.Subscribe(consumer, 1, "q", 10);
  h_.Publish(c, "q", "first");
  h_.Turn();
  ASSERT_EQ(committed.size(), 1u);
  EXPECT_NE(shipped.find("first"), std::string::npos);
  EXPECT_TRUE(h_.out().confirms[c].empty());            // durable here, not yet on the replicas
  EXPECT_EQ(h_.out().deliveries[consumer].size(), 1u);  // delivery does not wait

  h_.Publish(c, "q", "second");
  h_.Turn();
  ASSERT_EQ(committed.size(), 2u);
  h_.broker().OnReplicated(committed[0]);
  ASSERT_EQ(h_.out().confirms[c].size(), 1u);  // the first batch's only
  h_.broker().OnReplicated(committed[0]);      // again: nothing more
  EXPECT_EQ(h_.out().confirms[c].size(), 1u);
  h_.broker().OnReplicated(committed[1]);
  ASSERT_EQ(h_.out().confirms[c].size(), 2u);
  EXPECT_TRUE(h_.out().confirms[c][1].status.ok());

  // A drain waits for the replicas too.
  h_.Publish(c, "q", "third");
  bool drained = false;
  h_.broker().Drain([&] { drained = true; });
  h_.Turn();
  EXPECT_FALSE(drained);
  h_.broker().OnReplicated(committed.back());
  EXPECT_TRUE(drained);
  EXPECT_EQ(h_.out().confirms[c].size(), 3u);
}

// A batch that can no longer be replicated (leadership moved) fails its
// publishes: never a false confirm.
TEST_F(CorePartitionTest, ABatchThatCannotBeReplicatedFailsItsPublishes) {
  std::vector<BatchNo> committed;
  h_.broker().set_commit_listener(
      [&](const store::WriteBatch& batch) { committed.push_back(batch.batch_no); });
  h_.broker().set_replication_gate(true);
  ClientId c = h_.Connect();
  h_.Publish(c, "q", "doomed");
  h_.Turn();
  ASSERT_EQ(committed.size(), 1u);
  h_.broker().FailReplication(committed[0], Status(ErrorCode::kUnavailable, "not the leader"));
  EXPECT_TRUE(h_.out().confirms[c].empty());
  h_.broker().OnReplicated(committed[0]);
  ASSERT_EQ(h_.out().confirms[c].size(), 1u);
  EXPECT_EQ(h_.out().confirms[c][0].status.code(), ErrorCode::kUnavailable);
}

// Answers of the core to an internal client's requests.
struct InternalReplyLog final : core::InternalReplies {
  void Replied(uint64_t correlation_id, const Status& status) override {
    replies.emplace_back(correlation_id, status);
  }
  std::vector<std::pair<uint64_t, Status>> replies;
};

core::ForwardedPublish AsRequest(const core::OutboundForward& f, uint64_t correlation_id) {
  core::ForwardedPublish request;
  request.correlation_id = correlation_id;
  request.partition = f.to;
  request.group_id = f.group_id;
  request.job_id = f.job_id;
  request.chunk = f.chunk;
  request.envelope = f.envelope;
  request.names = f.names;
  return request;
}

// Group fan-out across partitions: a member of another partition is kept
// by name (its queue is its own leader's to create); a publish stores the
// message once with the group's members and logs a forward for the other
// partition, handed on once durable; the members' leader stores it once
// however often it arrives; ForwardDone drops the forward; a leader taking
// the group's partition over sends what is still open again.
TEST(CoreGroupPartitions, MembersOfOtherPartitionsGetTheirEntriesByForward) {
  CoreHarness h;
  h.config().cluster = true;
  h.config().partitions = kPartitions;
  h.Start();
  h.LeadAll();
  const std::string group = "team";
  const store::PartitionId group_p = PartitionOf(group, kPartitions);
  std::string local, remote;
  for (int i = 0; local.empty() || remote.empty(); ++i) {
    std::string name = "m" + std::to_string(i);
    store::PartitionId p = PartitionOf(name, kPartitions);
    if (p == group_p && local.empty()) local = name;
    if (p != group_p && remote.empty()) remote = name;
  }
  const store::PartitionId remote_p = PartitionOf(remote, kPartitions);
  std::vector<core::OutboundForward> forwards;
  h.broker().set_forward_listener(
      [&](core::OutboundForward f) { forwards.push_back(std::move(f)); });
  InternalReplyLog internal;
  const ClientId forwarder = 1u << 30;
  h.broker().ConnectInternal(forwarder, &internal);

  ClientId c = h.Connect();
  h.CreateGroup(c, group, {local, remote});
  h.Advance(5000);
  EXPECT_EQ(testing::ReadStoredQueue(h.store(), remote).last_seq, 0u);  // not created

  h.PublishToGroup(c, group, "first");
  h.Turn();
  ASSERT_EQ(h.out().confirms[c].size(), 1u);
  EXPECT_TRUE(h.out().confirms[c][0].status.ok()) << h.out().confirms[c][0].status.ToString();
  ASSERT_EQ(forwards.size(), 1u);
  EXPECT_EQ(forwards[0].from, group_p);
  EXPECT_EQ(forwards[0].to, remote_p);
  EXPECT_EQ(forwards[0].names, std::vector<std::string>{remote});
  std::vector<store::RecoveredForward> open;
  ASSERT_TRUE(h.store().ReadFanoutForwards(&open).ok());
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].envelope, forwards[0].envelope);

  // Arrives twice (a resend): one entry.
  h.broker().PublishForwarded(forwarder, AsRequest(forwards[0], 1));
  h.Turn();
  h.broker().PublishForwarded(forwarder, AsRequest(forwards[0], 2));
  h.Turn();
  ASSERT_EQ(internal.replies.size(), 2u);
  EXPECT_TRUE(internal.replies[0].second.ok()) << internal.replies[0].second.ToString();
  EXPECT_TRUE(internal.replies[1].second.ok()) << internal.replies[1].second.ToString();
  h.Advance(5000);  // the log is applied to the index
  EXPECT_EQ(testing::ReadStoredQueue(h.store(), local).depth, 1u);
  EXPECT_EQ(testing::ReadStoredQueue(h.store(), remote).depth, 1u);

  // Done: the forward and its hold on the message go.
  h.broker().ForwardDone(forwards[0]);
  h.Turn();
  open.clear();
  ASSERT_TRUE(h.store().ReadFanoutForwards(&open).ok());
  EXPECT_TRUE(open.empty());

  // A forward still open when the group's partition changes hands goes out
  // again from its next leader.
  h.PublishToGroup(c, group, "second");
  h.Turn();
  ASSERT_EQ(forwards.size(), 2u);
  h.broker().Demote(group_p);
  h.Turn();
  // (Refused while its queues from the last leadership are in memory.)
  for (int i = 0; i < 100 && !h.broker().Promote(group_p, 2).ok(); ++i) h.Advance(100);
  for (int i = 0; i < 100 && !h.broker().serves(group_p); ++i) h.Advance(10);
  ASSERT_TRUE(h.broker().serves(group_p));
  ASSERT_EQ(forwards.size(), 3u);
  EXPECT_EQ(forwards[2].job_id, forwards[1].job_id);
  EXPECT_EQ(forwards[2].names, forwards[1].names);

  // The members' partition led elsewhere: refused, nothing stored.
  h.broker().Demote(remote_p);
  h.broker().PublishForwarded(forwarder, AsRequest(forwards[2], 3));
  h.Turn();
  ASSERT_EQ(internal.replies.size(), 3u);
  EXPECT_EQ(internal.replies[2].second.code(), ErrorCode::kNotLeader);
  h.Advance(5000);
  EXPECT_EQ(testing::ReadStoredQueue(h.store(), remote).depth, 1u);
  EXPECT_EQ(testing::ReadStoredQueue(h.store(), local).depth, 2u);
  h.broker().Disconnect(forwarder);
}

// Receipts whose queue is in another partition go there by forward, once;
// a group's copy forwarded to another partition names its publisher's
// message id in its receipts; "all" is refused across partitions.
TEST(CoreGroupPartitions, AReceiptForAnotherPartitionGoesByForwardOnce) {
  CoreHarness h;
  h.config().cluster = true;
  h.config().partitions = kPartitions;
  h.Start();
  h.LeadAll();
  const std::string inbox = "inbox:bob";
  const store::PartitionId inbox_p = PartitionOf(inbox, kPartitions);
  std::string receipts;
  for (int i = 0; receipts.empty(); ++i) {
    std::string name = "receipts:" + std::to_string(i);
    if (PartitionOf(name, kPartitions) != inbox_p) receipts = name;
  }
  std::vector<core::OutboundForward> forwards;
  h.broker().set_forward_listener(
      [&](core::OutboundForward f) { forwards.push_back(std::move(f)); });
  InternalReplyLog internal;
  const ClientId forwarder = 1u << 30;
  h.broker().ConnectInternal(forwarder, &internal);

  ClientId c = h.Connect();
  PublishRequest p;
  p.correlation_id = 1;
  p.queue = inbox;
  p.payload = "hi";
  p.receipt_to = receipts;
  h.broker().Publish(c, p);
  h.Turn();
  ASSERT_EQ(h.out().confirms[c].size(), 1u);
  ASSERT_TRUE(h.out().confirms[c][0].status.ok()) << h.out().confirms[c][0].status.ToString();
  const MsgId msg_id = h.out().confirms[c][0].msg_id;
  h.Subscribe(c, 1, inbox, 10);
  h.Turn();
  ASSERT_EQ(h.out().deliveries[c].size(), 1u);
  h.broker().Ack(c, 1, 1, 1);
  h.Turn();
  ASSERT_EQ(forwards.size(), 1u) << "the receipt did not go by forward";
  EXPECT_EQ(forwards[0].from, inbox_p);
  EXPECT_EQ(forwards[0].to, PartitionOf(receipts, kPartitions));
  EXPECT_EQ(forwards[0].names, std::vector<std::string>{receipts});
  // Nothing was written into the receipt queue's partition by the ack.
  EXPECT_EQ(h.Depth(receipts), 0u);

  // Sent twice (a resend): stored once.
  h.broker().PublishForwarded(forwarder, AsRequest(forwards[0], 1));
  h.Turn();
  h.broker().PublishForwarded(forwarder, AsRequest(forwards[0], 2));
  h.Turn();
  ASSERT_EQ(internal.replies.size(), 2u);
  EXPECT_TRUE(internal.replies[1].second.ok()) << internal.replies[1].second.ToString();
  h.broker().ForwardDone(forwards[0]);
  h.Turn();
  std::vector<store::RecoveredForward> open;
  ASSERT_TRUE(h.store().ReadFanoutForwards(&open).ok());
  EXPECT_TRUE(open.empty());
  h.Subscribe(c, 2, receipts, 10);
  h.Turn();
  ASSERT_EQ(h.out().deliveries[c].size(), 2u);
  const testing::Delivered& receipt = h.out().deliveries[c][1];
  EXPECT_EQ(receipt.headers.at("kind"), "delivered");
  EXPECT_EQ(receipt.headers.at("msg-id"), std::to_string(msg_id));
  EXPECT_EQ(receipt.headers.at("queue"), inbox);
  h.Advance(5000);
  EXPECT_EQ(testing::ReadStoredQueue(h.store(), receipts).depth, 1u);

  // A group publish: its copy forwarded to another partition asks for
  // receipts under the publisher's message id.
  const std::string group = "team";
  const store::PartitionId group_p = PartitionOf(group, kPartitions);
  std::string remote;
  for (int i = 0; remote.empty(); ++i) {
    std::string name = "m" + std::to_string(i);
    store::PartitionId at = PartitionOf(name, kPartitions);
    if (at != group_p && at != PartitionOf(receipts, kPartitions)) remote = name;
  }
  h.CreateGroup(c, group, {remote});
  h.Turn();
  PublishRequest g;
  g.correlation_id = 2;
  g.group = group;
  g.payload = "to all";
  g.receipt_to = receipts;
  g.receipt = "all";
  h.broker().Publish(c, g);
  g.correlation_id = 3;
  g.receipt = "each";
  h.broker().Publish(c, g);
  h.Turn();
  ASSERT_EQ(h.out().confirms[c].size(), 3u);
  EXPECT_EQ(h.out().confirms[c][1].status.code(), ErrorCode::kNotSupported);
  ASSERT_TRUE(h.out().confirms[c][2].status.ok()) << h.out().confirms[c][2].status.ToString();
  const MsgId group_msg = h.out().confirms[c][2].msg_id;
  ASSERT_EQ(forwards.size(), 2u);
  store::EnvelopeView copy;
  ASSERT_TRUE(copy.Parse(forwards[1].envelope));
  std::string_view named;
  ASSERT_TRUE(copy.FindHeader(store::kReceiptMsgIdHeader, &named));
  EXPECT_EQ(named, std::to_string(group_msg));
  h.broker().PublishForwarded(forwarder, AsRequest(forwards[1], 3));
  h.Turn();
  h.Subscribe(c, 3, remote, 10);
  h.Turn();
  ASSERT_EQ(h.out().deliveries[c].size(), 3u);
  h.broker().Ack(c, 3, 1, 1);
  h.Turn();
  ASSERT_EQ(forwards.size(), 3u);
  store::EnvelopeView made;
  ASSERT_TRUE(made.Parse(forwards[2].envelope));
  std::string_view receipt_msg;
  ASSERT_TRUE(made.FindHeader("msg-id", &receipt_msg));
  EXPECT_EQ(receipt_msg, std::to_string(group_msg));
  h.broker().Disconnect(forwarder);
}

// A dead letter whose dead-letter queue is in another partition goes there
// by forward, and a redrive back goes by forward too; a forwarded copy
// waits (refused, resent) while its queue is full.
TEST(CoreGroupPartitions, DeadLettersAndRedrivesCrossPartitionsByForward) {
  CoreHarness h;
  h.config().cluster = true;
  h.config().partitions = kPartitions;
  h.Start();
  h.LeadAll();
  std::string q;
  for (int i = 0; q.empty(); ++i) {
    std::string name = "orders" + std::to_string(i);
    if (PartitionOf(name, kPartitions) != PartitionOf(name + ".dlq", kPartitions)) q = name;
  }
  const std::string dlq = q + ".dlq";
  std::vector<core::OutboundForward> forwards;
  h.broker().set_forward_listener(
      [&](core::OutboundForward f) { forwards.push_back(std::move(f)); });
  InternalReplyLog internal;
  const ClientId forwarder = 1u << 30;
  h.broker().ConnectInternal(forwarder, &internal);

  ClientId c = h.Connect();
  QueueOverrides o;
  o.max_deliveries = 1;
  h.Configure(c, q, o);
  h.Publish(c, q, "poison");
  h.Subscribe(c, 1, q, 10);
  h.Turn();
  ASSERT_EQ(h.out().deliveries[c].size(), 1u);
  h.broker().Nack(c, 1, 1, 0);
  h.Turn();
  EXPECT_EQ(h.Depth(q), 0u);
  ASSERT_EQ(forwards.size(), 1u) << "the dead letter did not go by forward";
  EXPECT_EQ(forwards[0].from, PartitionOf(q, kPartitions));
  EXPECT_EQ(forwards[0].names, std::vector<std::string>{dlq});
  EXPECT_EQ(h.Depth(dlq), 0u) << "written into the other partition directly";

  // The dead-letter queue is full: refused, nothing stored; later stored.
  QueueOverrides full;
  full.max_messages = 1;
  h.Configure(c, dlq, full);
  h.Publish(c, dlq, "filler");
  h.Turn();
  h.broker().PublishForwarded(forwarder, AsRequest(forwards[0], 1));
  h.Turn();
  ASSERT_EQ(internal.replies.size(), 1u);
  EXPECT_EQ(internal.replies[0].second.code(), ErrorCode::kLimitExceeded);
  EXPECT_EQ(h.Depth(dlq), 1u);
  QueueOverrides unlimited;
  unlimited.max_messages = 0;
  h.Configure(c, dlq, unlimited);
  h.Turn();
  h.broker().PublishForwarded(forwarder, AsRequest(forwards[0], 2));
  h.Turn();
  ASSERT_EQ(internal.replies.size(), 2u);
  EXPECT_TRUE(internal.replies[1].second.ok()) << internal.replies[1].second.ToString();
  h.broker().ForwardDone(forwards[0]);
  h.Turn();
  EXPECT_EQ(h.Depth(dlq), 2u);

  // Redrive: the dead letter goes home by forward; the filler has no origin.
  h.broker().Redrive(c, 77, dlq, "", 0);
  h.Turn();
  const testing::Reply& r = h.out().replies[c].back();
  EXPECT_EQ(r.kind, "redriven") << r.status.ToString();
  EXPECT_EQ(r.count, 1u);
  ASSERT_EQ(forwards.size(), 2u);
  EXPECT_EQ(forwards[1].names, std::vector<std::string>{q});
  EXPECT_EQ(h.Depth(dlq), 1u);
  h.broker().PublishForwarded(forwarder, AsRequest(forwards[1], 3));
  h.Turn();
  EXPECT_EQ(h.Depth(q), 1u);
  h.Subscribe(c, 2, q, 10);
  h.Turn();
  ASSERT_EQ(h.out().deliveries[c].size(), 2u);
  const testing::Delivered& back = h.out().deliveries[c][1];
  EXPECT_EQ(back.payload, "poison");
  EXPECT_EQ(back.delivery_count, 1u);
  EXPECT_EQ(back.headers.count("x-hermod-dead-letter-from"), 0u);
  h.broker().Disconnect(forwarder);
}

// A batch that fails at storage: the forwards of a refused group publish
// never leave; those of one whose publisher went away (so it is retried)
// leave once the retry commits.
TEST(CoreGroupPartitions, AFailedBatchSendsNoForwardOfARefusedPublish) {
  CoreHarness h;
  h.config().cluster = true;
  h.config().partitions = kPartitions;
  h.Start();
  h.LeadAll();
  const std::string group = "team";
  std::string remote;
  for (int i = 0; remote.empty(); ++i) {
    std::string name = "m" + std::to_string(i);
    if (PartitionOf(name, kPartitions) != PartitionOf(group, kPartitions)) remote = name;
  }
  std::vector<core::OutboundForward> forwards;
  h.broker().set_forward_listener(
      [&](core::OutboundForward f) { forwards.push_back(std::move(f)); });
  ClientId c = h.Connect();
  h.CreateGroup(c, group, {remote});
  h.Turn();

  // Its publisher went away: retried, and its forward with it.
  ClientId gone = h.Connect();
  h.PublishToGroup(gone, group, "retried");
  h.broker().Disconnect(gone);
  h.store().TEST_FailNextCommit(Status::StorageFull("injected: no room"));
  h.Turn();
  h.Advance(100);
  ASSERT_EQ(forwards.size(), 1u);
  std::vector<store::RecoveredForward> open;
  ASSERT_TRUE(h.store().ReadFanoutForwards(&open).ok());
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].msg_id, forwards[0].msg_id);

  // Its publisher waits: refused, and no forward leaves or stays.
  h.store().TEST_FailNextCommit(Status::StorageFull("injected: no room"));
  h.PublishToGroup(c, group, "refused");
  h.Turn();
  h.Advance(100);
  ASSERT_FALSE(h.out().confirms[c].empty());
  EXPECT_EQ(h.out().confirms[c].back().status.code(), ErrorCode::kStorageFull);
  EXPECT_EQ(forwards.size(), 1u);
  open.clear();
  ASSERT_TRUE(h.store().ReadFanoutForwards(&open).ok());
  EXPECT_EQ(open.size(), 1u);
}

TEST(PartitionPrefix, AStoreRefusesAPrefixOutOfRange) {
  store::MemEnv env;
  store::Store store(&env);
  ASSERT_TRUE(store.Open().ok());
  EXPECT_EQ(store.Recover(nullptr, store::kMaxIdPrefix + 1).status().code(),
            ErrorCode::kInvalidArgument);
  Result<store::Recovery> recovery = store.Recover(nullptr, 3);
  ASSERT_TRUE(recovery.ok());
  EXPECT_EQ(recovery->ids.next_msg_id, store::IdBase(3) + 1);
  EXPECT_EQ(recovery->ids.next_queue_id, store::IdBase(3) + 1);
  EXPECT_GE(recovery->msg_id_lease, recovery->ids.next_msg_id);
}

}  // namespace
}  // namespace hermod::core
