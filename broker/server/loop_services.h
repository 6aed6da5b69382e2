// The core's Clock and Scheduler (core/clock.h) on the libuv loop: the
// loop's cached time as the monotonic clock, the system clock as the wall
// clock, and net::Timers as timers. Loop thread only.
#ifndef HERMOD_BROKER_SERVER_LOOP_SERVICES_H_
#define HERMOD_BROKER_SERVER_LOOP_SERVICES_H_

#include <chrono>
#include <functional>
#include <memory>

#include "clock.h"
#include "net/loop.h"
#include "net/timer.h"

namespace hermod::server {

class LoopClock final : public core::Clock {
 public:
  explicit LoopClock(net::Loop* loop) : loop_(loop) {}
  // uv_now(): read once per loop turn, so cheap to ask per message.
  uint64_t MonotonicMs() override { return loop_->now_ms(); }
  uint64_t WallMs() override {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  }

 private:
  net::Loop* loop_;
};

class LoopScheduler final : public core::Scheduler {
 public:
  explicit LoopScheduler(net::Loop* loop) : loop_(loop) {}

  std::unique_ptr<core::Timer> NewTimer(std::function<void()> fn, bool background) override {
    auto timer = std::make_unique<LoopTimer>();
    timer->timer.Init(*loop_, std::move(fn));
    // Background timers must not keep the loop of an idle broker running.
    if (background) timer->timer.Unref();
    return timer;
  }

 private:
  struct LoopTimer final : core::Timer {
    void Start(uint64_t timeout_ms, uint64_t repeat_ms) override {
      timer.Start(timeout_ms, repeat_ms);
    }
    void Stop() override { timer.Stop(); }
    void Close() override { timer.Close(); }
    net::Timer timer;
  };

  net::Loop* loop_;
};

}  // namespace hermod::server

#endif  // HERMOD_BROKER_SERVER_LOOP_SERVICES_H_
