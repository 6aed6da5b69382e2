// Histogram (tools/bench/histogram.h): the bucket layout is continuous, and
// every percentile is within 1% of the exact one across 1 µs – 60 s.
#include "bench/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace hermod::bench {
namespace {

constexpr uint64_t kMicro = 1000;
constexpr uint64_t kSixtySeconds = uint64_t{60} * 1000 * 1000 * 1000;

// |reported - exact| <= 1% of exact.
void ExpectWithinOnePercent(uint64_t exact, uint64_t reported) {
  EXPECT_LE(std::fabs(static_cast<double>(reported) - static_cast<double>(exact)),
            0.01 * static_cast<double>(exact))
      << "exact " << exact << " reported " << reported;
}

TEST(Histogram, BucketsTileTheRangeWithoutGapsOrOverlaps) {
  uint64_t next_low = 0;
  for (size_t i = 0; i < Histogram::BucketCount(); ++i) {
    ASSERT_EQ(Histogram::BucketLow(i), next_low) << "bucket " << i;
    ASSERT_EQ(Histogram::BucketIndex(next_low), i);
    const uint64_t high = next_low + Histogram::BucketWidth(i) - 1;
    ASSERT_EQ(Histogram::BucketIndex(high), i);
    // A bucket is at most 1/128 of its lower bound wide.
    if (next_low > 0) {
      ASSERT_LE(Histogram::BucketWidth(i) * 128, std::max<uint64_t>(next_low, 128));
    }
    next_low = high + 1;
  }
  EXPECT_EQ(next_low - 1, Histogram::kMaxNanos);
}

TEST(Histogram, OneValueIsReportedWithinOnePercentFromOneMicrosecondToSixtySeconds) {
  // A geometric sweep with a step of 0.1% visits every bucket of the range.
  for (double v = kMicro; v <= kSixtySeconds; v *= 1.001) {
    Histogram h;
    const uint64_t value = static_cast<uint64_t>(v);
    h.Record(value);
    for (double p : {0.0, 50.0, 99.0, 99.9, 100.0}) {
      const uint64_t reported = h.ValueAtPercentile(p);
      ASSERT_LE(std::fabs(static_cast<double>(reported) - v), 0.01 * v) << value << " p" << p;
    }
    ASSERT_EQ(h.max(), value);
    ASSERT_EQ(h.min(), value);
  }
}

TEST(Histogram, PercentilesOfALogUniformSampleAreWithinOnePercent) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> exponent(std::log(double(kMicro)),
                                                  std::log(double(kSixtySeconds)));
  std::vector<uint64_t> values;
  Histogram h;
  for (int i = 0; i < 200000; ++i) {
    const uint64_t v = static_cast<uint64_t>(std::exp(exponent(rng)));
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99}) {
    const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * values.size()));
    ExpectWithinOnePercent(values[rank - 1], h.ValueAtPercentile(p));
  }
  EXPECT_EQ(h.ValueAtPercentile(100), values.back());
  EXPECT_EQ(h.min(), values.front());
  EXPECT_EQ(h.count(), values.size());
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
  Histogram a, b, both;
  for (uint64_t v = kMicro; v < 10 * 1000 * kMicro; v = v * 3 / 2) {
    a.Record(v);
    both.Record(v);
    b.Record(v * 7);
    both.Record(v * 7);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), both.count());
  EXPECT_EQ(a.min(), both.min());
  EXPECT_EQ(a.max(), both.max());
  EXPECT_DOUBLE_EQ(a.mean(), both.mean());
  for (double p : {50.0, 99.0, 99.9}) EXPECT_EQ(a.ValueAtPercentile(p), both.ValueAtPercentile(p));
}

TEST(Histogram, ClampsValuesAboveTheRangeAndCountsThem) {
  Histogram h;
  h.Record(Histogram::kMaxNanos + 12345);
  h.Record(std::chrono::nanoseconds(-5));
  EXPECT_EQ(h.clamped(), 1u);
  EXPECT_EQ(h.max(), Histogram::kMaxNanos);
  EXPECT_EQ(h.min(), 0u);
}

TEST(Histogram, EmptyReportsZero) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.ValueAtPercentile(99), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
}

}  // namespace
}  // namespace hermod::bench
