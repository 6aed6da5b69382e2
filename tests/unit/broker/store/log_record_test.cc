#include "log_record.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace hermod::store {
namespace {

TEST(LogRecord, RoundTripsEveryOperation) {
  LogWriter w;
  EXPECT_TRUE(w.empty());
  w.CreateQueue(7, 1234, "user:7");
  w.PublishEncoded(7, 1, 100, "hello");
  w.Ack(7, 1);
  w.Delivered(7, 2, 3);
  EXPECT_EQ(w.ops(), 4u);

  LogReader r(w.record());
  LogOp op;
  ASSERT_TRUE(r.Next(&op));
  EXPECT_EQ(op.type, LogOpType::kCreateQueue);
  EXPECT_EQ(op.queue_id, 7u);
  EXPECT_EQ(op.created_ms, 1234u);
  EXPECT_EQ(op.name, "user:7");
  ASSERT_TRUE(r.Next(&op));
  EXPECT_EQ(op.type, LogOpType::kPublish);
  EXPECT_EQ(op.seq, 1u);
  EXPECT_EQ(op.msg_id, 100u);
  EXPECT_EQ(op.envelope, "hello");
  ASSERT_TRUE(r.Next(&op));
  EXPECT_EQ(op.type, LogOpType::kAck);
  EXPECT_EQ(op.seq, 1u);
  ASSERT_TRUE(r.Next(&op));
  EXPECT_EQ(op.type, LogOpType::kDelivered);
  EXPECT_EQ(op.delivery_count, 3u);
  EXPECT_FALSE(r.Next(&op));
  EXPECT_TRUE(r.status().ok());
}

// Acks of indexed entries, expired dedup records, purges, group changes and
// fan-out jobs are logged too, so a batch's operations describe all it
// changed; the commit that logs them applies them, so they go to the commit
// record and the log keeps only the record for the apply step.
TEST(LogRecord, RoundTripsTheOperationsAppliedAtCommit) {
  LogWriter w;
  w.IndexAck(7, 3, 100, 256, 9000);
  w.DedupExpire(std::string("key\0with-nul", 12));
  w.Purge(8, 10, 20);
  EXPECT_EQ(w.ops(), 3u);
  EXPECT_TRUE(w.has_commit_ops());
  EXPECT_FALSE(w.needs_apply());
  EXPECT_TRUE(w.record().empty());
  w.Ack(7, 4);
  EXPECT_TRUE(w.needs_apply());

  LogReader r(w.commit_record());
  LogOp op;
  ASSERT_TRUE(r.Next(&op));
  EXPECT_EQ(op.type, LogOpType::kIndexAck);
  EXPECT_TRUE(AppliedAtCommit(op.type));
  EXPECT_EQ(op.queue_id, 7u);
  EXPECT_EQ(op.seq, 3u);
  EXPECT_EQ(op.msg_id, 100u);
  EXPECT_EQ(op.bytes, 256u);
  EXPECT_EQ(op.expires_ms, 9000u);
  ASSERT_TRUE(r.Next(&op));
  EXPECT_EQ(op.type, LogOpType::kDedupExpire);
  EXPECT_EQ(op.key, std::string_view("key\0with-nul", 12));
  ASSERT_TRUE(r.Next(&op));
  EXPECT_EQ(op.type, LogOpType::kPurge);
  EXPECT_EQ(op.queue_id, 8u);
  EXPECT_EQ(op.seq, 10u);
  EXPECT_EQ(op.to, 20u);
  EXPECT_FALSE(r.Next(&op));
  EXPECT_TRUE(r.status().ok());

  LogReader apply(w.record());
  ASSERT_TRUE(apply.Next(&op));
  EXPECT_EQ(op.type, LogOpType::kAck);
  EXPECT_FALSE(AppliedAtCommit(op.type));
  EXPECT_FALSE(apply.Next(&op));

  // Copy routes each operation to the record it came from, byte for byte.
  LogWriter copy;
  for (const std::string* record : {&w.commit_record(), &w.record()}) {
    LogReader again(*record);
    while (again.Next(&op)) copy.Copy(op);
  }
  EXPECT_EQ(copy.commit_record(), w.commit_record());
  EXPECT_EQ(copy.record(), w.record());
}

TEST(LogRecord, RoundTripsGroupChangesAndFanoutJobs) {
  LogWriter w;
  GroupChange create;
  create.kind = GroupChange::kCreate;
  create.group = "team";
  create.group_id = 5;
  create.created_ms = 777;
  w.ChangeGroup(create);
  std::vector<size_t> ends = {w.commit_record().size()};
  GroupChange add;
  add.kind = GroupChange::kAdd;
  add.group = "team";
  add.member = "user:1";
  add.queue_id = 41;
  w.ChangeGroup(add);
  ends.push_back(w.commit_record().size());
  FanoutStart start;
  start.job_id = 9;
  start.msg_id = 300;
  start.group_id = 5;
  start.created_ms = 888;
  start.envelope = std::string("env\0elope", 9);
  start.members = {41, 42, 1ull << 40};
  w.StartFanout(start);
  ends.push_back(w.commit_record().size());
  FanoutProgress progress;
  progress.job_id = 9;
  progress.msg_id = 300;
  progress.cursor = 2;
  progress.added = 2;
  progress.done = false;
  w.AdvanceFanout(progress);
  EXPECT_EQ(w.ops(), 4u);
  EXPECT_FALSE(w.needs_apply());
  EXPECT_TRUE(w.has_commit_ops());

  LogReader r(w.commit_record());
  LogOp op;
  ASSERT_TRUE(r.Next(&op));
  ASSERT_EQ(op.type, LogOpType::kGroupChange);
  GroupChange c = op.ToGroupChange();
  EXPECT_EQ(c.kind, GroupChange::kCreate);
  EXPECT_EQ(c.group, "team");
  EXPECT_EQ(c.group_id, 5u);
  EXPECT_EQ(c.created_ms, 777u);
  ASSERT_TRUE(r.Next(&op));
  c = op.ToGroupChange();
  EXPECT_EQ(c.kind, GroupChange::kAdd);
  EXPECT_EQ(c.member, "user:1");
  EXPECT_EQ(c.queue_id, 41u);
  ASSERT_TRUE(r.Next(&op));
  ASSERT_EQ(op.type, LogOpType::kFanoutStart);
  FanoutStart s = op.ToFanoutStart();
  EXPECT_EQ(s.job_id, 9u);
  EXPECT_EQ(s.msg_id, 300u);
  EXPECT_EQ(s.group_id, 5u);
  EXPECT_EQ(s.created_ms, 888u);
  EXPECT_EQ(s.envelope, start.envelope);
  EXPECT_EQ(s.members, start.members);
  ASSERT_TRUE(r.Next(&op));
  ASSERT_EQ(op.type, LogOpType::kFanoutProgress);
  FanoutProgress p = op.ToFanoutProgress();
  EXPECT_EQ(p.job_id, 9u);
  EXPECT_EQ(p.msg_id, 300u);
  EXPECT_EQ(p.cursor, 2u);
  EXPECT_EQ(p.added, 2u);
  EXPECT_FALSE(p.done);
  EXPECT_FALSE(r.Next(&op));
  EXPECT_TRUE(r.status().ok());

  LogWriter copy;
  LogReader again(w.commit_record());
  while (again.Next(&op)) copy.Copy(op);
  EXPECT_EQ(copy.commit_record(), w.commit_record());

  // An operation cut short (a fan-out start's member list too) is
  // corruption, not a shorter operation.
  const std::string& full = w.commit_record();
  for (size_t n = 2; n < full.size(); ++n) {
    if (std::find(ends.begin(), ends.end(), n) != ends.end()) continue;
    LogReader cut(std::string_view(full).substr(0, n));
    while (cut.Next(&op)) {
    }
    EXPECT_FALSE(cut.status().ok()) << n;
  }
}

TEST(LogRecord, ReportsTruncationAsCorruption) {
  LogWriter w;
  w.CreateQueue(1, 2, "q");
  w.PublishEncoded(1, 1, 1, "abc");
  const std::string& full = w.record();
  for (size_t n = 2; n < full.size(); ++n) {
    LogReader r(std::string_view(full).substr(0, n));
    LogOp op;
    while (r.Next(&op)) {
    }
    if (n == 1 + 1 + 18 + 1) continue;  // exactly the first op: a valid record
    EXPECT_FALSE(r.status().ok()) << n;
  }
}

TEST(LogRecord, RefusesUnknownVersionAndType) {
  LogReader newer(std::string("\x09\x01", 2));
  LogOp op;
  EXPECT_FALSE(newer.Next(&op));
  EXPECT_FALSE(newer.status().ok());
  LogReader unknown(std::string("\x01\x63", 2));
  EXPECT_FALSE(unknown.Next(&op));
  EXPECT_FALSE(unknown.status().ok());
}

}  // namespace
}  // namespace hermod::store

