// Backoff: the delays between a Client's reconnect attempts.
//
// The first delay is `initial`; each later one doubles, up to `max`. Every
// delay is then spread by a random factor in [0.8, 1.2], so that many
// clients cut off together (a broker restart) do not come back in lockstep.
// Reset() starts over at `initial` (after a successful reconnect).
//
// Owned by Client::Impl. Loop thread only.
#ifndef HERMOD_CLIENT_LIB_SRC_BACKOFF_H_
#define HERMOD_CLIENT_LIB_SRC_BACKOFF_H_

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace hermod::client_internal {

class Backoff {
 public:
  // Delays below 1 ms are raised to 1 ms (a zero delay would never grow), and
  // max is raised to initial when smaller.
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, uint64_t seed)
      : initial_ms_(std::max<int64_t>(1, initial.count())),
        max_ms_(std::max<int64_t>(initial_ms_, max.count())),
        next_ms_(initial_ms_),
        rng_(seed) {}

  // The delay before the next attempt.
  std::chrono::milliseconds Next() {
    const int64_t base = next_ms_;
    next_ms_ = base > max_ms_ / 2 ? max_ms_ : base * 2;
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    return std::chrono::milliseconds(
        std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(base) * jitter(rng_))));
  }

  void Reset() { next_ms_ = initial_ms_; }

 private:
  const int64_t initial_ms_;
  const int64_t max_ms_;
  int64_t next_ms_;  // the next delay before jitter
  std::mt19937_64 rng_;
};

}  // namespace hermod::client_internal

#endif  // HERMOD_CLIENT_LIB_SRC_BACKOFF_H_
