#include "keys.h"

#include <gtest/gtest.h>

#include <string>

namespace hermod::store {
namespace {

TEST(Keys, BigEndianOrderIsNumericOrder) {
  uint64_t values[] = {0, 1, 255, 256, 65535, 1ull << 32, (1ull << 63) + 5, ~0ull};
  for (uint64_t a : values) {
    for (uint64_t b : values) {
      std::string ka(U64Key(a).view()), kb(U64Key(b).view());
      EXPECT_EQ(a < b, ka < kb) << a << " " << b;
    }
    EXPECT_EQ(DecodeU64Key(U64Key(a).view()), a);
  }
}

TEST(Keys, EntryKeysSortByQueueThenSeq) {
  std::string k1(EntryKey(1, 300).view()), k2(EntryKey(2, 1).view()), k3(EntryKey(2, 2).view());
  EXPECT_LT(k1, k2);
  EXPECT_LT(k2, k3);
  EXPECT_EQ(EntryKeyQueue(k3), 2u);
  EXPECT_EQ(EntryKeySeq(k3), 2u);
}

TEST(Keys, LogKeysSortByBatchThenChunk) {
  std::string a(LogKey(7, 1000).view()), b(LogKey(8, 0).view());
  EXPECT_LT(a, b);
  EXPECT_EQ(LogKeyBatch(b), 8u);
}

TEST(Keys, MessageChunkKeysSortByMessageThenChunk) {
  std::string a(MessageChunkKey(7, 1000).view()), b(MessageChunkKey(8, 0).view());
  EXPECT_LT(a, b);
  EXPECT_EQ(MessageChunkKeyMsg(a), 7u);
  EXPECT_EQ(MessageChunkKeyChunk(a), 1000u);
  EXPECT_EQ(a.size(), kMessageChunkKeyBytes);
}

TEST(Keys, EntryValueRoundTrips) {
  EntryValue v{123456789012345ull, 4096, 3};
  EntryValue w;
  ASSERT_TRUE(w.Decode(v.Encode()));
  EXPECT_EQ(w.msg_id, v.msg_id);
  EXPECT_EQ(w.bytes, v.bytes);
  EXPECT_EQ(w.delivery_count, v.delivery_count);
  EXPECT_FALSE(w.Decode("short"));
}

TEST(Keys, QueueStateRoundTrips) {
  QueueState s;
  s.last_seq = 10;
  s.depth = 4;
  s.bytes = 1000;
  s.created_ms = 1700000000000;
  s.name = "user:42/phone";
  QueueState t;
  ASSERT_TRUE(t.Decode(s.Encode()));
  EXPECT_EQ(t.last_seq, 10u);
  EXPECT_EQ(t.depth, 4u);
  EXPECT_EQ(t.bytes, 1000u);
  EXPECT_EQ(t.created_ms, s.created_ms);
  EXPECT_EQ(t.name, s.name);
}

TEST(Keys, FixedWidthLittleEndianRoundTrips) {
  std::string out;
  AppendFixed16(&out, 0xbeef);
  AppendFixed32(&out, 0xdeadbeef);
  AppendFixed64(&out, 0x0123456789abcdefull);
  EXPECT_EQ(DecodeFixed16(out.data()), 0xbeef);
  EXPECT_EQ(DecodeFixed32(out.data() + 2), 0xdeadbeefu);
  EXPECT_EQ(DecodeFixed64(out.data() + 6), 0x0123456789abcdefull);
}

}  // namespace
}  // namespace hermod::store
