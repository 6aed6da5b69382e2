// QueueTable: the queues in memory, by name and by id, and how they get
// there: loaded from the store on first use (an idle queue lives only in
// the store), made for a name the store does not know yet (created durably
// by its first publish), and dropped when the Broker evicts them.
//
// It owns every Queue object; pointers stay valid until Erase(). Loop
// thread only.
#ifndef HERMOD_BROKER_CORE_QUEUE_TABLE_H_
#define HERMOD_BROKER_CORE_QUEUE_TABLE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "hermod/status.h"
#include "queue.h"
#include "settings.h"
#include "store.h"

namespace hermod::core {

class QueueTable {
 public:
  // REQUIRES: store outlives the table.
  // `partitions`: of the cluster's queue space (1: a single node), to tag
  // each queue with its partition.
  QueueTable(store::Store* store, const QueueDefaults& defaults, uint32_t partitions);
  QueueTable(const QueueTable&) = delete;
  QueueTable& operator=(const QueueTable&) = delete;

  // In memory only; null when not loaded.
  Queue* Find(std::string_view name) const;
  Queue* FindById(QueueId queue_id) const;

  // The queue of that name, loaded from the store if needed; a queue the
  // store does not know is made with queue_id 0 (its first publish creates
  // it: Broker::EnsureCreated). A queue being deleted answers kUnavailable.
  Result<Queue*> Load(std::string_view name);
  // The queue of that id, loaded if needed; NotFound when the store does
  // not know it or it is being deleted.
  Result<Queue*> LoadById(QueueId queue_id);

  // Replaces q's setting overrides (and so its limits).
  void SetOverrides(Queue* q, QueueOverrides overrides);
  // The queue q's dead letters go to.
  std::string DeadLetterQueue(const Queue& q) const;

  // A queue made by Load() got its id.
  void Created(Queue* q) { by_id_[q->queue_id()] = q; }
  // Forgets and frees q.
  void Erase(Queue* q);

  size_t size() const { return by_name_.size(); }
  // The most queues held at once since the last call (then: now).
  size_t TakePeak() { return std::exchange(peak_, by_name_.size()); }
  // Calls fn(queue) for every queue in memory. fn must not add or erase.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (auto& [name, q] : by_name_) fn(*q);
  }

 private:
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  Queue* Add(std::string_view name, QueueId queue_id, const store::QueueInfo* info);

  static constexpr size_t kMinBucketsToShrink = 4096;

  store::Store* store_;
  const QueueDefaults& defaults_;
  uint32_t partitions_;
  // The limits of every queue without overrides (their dead_letter_queue is
  // empty: DeadLetterQueue() derives it from the name), and of every
  // dead-letter queue without overrides.
  QueueLimits default_limits_;
  QueueLimits dead_letter_limits_;
  // Keyed by a view of the queue's own name: no second copy per queue.
  std::unordered_map<std::string_view, std::unique_ptr<Queue>, NameHash> by_name_;
  std::unordered_map<QueueId, Queue*> by_id_;
  size_t peak_ = 0;
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_QUEUE_TABLE_H_
