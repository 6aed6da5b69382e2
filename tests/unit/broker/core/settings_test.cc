#include "settings.h"

#include <gtest/gtest.h>

namespace hermod::core {
namespace {

TEST(Settings, OverridesRoundTripAndSkipUnknownFields) {
  QueueOverrides o;
  o.max_messages = 100;
  o.overflow = Overflow::kDropOldest;
  o.dead_letter_queue = "elsewhere";
  o.ack_wait_ms = 500;
  std::string encoded = o.Encode();
  encoded += std::string("\x63\x02\x00zz", 5);  // a field from a newer version
  QueueOverrides d;
  ASSERT_TRUE(d.Decode(encoded));
  EXPECT_EQ(d.max_messages, 100u);
  EXPECT_FALSE(d.max_bytes.has_value());
  EXPECT_EQ(d.overflow, Overflow::kDropOldest);
  EXPECT_EQ(d.dead_letter_queue, "elsewhere");
  EXPECT_EQ(d.ack_wait_ms, 500u);
  EXPECT_FALSE(d.Decode(std::string("\x01\x08\x00", 3)));  // truncated value
}

TEST(Settings, EffectiveLimitsFollowDefaultsUnlessOverridden) {
  QueueDefaults defaults;
  defaults.max_deliveries = 10;
  defaults.ack_wait_ms = 30000;
  QueueOverrides none;
  QueueLimits l = EffectiveLimits(defaults, none, "user:1");
  EXPECT_EQ(l.max_deliveries, 10u);
  EXPECT_EQ(l.dead_letter_queue, "user:1.dlq");
  EXPECT_EQ(l.ack_wait_ms, 30000u);

  QueueOverrides some;
  some.max_deliveries = 3;
  some.dead_letter_queue = "";  // explicitly the default name
  l = EffectiveLimits(defaults, some, "user:1");
  EXPECT_EQ(l.max_deliveries, 3u);
  EXPECT_EQ(l.dead_letter_queue, "user:1.dlq");
}

TEST(Settings, DeadLetterQueuesDoNotDeadLetterByDefault) {
  QueueDefaults defaults;
  QueueOverrides none;
  EXPECT_EQ(EffectiveLimits(defaults, none, "user:1.dlq").max_deliveries, 0u);
  QueueOverrides set;
  set.max_deliveries = 4;
  EXPECT_EQ(EffectiveLimits(defaults, set, "user:1.dlq").max_deliveries, 4u);
}

TEST(Settings, MergeSetsOnlyGivenFields) {
  QueueOverrides a;
  a.max_messages = 5;
  a.max_bytes = 1000;
  QueueOverrides b;
  b.max_bytes = 2000;
  a.Merge(b);
  EXPECT_EQ(a.max_messages, 5u);
  EXPECT_EQ(a.max_bytes, 2000u);
  EXPECT_EQ(ParseOverflow("sideways").status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace hermod::core
