// Histogram: a latency histogram with a log-linear bucket layout, after
// HdrHistogram. Values are nanoseconds. Below 256 ns every value has its own
// bucket; above, each power of two is split into 128 equal buckets, so a
// bucket is at most 1/128 of its lower bound wide and the value reported
// for it (its midpoint) is within 1/256 (0.4%) of any value recorded in it.
// That holds from 0 to kMaxNanos (about 2.4 hours), which covers the 1 µs –
// 60 s the benchmarks need with room to spare; larger values are clamped.
//
// The counts take 39 KB, allocated once; Record() never allocates.
// Thread-compatible: one histogram per thread, merged with Merge() at the end.
#ifndef HERMOD_TOOLS_BENCH_HISTOGRAM_H_
#define HERMOD_TOOLS_BENCH_HISTOGRAM_H_

#include <chrono>
#include <cstdint>
#include <vector>

namespace hermod::bench {

class Histogram {
 public:
  // Buckets per power of two, as a power of two: 2^7 = 128.
  static constexpr int kSubBucketBits = 7;
  // The largest value kept as it is: 2^43 - 1 ns, about 2.4 hours.
  static constexpr int kMaxExponent = 43;
  static constexpr uint64_t kMaxNanos = (uint64_t{1} << kMaxExponent) - 1;

  Histogram();

  // Counts one value; values above kMaxNanos count as kMaxNanos (and
  // clamped() says how many did).
  void Record(uint64_t nanos);
  void Record(std::chrono::nanoseconds d) { Record(d.count() < 0 ? 0 : uint64_t(d.count())); }
  // Adds every value of other.
  void Merge(const Histogram& other);

  uint64_t count() const { return count_; }
  uint64_t clamped() const { return clamped_; }
  // Exact, as recorded (after clamping); 0 when empty.
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0 : sum_ / static_cast<double>(count_); }

  // The smallest value v such that at least `percent`% of the values are
  // <= v, within 0.4% (the midpoint of v's bucket, never above max() nor
  // below min()). 0 when empty. REQUIRES: 0 <= percent <= 100.
  uint64_t ValueAtPercentile(double percent) const;

  // The bucket layout, exposed for tests.
  static size_t BucketIndex(uint64_t nanos);
  static uint64_t BucketLow(size_t index);
  static uint64_t BucketWidth(size_t index);
  static size_t BucketCount();

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t clamped_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  double sum_ = 0;
};

}  // namespace hermod::bench

#endif  // HERMOD_TOOLS_BENCH_HISTOGRAM_H_
