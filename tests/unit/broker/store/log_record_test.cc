#include "log_record.h"

#include <gtest/gtest.h>

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

// Acks of indexed entries, expired dedup records and purges are logged too,
// so one record describes its whole batch; the commit that logs them
// applies them, so a record of only those needs no apply step.
TEST(LogRecord, RoundTripsTheOperationsAppliedAtCommit) {
  LogWriter w;
  w.IndexAck(7, 3, 100, 256, 9000);
  w.DedupExpire(std::string("key\0with-nul", 12));
  w.Purge(8, 10, 20);
  EXPECT_EQ(w.ops(), 3u);
  EXPECT_TRUE(w.has_commit_ops());
  EXPECT_FALSE(w.needs_apply());
  w.Ack(7, 4);
  EXPECT_TRUE(w.needs_apply());

  LogReader r(w.record());
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
  ASSERT_TRUE(r.Next(&op));
  EXPECT_EQ(op.type, LogOpType::kAck);
  EXPECT_FALSE(AppliedAtCommit(op.type));
  EXPECT_FALSE(r.Next(&op));
  EXPECT_TRUE(r.status().ok());

  // Copy keeps them, byte for byte.
  LogWriter copy;
  LogReader again(w.record());
  while (again.Next(&op)) copy.Copy(op);
  EXPECT_EQ(copy.record(), w.record());
  EXPECT_TRUE(copy.needs_apply());
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
}  // namespace hermod::store
