// ReplicaWindow: the recent parts of each partition's log a cluster node
// keeps in memory (docs/design.md, "Replication"), so that a leader can ship
// them again to a follower that reconnects, lags or was refused for a gap,
// and so that a node that takes a partition over can serve the followers
// it had been following with. Consecutive offsets per partition; a bound
// on the bytes for the whole node, evicting the oldest parts of the
// partition holding most, so a busy partition does not push a quiet one's
// few parts out. Loop thread only; no wire, no clock.
#ifndef HERMOD_BROKER_SERVER_REPLICA_WINDOW_H_
#define HERMOD_BROKER_SERVER_REPLICA_WINDOW_H_

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>

#include "write_batch.h"

namespace hermod::server {

class ReplicaWindow {
 public:
  struct Part {
    uint64_t offset = 0;
    uint64_t at_ms = 0;  // when it was committed (leader) or taken (follower)
    std::string record;
    std::string commit_record;
    uint64_t bytes() const { return record.size() + commit_record.size(); }
  };

  explicit ReplicaWindow(uint64_t max_bytes) : max_bytes_(max_bytes) {}

  // Keeps (offset - 1, offset] of `partition`. A part that does not follow
  // the partition's last one starts its window afresh.
  void Keep(store::PartitionId partition, Part part) {
    Window& w = windows_[partition];
    if (!w.parts.empty() && w.parts.back().offset + 1 != part.offset) DropAfter(partition, 0);
    w.bytes += part.bytes();
    bytes_ += part.bytes();
    w.parts.push_back(std::move(part));
    Trim();
  }
  // The part ending at `offset`, or null when it is not held.
  const Part* Find(store::PartitionId partition, uint64_t offset) const {
    auto it = windows_.find(partition);
    if (it == windows_.end() || it->second.parts.empty()) return nullptr;
    const std::deque<Part>& parts = it->second.parts;
    if (offset < parts.front().offset || offset > parts.back().offset) return nullptr;
    return &parts[offset - parts.front().offset];
  }
  // Forgets the partition's parts after `offset` (a truncated log).
  void DropAfter(store::PartitionId partition, uint64_t offset) {
    auto it = windows_.find(partition);
    if (it == windows_.end()) return;
    Window& w = it->second;
    while (!w.parts.empty() && w.parts.back().offset > offset) {
      w.bytes -= w.parts.back().bytes();
      bytes_ -= w.parts.back().bytes();
      w.parts.pop_back();
    }
  }
  uint64_t bytes() const { return bytes_; }

 private:
  struct Window {
    std::deque<Part> parts;  // consecutive offsets, oldest first
    uint64_t bytes = 0;
  };

  void Trim() {
    while (bytes_ > max_bytes_) {
      Window* largest = nullptr;
      for (auto& [p, w] : windows_) {
        if (largest == nullptr || w.bytes > largest->bytes) largest = &w;
      }
      if (largest == nullptr || largest->parts.empty()) return;
      const uint64_t bytes = largest->parts.front().bytes();
      largest->bytes -= bytes;
      bytes_ -= bytes;
      largest->parts.pop_front();
    }
  }

  uint64_t max_bytes_;
  uint64_t bytes_ = 0;
  std::map<store::PartitionId, Window> windows_;
};

}  // namespace hermod::server

#endif  // HERMOD_BROKER_SERVER_REPLICA_WINDOW_H_
