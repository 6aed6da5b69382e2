// The wall clock the core stamps messages with: milliseconds since the
// epoch. Any thread. (Broker::Now() reads it once per loop turn.)
#ifndef HERMOD_BROKER_CORE_CLOCK_H_
#define HERMOD_BROKER_CORE_CLOCK_H_

#include <chrono>
#include <cstdint>

namespace hermod::core {

inline uint64_t WallClockMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_CLOCK_H_
