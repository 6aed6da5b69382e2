// A node's partition logs: staged parts come back whole, however many
// slices they took; unstaging and truncation remove exactly their range;
// epochs give KIP-101's end offsets; everything survives a reopen (LMDB).
#include "partition_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lmdb_env.h"
#include "mem_env.h"
#include "store.h"

namespace hermod::store {
namespace {

std::string Bytes(size_t n, char seed) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>(seed + i % 23);
  return out;
}

class PartitionLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "partition_log_test." + std::to_string(getpid()) + "." +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    env_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    store_.reset();
    env_.reset();
    Result<std::unique_ptr<LmdbEnv>> env = LmdbEnv::Open(dir_, LmdbOptions{});
    ASSERT_TRUE(env.ok()) << env.status().ToString();
    env_ = std::move(*env);
    store_ = std::make_unique<Store>(env_.get());
    ASSERT_TRUE(store_->Open().ok());
    ASSERT_TRUE(store_->Recover().ok());
  }
  // Commits one batch holding `ops` (written In(kNodeLocalPartition)).
  void Commit(const std::function<void(LogWriter&)>& ops) {
    WriteBatch batch;
    batch.batch_no = ++batch_no_;
    batch.ids.next_batch_no = batch_no_ + 1;
    ops(batch.log.In(kNodeLocalPartition));
    Status s = store_->Commit(batch);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  std::vector<StagedPart> Staged(PartitionId p) {
    std::vector<StagedPart> out;
    EXPECT_TRUE(store_->ReadStaged(p, 0, UINT64_MAX, &out).ok());
    return out;
  }

  std::string dir_;
  std::unique_ptr<KvEnv> env_;
  std::unique_ptr<Store> store_;
  BatchNo batch_no_ = 0;
};

TEST_F(PartitionLogTest, StagedPartsComeBackWholeAndInOrder) {
  std::string big = Bytes(7000, 'a');  // four slices with its header
  Commit([&](LogWriter& log) {
    log.Stage(3, 1, 1, "r1", "");
    log.Stage(3, 1, 2, big, "c2");
    log.Stage(4, 2, 1, "other", "partition");
  });
  std::vector<StagedPart> three = Staged(3);
  ASSERT_EQ(three.size(), 2u);
  EXPECT_EQ(three[0].offset, 1u);
  EXPECT_EQ(three[0].record, "r1");
  EXPECT_EQ(three[0].commit_record, "");
  EXPECT_EQ(three[1].offset, 2u);
  EXPECT_EQ(three[1].epoch, 1u);
  EXPECT_EQ(three[1].record, big);
  EXPECT_EQ(three[1].commit_record, "c2");
  std::vector<StagedPart> four = Staged(4);
  ASSERT_EQ(four.size(), 1u);
  EXPECT_EQ(four[0].commit_record, "partition");

  Result<PartitionLogState> state = store_->ReadPartitionLog(3);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->end_offset, 2u);
  EXPECT_EQ(state->epoch, 1u);
  Result<std::vector<PartitionId>> listed = store_->ListPartitionLogs();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(*listed, (std::vector<PartitionId>{3, 4}));

  // Unstaging takes exactly the parts up to `through`, and is durable.
  Commit([&](LogWriter& log) { log.Unstage(3, 1); });
  Reopen();
  three = Staged(3);
  ASSERT_EQ(three.size(), 1u);
  EXPECT_EQ(three[0].offset, 2u);
  EXPECT_EQ(three[0].record, big);
  EXPECT_EQ(store_->ReadPartitionLog(3)->unstaged_through, 1u);
  EXPECT_EQ(Staged(4).size(), 1u);
}

TEST_F(PartitionLogTest, EpochsGiveTheEndOfEachAndTruncationCutsThem) {
  // Epoch 1: offsets 1-3; epoch 4: offsets 4-5 (staged by a follower).
  Commit([&](LogWriter& log) {
    for (uint64_t o = 1; o <= 3; ++o) log.Stage(0, 1, o, "e1", "");
    for (uint64_t o = 4; o <= 5; ++o) log.Stage(0, 4, o, "e4", "");
  });
  Result<PartitionLogState> state = store_->ReadPartitionLog(0);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->epochs, (std::vector<std::pair<uint64_t, uint64_t>>{{1, 1}, {4, 4}}));
  EXPECT_EQ(state->EndOfEpoch(1), 3u);
  EXPECT_EQ(state->EndOfEpoch(2), 3u);  // never led: ends where 1 did
  EXPECT_EQ(state->EndOfEpoch(4), 5u);
  EXPECT_EQ(state->EndOfEpoch(9), 5u);

  // The new leader's log ends at 3 for epoch 1: cut back to it.
  Commit([&](LogWriter& log) { log.TruncatePartition(0, 3); });
  Reopen();
  state = store_->ReadPartitionLog(0);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->end_offset, 3u);
  EXPECT_EQ(state->epoch, 1u);
  EXPECT_EQ(state->epochs, (std::vector<std::pair<uint64_t, uint64_t>>{{1, 1}}));
  std::vector<StagedPart> left = Staged(0);
  ASSERT_EQ(left.size(), 3u);
  EXPECT_EQ(left.back().offset, 3u);

  // Taking parts of epoch 6 from offset 4 on.
  Commit([&](LogWriter& log) { log.Stage(0, 6, 4, "e6", ""); });
  state = store_->ReadPartitionLog(0);
  EXPECT_EQ(state->epochs, (std::vector<std::pair<uint64_t, uint64_t>>{{1, 1}, {6, 4}}));
  EXPECT_EQ(state->EndOfEpoch(1), 3u);
}

TEST_F(PartitionLogTest, ALeaderRecordsItsEnds) {
  Commit([&](LogWriter& log) { log.PartitionEnd(2, 3, 10); });
  Commit([&](LogWriter& log) { log.PartitionEnd(2, 3, 11); });
  Commit([&](LogWriter& log) { log.PartitionEnd(2, 5, 12); });  // led again, later
  Result<PartitionLogState> state = store_->ReadPartitionLog(2);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->end_offset, 12u);
  EXPECT_EQ(state->epoch, 5u);
  EXPECT_EQ(state->unstaged_through, 12u);
  EXPECT_EQ(state->epochs, (std::vector<std::pair<uint64_t, uint64_t>>{{3, 1}, {5, 12}}));
  EXPECT_EQ(state->EndOfEpoch(3), 11u);
}

TEST_F(PartitionLogTest, AStageOperationCutShortIsCorruption) {
  LogWriter w;
  w.Stage(1, 2, 3, "record", "commit");
  const std::string& full = w.commit_record();
  for (size_t n = 2; n < full.size(); ++n) {
    LogReader r(std::string_view(full).substr(0, n));
    LogOp op;
    EXPECT_FALSE(r.Next(&op)) << n;
    EXPECT_FALSE(r.status().ok()) << n;
  }
  LogReader r(full);
  LogOp op;
  ASSERT_TRUE(r.Next(&op));
  EXPECT_EQ(op.type, LogOpType::kStage);
  EXPECT_EQ(op.part_record, "record");
  EXPECT_EQ(op.part_commit_record, "commit");
  LogWriter copy;
  copy.Copy(op);
  EXPECT_EQ(copy.commit_record(), full);
}

}  // namespace
}  // namespace hermod::store
