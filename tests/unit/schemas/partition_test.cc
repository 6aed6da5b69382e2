#include "hermod/partition.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hermod {
namespace {

// The partition function is part of the protocol: clients in other
// languages compute it too. These are XXH64's published values for seed 0
// (xxHash's own test vectors for "" and "a"); a change here breaks every
// client and every cluster's data placement.
TEST(PartitionTest, IsXxh64OfTheNameModuloThePartitionCount) {
  EXPECT_EQ(PartitionOf("", 64), 0xef46db3751d8e999ull % 64);
  EXPECT_EQ(PartitionOf("a", 64), 0xd24ec4f1a98c6e5bull % 64);
  EXPECT_EQ(PartitionOf("a", 7), 0xd24ec4f1a98c6e5bull % 7);
  EXPECT_EQ(PartitionOf("user:alice", 1), 0u);
}

TEST(PartitionTest, SpreadsNamesOverEveryPartition) {
  constexpr uint32_t kPartitions = 64;
  std::vector<int> count(kPartitions);
  for (int i = 0; i < 64000; ++i) ++count[PartitionOf("user:" + std::to_string(i), kPartitions)];
  for (uint32_t p = 0; p < kPartitions; ++p) {
    EXPECT_GT(count[p], 800) << "partition " << p;
    EXPECT_LT(count[p], 1200) << "partition " << p;
  }
}

}  // namespace
}  // namespace hermod
