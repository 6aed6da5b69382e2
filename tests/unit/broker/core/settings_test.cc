#include "settings.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

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

TEST(Backoff, ParsesAListOfDelays) {
  Result<RedeliveryBackoff> b = ParseBackoff("500ms,1s,30s,2m,1h,3");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->delays_ms,
            (std::vector<uint64_t>{500, 1000, 30000, 120000, 3600000, 3000}));  // bare: seconds
  EXPECT_EQ(b->text, "500ms,1s,30s,2m,1h,3");
  EXPECT_FALSE(b->empty());
}

TEST(Backoff, TheListsNthDelayIsTheNthRedeliverysAndTheLastRepeats) {
  RedeliveryBackoff b = *ParseBackoff("1s,5s,30s");
  EXPECT_EQ(b.DelayMs(1, 0), 1000u);
  EXPECT_EQ(b.DelayMs(2, 0), 5000u);
  EXPECT_EQ(b.DelayMs(3, 0), 30000u);
  EXPECT_EQ(b.DelayMs(4, 0), 30000u);
  EXPECT_EQ(b.DelayMs(1000, 12345), 30000u);  // no jitter in a list
}

TEST(Backoff, ExponentialDoublesUpToTheCapWithJitterInItsUpperHalf) {
  Result<RedeliveryBackoff> parsed = ParseBackoff("exp:1s:5m");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const RedeliveryBackoff& b = *parsed;
  EXPECT_EQ(b.base_ms, 1000u);
  EXPECT_EQ(b.cap_ms, 300000u);
  struct Case {
    uint32_t n;
    uint64_t delay;
  };
  for (Case c : {Case{1, 1000}, Case{2, 2000}, Case{3, 4000}, Case{9, 256000}, Case{10, 300000},
                 Case{4000000000u, 300000}}) {
    EXPECT_EQ(b.DelayMs(c.n, 0), c.delay / 2) << c.n;        // the least random draw
    EXPECT_EQ(b.DelayMs(c.n, c.delay / 2), c.delay) << c.n;  // the most
    EXPECT_EQ(b.DelayMs(c.n, UINT64_MAX), c.delay / 2 + UINT64_MAX % (c.delay - c.delay / 2 + 1));
    for (uint64_t r : {1ull, 977ull, 1ull << 40, 0x9e3779b97f4a7c15ull}) {
      uint64_t d = b.DelayMs(c.n, r);
      EXPECT_GE(d, c.delay / 2) << c.n;
      EXPECT_LE(d, c.delay) << c.n;
    }
  }
}

TEST(Backoff, EmptyOrNoneMeansAtOnce) {
  for (const char* text : {"", "none"}) {
    Result<RedeliveryBackoff> b = ParseBackoff(text);
    ASSERT_TRUE(b.ok()) << text;
    EXPECT_TRUE(b->empty());
    EXPECT_EQ(b->DelayMs(3, 99), 0u);
    EXPECT_EQ(b->text, "none");
  }
  EXPECT_FALSE(ParseBackoff("0").value().empty());  // a list whose delay is zero
  EXPECT_EQ(ParseBackoff("0").value().DelayMs(1, 5), 0u);
}

TEST(Backoff, RefusesMalformedSpecsSayingWhy) {
  struct Case {
    const char* text;
    const char* says;
  };
  for (Case c : {Case{"1s,", "'' is not a duration"}, Case{",1s", "'' is not a duration"},
                 Case{"soon", "'soon' is not a duration"}, Case{"-1s", "not a duration"},
                 Case{"5d", "unknown unit"}, Case{"1.5s", "unknown unit"},
                 Case{"exp:1s", "exp:BASE:CAP"}, Case{"exp:0s:1m", "BASE must be above 0"},
                 Case{"exp:1m:1s", "CAP must be at least BASE"}, Case{"exp:1s:x", "'x'"},
                 Case{"1200h", "too long"}, Case{"99999999999999999999ms", "too long"}}) {
    Result<RedeliveryBackoff> b = ParseBackoff(c.text);
    ASSERT_FALSE(b.ok()) << c.text;
    EXPECT_EQ(b.status().code(), ErrorCode::kInvalidArgument) << c.text;
    EXPECT_NE(b.status().message().find(c.says), std::string::npos)
        << c.text << ": " << b.status().message();
    EXPECT_NE(b.status().message().find(c.text), std::string::npos) << b.status().message();
  }
  std::string many = "1s";
  for (int i = 0; i < 32; ++i) many += ",1s";
  EXPECT_FALSE(ParseBackoff(many).ok());
}

TEST(Backoff, IsStoredWithTheQueuesOverridesAndApplied) {
  QueueOverrides o;
  o.backoff = "exp:1s:1m";
  QueueOverrides d;
  ASSERT_TRUE(d.Decode(o.Encode()));
  EXPECT_EQ(d.backoff, "exp:1s:1m");
  EXPECT_FALSE(d.empty());

  QueueDefaults defaults;
  defaults.backoff = *ParseBackoff("5s");
  EXPECT_EQ(EffectiveLimits(defaults, QueueOverrides(), "q").backoff.delays_ms,
            std::vector<uint64_t>{5000});
  QueueLimits l = EffectiveLimits(defaults, d, "q");
  EXPECT_EQ(l.backoff.base_ms, 1000u);
  EXPECT_EQ(l.backoff.text, "exp:1s:1m");
  QueueOverrides merged;
  merged.Merge(d);
  EXPECT_EQ(merged.backoff, "exp:1s:1m");
}

}  // namespace
}  // namespace hermod::core