namespace hermod::store {
namespace {

// A failed batch's record is retried by copying its operations in front of
// the next batch's: the result reads back as the two in that order.
TEST(LogRecord, CopyAndPrependKeepEveryOperationInOrder) {
  LogWriter failed;
  failed.CreateQueue(7, 1000, "q");
  failed.PublishEncoded(7, 1, 11, "hello");
  failed.Ack(3, 9);
  failed.Delivered(3, 10, 2);
  failed.Configure(7, "settings");
  failed.Dedup(7, 1, 11, 1000, "id-1");
  failed.Entry(8, 4, 12, 300, 5000);

  LogWriter carried;
  LogReader reader(failed.record());
  LogOp op;
  while (reader.Next(&op)) carried.Copy(op);
  ASSERT_TRUE(reader.status().ok());
  EXPECT_EQ(carried.record(), failed.record());

  LogWriter next;
  next.Ack(7, 1);
  next.Prepend(carried);
  EXPECT_EQ(next.ops(), 8u);
  LogReader both(next.record());
  std::vector<LogOpType> types;
  while (both.Next(&op)) types.push_back(op.type);
  ASSERT_TRUE(both.status().ok()) << both.status().ToString();
  EXPECT_EQ(types,
            (std::vector<LogOpType>{LogOpType::kCreateQueue, LogOpType::kPublish, LogOpType::kAck,
                                    LogOpType::kDelivered, LogOpType::kConfigure, LogOpType::kDedup,
                                    LogOpType::kEntry, LogOpType::kAck}));
  EXPECT_EQ(op.queue_id, 7u);
  EXPECT_EQ(op.seq, 1u);

  LogWriter empty;
  empty.Prepend(carried);
  EXPECT_EQ(empty.record(), failed.record());
}

}  // namespace
// A single node writes in partition 0 only: no markers, the bytes of before.
TEST(LogRecord, PartitionZeroWritesNoMarkers) {
  LogWriter plain;
  plain.CreateQueue(1, 2, "q");
  plain.Ack(1, 1);
  LogWriter tagged;
  tagged.In(0).CreateQueue(1, 2, "q");
  tagged.In(0).Ack(1, 1);
  EXPECT_EQ(tagged.record(), plain.record());
}

TEST(LogRecord, OperationsCarryTheirPartitionAndSplitByIt) {
  LogWriter w;
  w.In(3).CreateQueue(10, 1, "a");
  w.In(3).PublishEncoded(10, 1, 100, "x");
  w.In(1).PublishEncoded(11, 1, 101, "y");
  w.In(3).Ack(10, 1);
  w.In(1).IndexAck(11, 0, 90, 5, 0);  // commit record: its own markers
  w.In(0).Ack(12, 4);

  std::vector<std::pair<PartitionId, LogOpType>> seen;
  LogReader r(w.record());
  LogOp op;
  while (r.Next(&op)) seen.emplace_back(op.partition, op.type);
  ASSERT_TRUE(r.status().ok());
  std::vector<std::pair<PartitionId, LogOpType>> want = {{3, LogOpType::kCreateQueue},
                                                         {3, LogOpType::kPublish},
                                                         {1, LogOpType::kPublish},
                                                         {3, LogOpType::kAck},
                                                         {0, LogOpType::kAck}};
  EXPECT_EQ(seen, want);
  LogReader c(w.commit_record());
  ASSERT_TRUE(c.Next(&op));
  EXPECT_EQ(op.partition, 1u);
  EXPECT_EQ(op.type, LogOpType::kIndexAck);

  Result<std::vector<PartitionRecord>> split = SplitByPartition(w.record());
  ASSERT_TRUE(split.ok());
  ASSERT_EQ(split->size(), 3u);
  EXPECT_EQ((*split)[0].partition, 0u);
  EXPECT_EQ((*split)[1].partition, 1u);
  EXPECT_EQ((*split)[2].partition, 3u);
  // Each part is a record of its own, read in its partition, in order.
  LogReader three((*split)[2].record, 3);
  std::vector<LogOpType> types;
  while (three.Next(&op)) {
    EXPECT_EQ(op.partition, 3u);
    types.push_back(op.type);
  }
  EXPECT_TRUE(three.status().ok());
  EXPECT_EQ(types, (std::vector<LogOpType>{LogOpType::kCreateQueue, LogOpType::kPublish,
                                           LogOpType::kAck}));
  LogReader one((*split)[1].record, 1);
  ASSERT_TRUE(one.Next(&op));
  EXPECT_EQ(op.msg_id, 101u);
  EXPECT_EQ(op.envelope, "y");
  EXPECT_FALSE(one.Next(&op));

  // Copying a part back in, in its partition, gives its operations again.
  LogWriter follower;
  LogReader part((*split)[2].record, 3);
  while (part.Next(&op)) follower.Copy(op);
  Result<std::vector<PartitionRecord>> again = SplitByPartition(follower.record());
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].partition, 3u);
  EXPECT_EQ((*again)[0].record, (*split)[2].record);
}

