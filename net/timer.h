// Timer: a libuv timer owned by an object, calling back a std::function.
//
// Close() before destruction; the destructor checks it. Loop thread only.
#ifndef HERMOD_NET_TIMER_H_
#define HERMOD_NET_TIMER_H_

#include <uv.h>

#include <cstdint>
#include <functional>

#include "check.h"
#include "loop.h"

namespace hermod::net {

class Timer {
 public:
  Timer() = default;
  ~Timer() { HERMOD_CHECK(!open_); }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void Init(Loop& loop, std::function<void()> fn) {
    fn_ = std::move(fn);
    uv_timer_init(loop.uv(), &timer_);
    timer_.data = this;
    open_ = true;
  }
  // Fires fn after timeout_ms, then every repeat_ms if nonzero. Restarts a
  // running timer.
  void Start(uint64_t timeout_ms, uint64_t repeat_ms = 0) {
    if (open_ && !closing_) uv_timer_start(&timer_, &Timer::OnFire, timeout_ms, repeat_ms);
  }
  void Stop() {
    if (open_ && !closing_) uv_timer_stop(&timer_);
  }
  bool active() const {
    return open_ && uv_is_active(reinterpret_cast<const uv_handle_t*>(&timer_));
  }
  // Whether the timer keeps the loop running (default yes).
  void Unref() { uv_unref(reinterpret_cast<uv_handle_t*>(&timer_)); }
  void Close() {
    if (!open_ || closing_) return;
    closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_),
             [](uv_handle_t* h) noexcept { static_cast<Timer*>(h->data)->open_ = false; });
  }

 private:
  static void OnFire(uv_timer_t* t) noexcept { static_cast<Timer*>(t->data)->fn_(); }

  uv_timer_t timer_;
  std::function<void()> fn_;
  bool open_ = false;
  bool closing_ = false;
};

}  // namespace hermod::net

#endif  // HERMOD_NET_TIMER_H_
