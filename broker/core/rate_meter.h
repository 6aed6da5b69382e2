// RateMeter: events per second, recent, without a timer: each Add or Rate
// call folds the last whole second(s) into an exponentially weighted rate.
// Loop thread only.
#ifndef HERMOD_BROKER_CORE_RATE_METER_H_
#define HERMOD_BROKER_CORE_RATE_METER_H_

#include <cstdint>

namespace hermod::core {

class RateMeter {
 public:
  void Add(uint64_t now_ms, uint32_t n = 1) {
    Roll(now_ms);
    count_ += n;
  }
  double Rate(uint64_t now_ms) {
    Roll(now_ms);
    return rate_ < 0 ? 0 : rate_;
  }

 private:
  void Roll(uint64_t now_ms) {
    if (start_ms_ == 0) start_ms_ = now_ms;
    uint64_t elapsed = now_ms - start_ms_;
    if (elapsed < 1000) return;
    double current = static_cast<double>(count_) * 1000.0 / static_cast<double>(elapsed);
    // Half weight to the newest interval: follows changes within seconds.
    rate_ =
        rate_ >= 0 ? static_cast<float>(0.5 * current + 0.5 * rate_) : static_cast<float>(current);
    count_ = 0;
    start_ms_ = now_ms;
  }

  // 16 bytes: every queue in memory holds two.
  uint64_t start_ms_ = 0;
  uint32_t count_ = 0;
  float rate_ = -1;  // negative: no whole second seen yet
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_RATE_METER_H_