// Prepend keeps every operation in its partition, however the two writers
// stood where they meet.
TEST(LogRecord, PrependKeepsPartitions) {
  LogWriter earlier;
  earlier.In(2).Ack(1, 1);  // ends in partition 2
  LogWriter later;
  later.In(0).Ack(3, 3);  // starts in 0, without a marker
  later.In(5).Ack(4, 4);
  later.Prepend(earlier);
  later.In(5).Ack(6, 6);  // still in 5: no marker needed, none lost
  std::vector<std::pair<PartitionId, Seq>> seen;
  LogReader r(later.record());
  LogOp op;
  while (r.Next(&op)) seen.emplace_back(op.partition, op.seq);
  ASSERT_TRUE(r.status().ok());
  EXPECT_EQ(seen, (std::vector<std::pair<PartitionId, Seq>>{{2, 1}, {0, 3}, {5, 4}, {5, 6}}));

  LogWriter empty;
  empty.Prepend(earlier);
  empty.In(0).Ack(7, 7);  // after earlier's partition 2: a marker back to 0
  seen.clear();
  LogReader e(empty.record());
  while (e.Next(&op)) seen.emplace_back(op.partition, op.seq);
  EXPECT_EQ(seen, (std::vector<std::pair<PartitionId, Seq>>{{2, 1}, {0, 7}}));
}

TEST(LogRecord, ACutMarkerIsCorruption) {
  LogWriter w;
  w.In(7).Ack(1, 1);
  std::string cut = w.record().substr(0, 3);  // version, marker type, 1 of 4 bytes
  LogReader r(cut);
  LogOp op;
  EXPECT_FALSE(r.Next(&op));
  EXPECT_FALSE(r.status().ok());
}

}  // namespace hermod::store
