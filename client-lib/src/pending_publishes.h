// PendingPublishes: the publishes of one connection that wait for their
// confirm, keyed by correlation id.
//
// Correlation ids are handed out here, increasing by one per publish, and
// confirms of successful publishes come back in publish order, so a deque
// indexed by (correlation id - id of the oldest entry) finds each entry in
// O(1) and completes the mostly-in-order stream with pushes at the back and
// pops at the front. A PublishError may overtake earlier confirms: its entry
// is emptied in place and popped once everything before it completed.
//
// Owned by Client::Impl. Loop thread only.
#ifndef HERMOD_CLIENT_LIB_SRC_PENDING_PUBLISHES_H_
#define HERMOD_CLIENT_LIB_SRC_PENDING_PUBLISHES_H_

#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "hermod/client.h"

namespace hermod::client_internal {

class PendingPublishes {
 public:
  // Publish correlation ids start here. Ids of other requests (subscribe,
  // unsubscribe) are taken from a disjoint range, see client_impl.h.
  static constexpr uint64_t kFirstCorrelationId = 1;

  PendingPublishes() = default;
  PendingPublishes(const PendingPublishes&) = delete;
  PendingPublishes& operator=(const PendingPublishes&) = delete;

  // Records a publish about to be sent; returns its correlation id.
  uint64_t Add(ConfirmCallback done) {
    entries_.push_back(Entry{std::move(done), true});
    ++live_;
    return first_id_ + entries_.size() - 1;
  }

  // Removes the entry of `correlation_id` and returns its callback through
  // *done. Returns false when no publish with that id is pending.
  bool Take(uint64_t correlation_id, ConfirmCallback* done) {
    if (correlation_id < first_id_ || correlation_id - first_id_ >= entries_.size()) return false;
    Entry& entry = entries_[correlation_id - first_id_];
    if (!entry.pending) return false;
    *done = std::move(entry.done);
    entry.done = nullptr;
    entry.pending = false;
    --live_;
    while (!entries_.empty() && !entries_.front().pending) {
      entries_.pop_front();
      ++first_id_;
    }
    return true;
  }

  // Removes every pending entry and returns their callbacks in publish
  // order. Ids keep increasing: a later Add never reuses one.
  std::vector<ConfirmCallback> TakeAll() {
    std::vector<ConfirmCallback> out;
    out.reserve(live_);
    for (Entry& entry : entries_) {
      if (entry.pending) out.push_back(std::move(entry.done));
    }
    first_id_ += entries_.size();
    entries_.clear();
    live_ = 0;
    return out;
  }

  // The correlation id the next Add() returns.
  uint64_t next_correlation_id() const { return first_id_ + entries_.size(); }

  // Publishes waiting for a confirm.
  size_t size() const { return live_; }

 private:
  struct Entry {
    ConfirmCallback done;  // may be empty: the caller wants no confirm
    bool pending;
  };

  uint64_t first_id_ = kFirstCorrelationId;  // correlation id of entries_.front()
  std::deque<Entry> entries_;
  size_t live_ = 0;
};

}  // namespace hermod::client_internal

#endif  // HERMOD_CLIENT_LIB_SRC_PENDING_PUBLISHES_H_
