// Time for the core, injected: a Clock to read and a Scheduler to make
// timers with. The server layer implements both over the libuv loop
// (server/loop_services.h); unit tests use a fake clock they advance by hand
// (tests/unit/broker/core/fake_services.h), so ack wait, redelivery, expiry
// and sweeps are tested without sleeping.
//
// Loop thread only.
#ifndef HERMOD_BROKER_CORE_CLOCK_H_
#define HERMOD_BROKER_CORE_CLOCK_H_

#include <cstdint>
#include <functional>
#include <memory>

namespace hermod::core {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds of a monotonic clock (deadlines, timers). Never goes back.
  virtual uint64_t MonotonicMs() = 0;
  // Milliseconds since the epoch (publish times, expiry, creation times:
  // what is stored and shown).
  virtual uint64_t WallMs() = 0;
};

// A timer made by a Scheduler. Close() before destruction.
class Timer {
 public:
  virtual ~Timer() = default;
  // Calls the timer's function after timeout_ms of the Clock's monotonic
  // time, then every repeat_ms if nonzero. Restarts a running timer.
  virtual void Start(uint64_t timeout_ms, uint64_t repeat_ms = 0) = 0;
  virtual void Stop() = 0;
  // No call after this. Idempotent.
  virtual void Close() = 0;
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // A stopped timer that calls fn when it fires. A `background` timer does
  // not keep an otherwise idle process running.
  virtual std::unique_ptr<Timer> NewTimer(std::function<void()> fn, bool background = true) = 0;
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_CLOCK_H_
