// Queue, Entry and Consumer: one recipient's queue as the loop holds it while
// the queue is in use.
//
// A queue's undelivered entries are, in seq order: those in the index with
// seq in [index_cursor, index_end) (read on demand, a few at a time, into
// `index_ahead`), then `tail`: entries the loop created whose log record is
// not yet applied, which it delivers from memory. Entries given back (nack,
// a consumer gone) wait in `returned` and go out first; those that must wait
// first (a nack's delay, a backoff, a scheduled time not reached when
// delivery came to them) wait in `delayed` until the redelivery timer moves
// them to `returned`. Delivered entries
// sit in their consumer's `inflight` map until acked.
//
// A Queue object exists only while the queue is in use (consumers,
// deliveries, entries only in the log, or a batch still touching it); an
// idle queue lives only in the store. Loop thread only.
#ifndef HERMOD_BROKER_CORE_QUEUE_H_
#define HERMOD_BROKER_CORE_QUEUE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "keys.h"
#include "lazy.h"
#include "message.h"
#include "rate_meter.h"
#include "ring.h"
#include "service.h"
#include "settings.h"

namespace hermod::core {

class Client;
class Queue;

struct Entry {
  Seq seq = 0;
  BatchNo batch_no = 0;         // the batch whose log record created it (0: in the index)
  BatchNo delivered_batch = 0;  // the batch whose log record has its last delivery count
  uint32_t delivery_count = 0;
  MsgId msg_id = 0;
  uint32_t bytes = 0;
  uint64_t expires_ms = 0;  // 0: never
  MessageRef msg;
};

// When an unacked delivery is due back. A consumer's deadlines are appended
// in delivery order and all use the consumer's ack wait, so they are already
// sorted: a FIFO is the timer structure (no timer per message).
struct Deadline {
  uint64_t due_ms = 0;
  Seq seq = 0;
  uint32_t delivery_count = 0;  // which delivery of that seq it guards
};

struct Consumer {
  Client* client = nullptr;
  SubscriptionId subscription_id = 0;
  Queue* queue = nullptr;
  uint32_t credit = 0;
  uint32_t ack_wait_ms = 0;                  // 0: deliveries never time out
  std::optional<RedeliveryBackoff> backoff;  // the subscription's own; none: the queue's
  Lazy<std::map<Seq, Entry>> inflight;       // allocated by the first delivery
  Ring<Deadline> deadlines;                  // may hold stale records of acked deliveries

  bool has_credit() const { return inflight.size() < credit; }
};

class Queue {
 public:
  // `limits` are the defaults for a queue without overrides, shared by the
  // queues that have none (QueueTable holds them); they must outlive it.
  Queue(std::string name, QueueId queue_id, const QueueLimits* limits)
      : name_(std::move(name)), limits_(limits), queue_id_(queue_id) {}
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  const std::string& name() const { return name_; }
  // 0 until the queue's first publish creates it durably.
  QueueId queue_id() const { return queue_id_; }
  void set_queue_id(QueueId queue_id) { queue_id_ = queue_id; }

  // Whether nothing but the store holds this queue's state.
  bool idle() const {
    return consumers.empty() && tail.empty() && returned.empty() && index_ahead.empty() &&
           delayed.empty() && inflight == 0;
  }
  // Whether an undelivered entry may be delivered: any but those of the
  // log tail whose batch is newer than `through`.
  bool has_deliverable(BatchNo through) const {
    return !returned.empty() || !index_ahead.empty() || index_cursor < index_end ||
           (!tail.empty() && tail[0].batch_no <= through);
  }

  Seq next_seq = 1;
  Seq index_cursor = 1;
  Seq index_end = 1;
  Ring<Entry> index_ahead;  // read from the index, not yet delivered
  Ring<Entry> tail;         // in the log, not yet delivered, seq order
  // Rarely used, so allocated on first use (lazy.h).
  Lazy<std::map<Seq, Entry>> returned;
  // Nacked with a delay, backing off, or scheduled for later, by monotonic
  // due time.
  Lazy<std::multimap<uint64_t, Entry>> delayed;
  Lazy<std::set<Seq>>
      removed;  // removed from the index range by the expiry sweep, not yet read past
  std::vector<Consumer*> consumers;
  uint32_t next_consumer = 0;  // round robin among consumers
  uint32_t inflight = 0;       // deliveries awaiting ack, over all consumers
  // Resume: entries up to settled_through whose last delivery was recorded
  // in a batch before settled_batch are settled as acked instead of
  // delivered again (the highest resume_through of a subscribe, and the
  // batch being filled then; docs/semantics.md).
  Seq settled_through = 0;
  BatchNo settled_batch = 0;
  bool deleted = false;              // being deleted: refuses every use
  store::PartitionId partition = 0;  // of its name (hermod/partition.h)

  // Entries and their bytes, delivered or not: the store's counters at load,
  // kept current since.
  uint64_t depth = 0;
  uint64_t bytes = 0;
  // Its setting overrides, and the defaults with them applied. Most queues
  // have none: then no allocation, and limits() are the shared defaults.
  const QueueOverrides& overrides() const {
    return settings_ ? settings_->overrides : kNoOverrides;
  }
  const QueueLimits& limits() const { return *limits_; }
  // Replaces the overrides; `limits` are the defaults with them applied.
  void SetOverrides(QueueOverrides overrides, QueueLimits limits) {
    settings_ = std::make_unique<Settings>(Settings{std::move(overrides), std::move(limits)});
    limits_ = &settings_->limits;
  }

  RateMeter publish_rate;
  RateMeter ack_rate;

  BatchNo created_batch = 0;  // the batch whose record creates it; 0: the store has it
  uint64_t created_ms = 0;

  // The newest batch with any change to this queue, and the newest whose
  // log record names it: eviction waits for both (the first to commit, the
  // second to be applied). Mark*() return whether the batch is new to it.
  BatchNo last_touch_batch() const { return last_touch_batch_; }
  BatchNo last_log_batch() const { return last_log_batch_; }
  bool MarkTouched(BatchNo batch_no) {
    return std::exchange(last_touch_batch_, batch_no) != batch_no;
  }
  bool MarkLogged(BatchNo batch_no) { return std::exchange(last_log_batch_, batch_no) != batch_no; }

 private:
  static inline const QueueOverrides kNoOverrides{};

  struct Settings {
    QueueOverrides overrides;
    QueueLimits limits;
  };

  const std::string name_;
  std::unique_ptr<Settings> settings_;  // null: no overrides
  const QueueLimits* limits_;           // settings_->limits, or the shared defaults
  QueueId queue_id_;
  BatchNo last_log_batch_ = 0;
  BatchNo last_touch_batch_ = 0;
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_QUEUE_H_
