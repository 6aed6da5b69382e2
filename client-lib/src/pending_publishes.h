// PendingPublishes: every publish of a Client that waits for its confirm,
// keyed by correlation id, with what it takes to send it again.
//
// Correlation ids are handed out here, increasing by one per publish, and
// confirms of successful publishes come back in publish order, so a deque
// indexed by (correlation id - id of the oldest entry) finds each entry in
// O(1) and completes the mostly-in-order stream with pushes at the back and
// pops at the front. A PublishError may overtake earlier confirms: its entry
// is emptied in place and popped once everything before it completed.
//
// An entry keeps its publish (queue, payload, headers, dedup id) until the
// confirm, because a publish is not done when its connection ends: after a
// reconnect it is sent again, with the same correlation id (ids need only be
// unique on one connection) and the same dedup id. A cursor marks the first
// entry not yet sent on the current connection; everything from there on
// goes out in id order, i.e. in the order of the original publishes, and a
// publish made while reconnecting simply waits behind the resends.
//
// Owned by Client::Impl. Loop thread only.
#ifndef HERMOD_CLIENT_LIB_SRC_PENDING_PUBLISHES_H_
#define HERMOD_CLIENT_LIB_SRC_PENDING_PUBLISHES_H_

#include <algorithm>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "hermod/client.h"
#include "outbox.h"

namespace hermod::client_internal {

class PendingPublishes {
 public:
  // Publish correlation ids start here. Ids of other requests (subscribe,
  // unsubscribe, configure) are taken from a disjoint range, see
  // client_impl.h.
  static constexpr uint64_t kFirstCorrelationId = 1;

  PendingPublishes() = default;
  PendingPublishes(const PendingPublishes&) = delete;
  PendingPublishes& operator=(const PendingPublishes&) = delete;

  // Records a publish, not sent yet; returns its correlation id.
  uint64_t Add(PublishCommand publish) {
    entries_.push_back(Entry{std::move(publish), true});
    ++live_;
    return first_id_ + entries_.size() - 1;
  }

  // The oldest pending publish not sent on the current connection yet, or
  // nullptr; *correlation_id receives its id. It counts as sent from now on.
  // The pointer is valid until the next call of any other method.
  PublishCommand* TakeNextUnsent(uint64_t* correlation_id) {
    next_unsent_ = std::max(next_unsent_, first_id_);
    while (next_unsent_ - first_id_ < entries_.size()) {
      Entry& entry = entries_[next_unsent_ - first_id_];
      const uint64_t id = next_unsent_++;
      if (!entry.pending) continue;
      *correlation_id = id;
      return &entry.publish;
    }
    return nullptr;
  }

  // Marks every pending publish as not sent: the connection they went out
  // on has ended.
  void MarkAllUnsent() { next_unsent_ = first_id_; }

  // Removes the entry of `correlation_id` and returns its callback through
  // *done. Returns false when no publish with that id is pending.
  bool Take(uint64_t correlation_id, ConfirmCallback* done) {
    if (correlation_id < first_id_ || correlation_id - first_id_ >= entries_.size()) return false;
    Entry& entry = entries_[correlation_id - first_id_];
    if (!entry.pending) return false;
    *done = std::move(entry.publish.done);
    entry.publish = PublishCommand();  // frees the payload now
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
      if (entry.pending) out.push_back(std::move(entry.publish.done));
    }
    first_id_ += entries_.size();
    entries_.clear();
    live_ = 0;
    return out;
  }

  // Publishes waiting for a confirm.
  size_t size() const { return live_; }

 private:
  struct Entry {
    PublishCommand publish;  // publish.done may be empty: the caller wants no confirm
    bool pending;
  };

  uint64_t first_id_ = kFirstCorrelationId;  // correlation id of entries_.front()
  uint64_t next_unsent_ = kFirstCorrelationId;
  std::deque<Entry> entries_;
  size_t live_ = 0;
};

}  // namespace hermod::client_internal

#endif  // HERMOD_CLIENT_LIB_SRC_PENDING_PUBLISHES_H_
