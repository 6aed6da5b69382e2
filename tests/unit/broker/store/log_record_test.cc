#include "log_record.h"

#include <gtest/gtest.h>

namespace hermod::store {
namespace {

TEST(LogRecord, RoundTripsEveryOperation) {
  LogWriter w;
  EXPECT_TRUE(w.empty());
  w.CreateQueue(7, 1234, "user:7");
  std::string* out = w.BeginPublish(7, 1, 100, 5);
  out->append("hello");
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

TEST(LogRecord, ReportsTruncationAsCorruption) {
  LogWriter w;
  w.CreateQueue(1, 2, "q");
  w.BeginPublish(1, 1, 1, 3)->append("abc");
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
