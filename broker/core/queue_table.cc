#include "queue_table.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "hermod/partition.h"

namespace hermod::core {

QueueTable::QueueTable(store::Store* store, const QueueDefaults& defaults, uint32_t partitions)
    : store_(store),
      defaults_(defaults),
      partitions_(partitions),
      default_limits_(EffectiveLimits(defaults, QueueOverrides(), "")) {
  default_limits_.dead_letter_queue.clear();
  dead_letter_limits_ = default_limits_;
  dead_letter_limits_.max_deliveries = 0;  // as EffectiveLimits says for them
}

void QueueTable::SetOverrides(Queue* q, QueueOverrides overrides) {
  QueueLimits limits = EffectiveLimits(defaults_, overrides, q->name());
  q->SetOverrides(std::move(overrides), std::move(limits));
}

std::string QueueTable::DeadLetterQueue(const Queue& q) const {
  const std::string& set = q.limits().dead_letter_queue;
  return set.empty() ? q.name() + defaults_.dead_letter_suffix : set;
}

Queue* QueueTable::Find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second.get();
}

Queue* QueueTable::FindById(QueueId queue_id) const {
  auto it = by_id_.find(queue_id);
  return it == by_id_.end() ? nullptr : it->second;
}

Queue* QueueTable::Add(std::string_view name, QueueId queue_id, const store::QueueInfo* info) {
  bool is_dead_letter_queue = !defaults_.dead_letter_suffix.empty() &&
                              name.size() > defaults_.dead_letter_suffix.size() &&
                              name.ends_with(defaults_.dead_letter_suffix);
  auto q = std::make_unique<Queue>(std::string(name), queue_id,
                                   is_dead_letter_queue ? &dead_letter_limits_ : &default_limits_);
  if (partitions_ > 1) q->partition = PartitionOf(name, partitions_);
  if (info != nullptr) {
    const store::QueueState& state = info->state;
    q->next_seq = state.last_seq + 1;
    q->index_end = state.last_seq + 1;
    // An empty index range needs no read at all.
    q->index_cursor = state.depth > 0 ? 1 : q->index_end;
    q->created_ms = state.created_ms;
    q->depth = state.depth;
    q->bytes = state.bytes;
    if (!info->config.empty()) {
      QueueOverrides overrides;
      if (overrides.Decode(info->config)) {
        SetOverrides(q.get(), std::move(overrides));
      } else {
        spdlog::warn("queue {}: unreadable settings; using the defaults", name);
      }
    }
  }
  Queue* raw = q.get();
  by_name_.emplace(raw->name(), std::move(q));
  peak_ = std::max(peak_, by_name_.size());
  if (queue_id != 0) by_id_[queue_id] = raw;
  return raw;
}

Result<Queue*> QueueTable::Load(std::string_view name) {
  if (Queue* q = Find(name)) {
    if (q->deleted) {
      return Status(ErrorCode::kUnavailable,
                    "queue " + std::string(name) + " is being deleted; retry in a moment");
    }
    return q;
  }
  Result<std::optional<store::QueueInfo>> info = store_->FindQueue(name);
  if (!info.ok()) return info.status();
  if (info->has_value()) return Add(name, (*info)->queue_id, &**info);
  return Add(name, 0, nullptr);
}

Result<Queue*> QueueTable::LoadById(QueueId queue_id) {
  if (Queue* q = FindById(queue_id)) {
    if (q->deleted) return Status::NotFound("queue " + q->name() + " is deleted");
    return q;
  }
  Result<std::optional<store::QueueInfo>> info = store_->FindQueueById(queue_id);
  if (!info.ok()) return info.status();
  if (!info->has_value()) return Status::NotFound("no queue " + std::to_string(queue_id));
  return Add((*info)->state.name, queue_id, &**info);
}

void QueueTable::Erase(Queue* q) {
  if (q->queue_id() != 0) by_id_.erase(q->queue_id());
  by_name_.erase(by_name_.find(q->name()));  // frees q (and the name its key views)
  // Hash tables keep their bucket arrays at their largest size: after a
  // burst of a million queues that is 16 MB held for nothing. Shrink once
  // the table is down to an eighth of its buckets.
  if (by_name_.bucket_count() > kMinBucketsToShrink &&
      by_name_.size() < by_name_.bucket_count() / 8) {
    by_name_.rehash(0);
    by_id_.rehash(0);
  }
}

}  // namespace hermod::core
