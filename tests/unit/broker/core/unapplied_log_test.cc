#include "unapplied_log.h"

#include <gtest/gtest.h>

namespace hermod::core {
namespace {

ApplyPolicy Policy() {
  ApplyPolicy p;
  p.lag_ms = 1000;
  p.max_unapplied_bytes = 10000;
  p.max_apply_bytes = 1 << 20;
  return p;
}

TEST(UnappliedLog, AppliesRecordsOnceTheyAreOlderThanTheLag) {
  UnappliedLog log(Policy());
  log.set_applied_through(0);
  QueueLimits limits;
  Queue q("q", 1, &limits);
  log.Track(1, 100, 50, {&q});
  log.Track(3, 600, 50, {&q});
  EXPECT_TRUE(log.TakeDue(1099).empty());
  auto steps = log.TakeDue(1100);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].batch_no, 1u);
  EXPECT_TRUE(log.apply_submitted(1));
  EXPECT_FALSE(log.apply_submitted(3));
  EXPECT_EQ(log.applied_through(), 0u);
  auto queues = log.Applied(1);
  ASSERT_EQ(queues.size(), 1u);
  EXPECT_EQ(queues[0], &q);
  EXPECT_EQ(log.applied_through(), 1u);
  steps = log.TakeDue(1600);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].batch_no, 3u);
}

TEST(UnappliedLog, AppliesEarlyUnderBytePressure) {
  UnappliedLog log(Policy());
  log.Track(1, 100, 6000, {});
  log.Track(2, 100, 6000, {});
  // 12,000 bytes > 10,000: the oldest goes now, then pressure is gone.
  auto steps = log.TakeDue(100);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].batch_no, 1u);
  EXPECT_EQ(log.unapplied_bytes(), 6000u);
}

TEST(UnappliedLog, CanceledEntriesTravelSortedWithTheirStep) {
  UnappliedLog log(Policy());
  log.Track(4, 0, 10, {});
  log.Track(5, 0, 10, {});
  log.Cancel(5, 2, 9);
  log.Cancel(4, 3, 1);
  log.Cancel(4, 1, 7);
  auto steps = log.TakeDue(5000);
  ASSERT_EQ(steps.size(), 2u);
  ASSERT_EQ(steps[0].canceled.size(), 2u);
  EXPECT_EQ(steps[0].canceled[0], std::make_pair(QueueId{1}, Seq{7}));
  EXPECT_EQ(steps[0].canceled[1], std::make_pair(QueueId{3}, Seq{1}));
  ASSERT_EQ(steps[1].canceled.size(), 1u);
}

TEST(UnappliedLog, RewindMakesStepsDueAgain) {
  UnappliedLog log(Policy());
  log.Track(1, 0, 10, {});
  log.Cancel(1, 1, 1);
  auto steps = log.TakeDue(5000);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_TRUE(log.apply_submitted(1));
  log.Rewind(steps);
  EXPECT_FALSE(log.apply_submitted(1));
  auto again = log.TakeDue(5000);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].canceled.size(), 1u);
}

}  // namespace
}  // namespace hermod::core
