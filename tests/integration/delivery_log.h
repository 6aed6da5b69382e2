// DeliveryLog: collects a subscription's deliveries, which arrive on a
// Client's thread, for a test thread to wait on and inspect.
//
//   DeliveryLog log;
//   auto sub = client->Subscribe("q", {}, log.Handler());
//   ASSERT_TRUE(log.WaitForCount(10, std::chrono::seconds(5)));
//
// Thread-safe: Handler()'s function runs on the client thread, everything
// else on any thread. The recorded state is shared with the handlers, so a
// handler stays safe to run even after its DeliveryLog was destroyed (a
// client declared after the log outlives it).
#ifndef HERMOD_TESTS_INTEGRATION_DELIVERY_LOG_H_
#define HERMOD_TESTS_INTEGRATION_DELIVERY_LOG_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "hermod/client.h"

namespace hermod::test {

class DeliveryLog {
 public:
  // A handler that records each delivery, then calls `then` (for instance
  // to ack it) on the client thread.
  DeliveryHandler Handler(std::function<void(const Delivery&)> then = nullptr) {
    return [state = state_, then = std::move(then)](const Delivery& delivery) {
      state->Add(delivery);
      if (then) then(delivery);
    };
  }

  // Records a copy of delivery. Any thread.
  void Add(const Delivery& delivery) { state_->Add(delivery); }

  // Waits until at least n deliveries were recorded; false on timeout.
  bool WaitForCount(size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(state_->mu);
    return state_->changed.wait_for(lock, timeout, [&] { return state_->deliveries.size() >= n; });
  }

  // A copy of what was recorded so far, in arrival order.
  std::vector<Delivery> Snapshot() {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->deliveries;
  }

  size_t size() {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->deliveries.size();
  }

 private:
  struct State {
    void Add(const Delivery& delivery) {
      std::lock_guard<std::mutex> lock(mu);
      deliveries.push_back(delivery);
      changed.notify_all();
    }
    std::mutex mu;  // guards deliveries
    std::condition_variable changed;
    std::vector<Delivery> deliveries;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace hermod::test

#endif  // HERMOD_TESTS_INTEGRATION_DELIVERY_LOG_H_
