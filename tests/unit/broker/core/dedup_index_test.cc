#include "dedup_index.h"

#include <gtest/gtest.h>

#include "mem_env.h"

namespace hermod::core {
namespace {

class DedupIndexTest : public testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(store_.Open().ok()); }
  store::MemEnv env_;
  store::Store store_{&env_};
};

TEST_F(DedupIndexTest, FindsWhatWasAddedWithinTheWindow) {
  DedupIndex index(&store_, 1000, 100);
  index.Add(1, "order-7", {70, 7, 5}, 10000);
  auto hit = index.Find(1, "order-7", 10500);
  ASSERT_TRUE(hit.ok());
  ASSERT_TRUE(hit->has_value());
  EXPECT_EQ((*hit)->msg_id, 70u);
  EXPECT_EQ((*hit)->seq, 7u);
  EXPECT_EQ((*hit)->batch_no, 5u);
  // Another queue, or past the window: not a duplicate.
  EXPECT_FALSE(index.Find(2, "order-7", 10500)->has_value());
  EXPECT_FALSE(index.Find(1, "order-7", 11001)->has_value());
}

TEST_F(DedupIndexTest, ApplicationIdsFallBackToTheStoreOnceApplied) {
  DedupIndex index(&store_, 100000, 100);
  index.Add(1, "app-id", {70, 7, 5}, 10000);
  // Batch 5 applied: the memory copy goes; the store has it (written here
  // the way an apply would).
  {
    store::WriteBatch b;
    b.batch_no = 1;
    b.log.CreateQueue(1, 0, "q");
    b.log.Dedup(1, 7, 70, 10000, "app-id");
    b.ids = store::IdCounters{2, 71, 2};
    ASSERT_TRUE(store_.Commit(b).ok());
    store::WriteBatch apply;
    apply.batch_no = 2;
    apply.apply.push_back(store::ApplyStep{1, {}});
    apply.ids = store::IdCounters{3, 71, 2};
    ASSERT_TRUE(store_.Commit(apply).ok());
  }
  index.Trim(10001, 5);
  EXPECT_EQ(index.size(), 0u);
  auto hit = index.Find(1, "app-id", 10002);
  ASSERT_TRUE(hit.ok() && hit->has_value());
  EXPECT_EQ((*hit)->msg_id, 70u);
}

TEST_F(DedupIndexTest, ClientIdsStayInMemoryBoundedPerClient) {
  DedupIndex index(&store_, 100000, 2);
  index.Add(1, "~00000000000000aa-1", {1, 1, 1}, 10);
  index.Add(1, "~00000000000000aa-2", {2, 2, 1}, 10);
  index.Add(2, "~00000000000000aa-3", {3, 3, 1}, 10);
  index.Add(1, "~00000000000000bb-1", {4, 4, 1}, 10);
  // Applied or not, a client id leaves memory only past its client's bound
  // or the window; other clients keep theirs.
  index.Trim(20, 1000);
  EXPECT_EQ(index.size(), 3u);
  EXPECT_FALSE(index.Find(1, "~00000000000000aa-1", 20)->has_value());
  auto hit = index.Find(2, "~00000000000000aa-3", 20);
  ASSERT_TRUE(hit->has_value());
  EXPECT_EQ((*hit)->msg_id, 3u);
  EXPECT_FALSE(index.Find(1, "~00000000000000aa-3", 20)->has_value());  // another queue
  EXPECT_TRUE(index.Find(1, "~00000000000000bb-1", 20)->has_value());
  index.Trim(100011, 1000);  // past the window
  EXPECT_EQ(index.size(), 0u);
}

// A cluster follower sees one client's publishes of several partitions
// interleaved, so its ids come out of order; each is found all the same
// (a resend to it once it leads is a duplicate, not a second copy).
TEST_F(DedupIndexTest, ClientIdsAddedOutOfOrderAreFound) {
  DedupIndex index(&store_, 100000, 100);
  const std::string client = "~00000000000000ab-";
  for (uint64_t n : {5, 9, 6, 12, 7, 8, 11, 10}) {
    index.Add(n % 3 + 1, client + std::to_string(n), {n * 10, n, 1}, 1000);
  }
  for (uint64_t n = 5; n <= 12; ++n) {
    auto hit = index.Find(n % 3 + 1, client + std::to_string(n), 1000);
    ASSERT_TRUE(hit.ok());
    ASSERT_TRUE(hit->has_value()) << n;
    EXPECT_EQ((*hit)->msg_id, n * 10);
  }
  EXPECT_FALSE(index.Find(1, client + "4", 1000)->has_value());
  EXPECT_EQ(index.size(), 8u);
}

TEST_F(DedupIndexTest, OddTildeIdsAreKeptInMemoryToo) {
  DedupIndex index(&store_, 100000, 10);
  index.Add(1, "~not-a-client-id", {5, 5, 1}, 10);
  EXPECT_TRUE(index.Find(1, "~not-a-client-id", 20)->has_value());
}

TEST_F(DedupIndexTest, ValidatesIds) {
  EXPECT_TRUE(ValidateDedupId("order-42").ok());
  EXPECT_FALSE(ValidateDedupId("").ok());
  EXPECT_FALSE(ValidateDedupId(std::string(256, 'a')).ok());
  EXPECT_FALSE(ValidateDedupId(std::string("a\0b", 3)).ok());
}

}  // namespace
}  // namespace hermod::core
