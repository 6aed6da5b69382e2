// Histogram (histogram.h): the log-linear bucket arithmetic.
#include "histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace hermod::bench {

namespace {
constexpr uint64_t kSubBuckets = uint64_t{1} << Histogram::kSubBucketBits;  // 128
}  // namespace

size_t Histogram::BucketCount() {
  // Values below 2^(bits+1) map to themselves; each higher power of two up
  // to kMaxExponent adds kSubBuckets buckets.
  return 2 * kSubBuckets + (kMaxExponent - kSubBucketBits - 1) * kSubBuckets;
}

size_t Histogram::BucketIndex(uint64_t nanos) {
  if (nanos < 2 * kSubBuckets) return static_cast<size_t>(nanos);
  // exponent e >= kSubBucketBits + 1: keep the top kSubBucketBits + 1 bits.
  const int exponent = 63 - std::countl_zero(nanos);
  const int shift = exponent - kSubBucketBits;
  return static_cast<size_t>(kSubBuckets * static_cast<uint64_t>(shift) + (nanos >> shift));
}

uint64_t Histogram::BucketLow(size_t index) {
  if (index < 2 * kSubBuckets) return index;
  const uint64_t shift = index / kSubBuckets - 1;
  const uint64_t mantissa = index % kSubBuckets + kSubBuckets;
  return mantissa << shift;
}

uint64_t Histogram::BucketWidth(size_t index) {
  if (index < 2 * kSubBuckets) return 1;
  return uint64_t{1} << (index / kSubBuckets - 1);
}

Histogram::Histogram() : counts_(BucketCount(), 0) {}

void Histogram::Record(uint64_t nanos) {
  if (nanos > kMaxNanos) {
    nanos = kMaxNanos;
    ++clamped_;
  }
  ++counts_[BucketIndex(nanos)];
  ++count_;
  min_ = std::min(min_, nanos);
  max_ = std::max(max_, nanos);
  sum_ += static_cast<double>(nanos);
}

void Histogram::Merge(const Histogram& other) {
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  clamped_ += other.clamped_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

uint64_t Histogram::ValueAtPercentile(double percent) const {
  if (count_ == 0) return 0;
  percent = std::clamp(percent, 0.0, 100.0);
  // The rank of the value asked for, 1-based: at least one value counts.
  const uint64_t rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(percent / 100.0 * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const uint64_t mid = BucketLow(i) + (BucketWidth(i) - 1) / 2;
      return std::clamp(mid, min(), max_);
    }
  }
  return max_;
}

}  // namespace hermod::bench
