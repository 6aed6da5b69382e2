// Signals: a set of uv_signal_t watchers calling one function, for graceful
// shutdown on SIGINT/SIGTERM. Close() before destruction. Loop thread only.
#ifndef HERMOD_NET_SIGNALS_H_
#define HERMOD_NET_SIGNALS_H_

#include <uv.h>

#include <functional>
#include <initializer_list>
#include <memory>
#include <vector>

#include "check.h"
#include "loop.h"

namespace hermod::net {

class Signals {
 public:
  Signals() = default;
  ~Signals() { HERMOD_CHECK(open_ == 0); }
  Signals(const Signals&) = delete;
  Signals& operator=(const Signals&) = delete;

  // Calls fn(signum) on the loop thread when one of the signals arrives.
  // The watchers do not keep the loop running on their own.
  void Init(Loop& loop, std::initializer_list<int> signums, std::function<void(int)> fn) {
    fn_ = std::move(fn);
    for (int signum : signums) {
      auto handle = std::make_unique<uv_signal_t>();
      uv_signal_init(loop.uv(), handle.get());
      handle->data = this;
      uv_signal_start(handle.get(), &Signals::OnSignal, signum);
      uv_unref(reinterpret_cast<uv_handle_t*>(handle.get()));
      handles_.push_back(std::move(handle));
      ++open_;
    }
  }

  void Close() {
    for (auto& handle : handles_) {
      auto* h = reinterpret_cast<uv_handle_t*>(handle.get());
      if (!uv_is_closing(h)) {
        uv_close(
            h, [](uv_handle_t* closed) noexcept { --static_cast<Signals*>(closed->data)->open_; });
      }
    }
  }

 private:
  static void OnSignal(uv_signal_t* handle, int signum) noexcept {
    static_cast<Signals*>(handle->data)->fn_(signum);
  }

  std::function<void(int)> fn_;
  std::vector<std::unique_ptr<uv_signal_t>> handles_;
  int open_ = 0;
};

}  // namespace hermod::net

#endif  // HERMOD_NET_SIGNALS_H_
