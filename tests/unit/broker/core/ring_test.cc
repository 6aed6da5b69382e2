#include "ring.h"

#include <gtest/gtest.h>

#include <deque>
#include <random>
#include <string>

namespace hermod::core {
namespace {

TEST(Ring, BehavesLikeADeque) {
  Ring<std::string> ring;
  std::deque<std::string> model;
  std::mt19937 rng(7);
  for (int step = 0; step < 20000; ++step) {
    int op = rng() % 10;
    if (op < 5) {
      std::string v = std::to_string(step);
      ring.push_back(v);
      model.push_back(v);
    } else if (op < 8 && !model.empty()) {
      ring.pop_front();
      model.pop_front();
    } else if (!model.empty()) {
      size_t i = rng() % model.size();
      ring.erase_at(i);
      model.erase(model.begin() + static_cast<long>(i));
    }
    ASSERT_EQ(ring.size(), model.size());
    if (!model.empty()) {
      ASSERT_EQ(ring.front(), model.front());
      ASSERT_EQ(ring.back(), model.back());
    }
  }
  for (size_t i = 0; i < model.size(); ++i) EXPECT_EQ(ring[i], model[i]);
}

TEST(Ring, EmptyRingHoldsNoMemoryAfterUse) {
  Ring<int> ring;
  for (int i = 0; i < 100; ++i) ring.push_back(i);
  for (int i = 0; i < 100; ++i) ring.pop_front();
  EXPECT_TRUE(ring.empty());
  ring.push_back(5);  // still usable after releasing
  EXPECT_EQ(ring.front(), 5);
}

}  // namespace
}  // namespace hermod::core
