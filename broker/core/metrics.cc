// The deepest queues for /metrics' per-queue series, found by a scan of the
// queue counters that runs a slice per sweep round, so a million queues cost
// neither a stall nor a million series. The exposition itself is the
// server's (server/metrics_text.cc).
#include <algorithm>

#include "broker.h"

namespace hermod::core {

void Broker::ScanDeepest() {
  // One slice of the pass over queue_state; the finished pass replaces the
  // published top list.
  using Item = std::pair<uint64_t, std::string>;
  size_t top_n = config_.metrics_top_queues;
  if (top_n == 0) return;
  size_t seen = 0;
  QueueId last = deepest_scan_from_;
  bool finished = true;
  Status s = store_->ForEachQueue(
      [&](QueueId id, const store::QueueState& state) {
        if (seen++ == config_.metrics_scan_slice) {
          finished = false;
          last = id;
          return false;
        }
        if (state.depth > 0) {
          deepest_scan_.emplace_back(state.depth, state.name);
          if (deepest_scan_.size() > 4 * top_n) {
            std::partial_sort(deepest_scan_.begin(), deepest_scan_.begin() + top_n,
                              deepest_scan_.end(), std::greater<Item>());
            deepest_scan_.resize(top_n);
          }
        }
        return true;
      },
      deepest_scan_from_);
  if (!s.ok()) return;
  if (!finished) {
    deepest_scan_from_ = last;
    return;
  }
  std::sort(deepest_scan_.begin(), deepest_scan_.end(), std::greater<Item>());
  if (deepest_scan_.size() > top_n) deepest_scan_.resize(top_n);
  deepest_ = std::move(deepest_scan_);
  deepest_scan_.clear();
  deepest_scan_from_ = 0;
}

bool Broker::Healthy() const { return storage_failure_.ok() && !draining_; }

std::vector<std::pair<std::string, uint64_t>> Broker::DeepestQueues() const {
  // Live depths for the queues in memory.
  std::vector<std::pair<std::string, uint64_t>> out;
  for (const auto& [depth, name] : deepest_) {
    Queue* q = queues_.Find(name);
    out.emplace_back(name, q != nullptr ? q->depth : depth);
  }
  return out;
}

}  // namespace hermod::core
