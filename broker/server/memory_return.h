// MemoryReturn: gives memory back to the system while the broker runs,
// after many queues went idle (design.md: an idle queue costs 0 bytes of
// RAM, not only after a restart).
//
// The core frees an idle queue's state, but the allocator keeps the freed
// heap in its arenas, and LMDB's map keeps the pages that loading and
// applying those queues touched (measured: 300,000 idle queues left 211 MB
// of anonymous heap and 141 MB of mapped store). Every period this checks
// how many queues the core holds; once that has fallen well below its
// peak since the last check, it trims the heap (malloc_trim) and drops the
// store's mapped pages (they stay in the page cache; a later read faults
// them back). Both cost milliseconds, and happen only after such a drop.
//
// Loop thread only.
#ifndef HERMOD_BROKER_SERVER_MEMORY_RETURN_H_
#define HERMOD_BROKER_SERVER_MEMORY_RETURN_H_

#include <malloc.h>

#include <algorithm>
#include <cstdint>
#include <functional>

#include "broker.h"
#include "net/loop.h"
#include "net/timer.h"

namespace hermod::server {

class MemoryReturn {
 public:
  // A return happens when the queues in memory fell to at most half their
  // peak, by at least this many.
  static constexpr size_t kMinDrop = 10000;

  // release_mapped drops the store's mapped pages (null: none to drop).
  MemoryReturn(net::Loop* loop, core::Broker* broker, std::function<void()> release_mapped)
      : loop_(loop), broker_(broker), release_mapped_(std::move(release_mapped)) {}

  // REQUIRES: before Start().
  void set_broker(core::Broker* broker) { broker_ = broker; }
  // Checks every interval_ms; 0: never.
  void Start(uint32_t interval_ms) {
    timer_.Init(*loop_, [this] { Check(); });
    if (interval_ms == 0) return;
    timer_.Start(interval_ms, interval_ms);
    timer_.Unref();
  }
  void Close() { timer_.Close(); }
  uint64_t returns() const { return returns_; }

 private:
  void Check() {
    // The core's high water mark, not a sample: a burst can come and go
    // between two checks.
    size_t now = broker_->queues_in_memory();
    size_t peak = broker_->TakeQueuesInMemoryPeak();
    if (peak < kMinDrop || now > peak / 2 || peak - now < kMinDrop) return;
    malloc_trim(0);
    if (release_mapped_) release_mapped_();
    ++returns_;
  }

  net::Loop* loop_;
  core::Broker* broker_;
  std::function<void()> release_mapped_;
  net::Timer timer_;
  uint64_t returns_ = 0;
};

}  // namespace hermod::server

#endif  // HERMOD_BROKER_SERVER_MEMORY_RETURN_H_
