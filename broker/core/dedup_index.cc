#include "dedup_index.h"

#include "keys.h"
#include "names.h"

namespace hermod::core {

Status ValidateDedupId(std::string_view id) {
  if (id.empty() || id.size() > 255) {
    return Status::InvalidArgument("dedup id must be 1 to 255 bytes");
  }
  for (unsigned char c : id) {
    if (c < 0x20 || c == 0x7f)
      return Status::InvalidArgument("dedup id contains a control character");
  }
  if (!IsValidUtf8(id)) return Status::InvalidArgument("dedup id is not valid UTF-8");
  return Status::OK();
}

Result<std::optional<DedupIndex::Original>> DedupIndex::Find(QueueId queue_id,
                                                             std::string_view dedup_id,
                                                             uint64_t now_ms) {
  std::string key = store::DedupKey(queue_id, dedup_id);
  auto it = map_.find(key);
  uint64_t horizon = now_ms > window_ms_ ? now_ms - window_ms_ : 0;
  if (it != map_.end() && it->second.time_ms >= horizon) {
    return std::optional<Original>(it->second.original);
  }
  // Client-generated ids live only in memory (see the header).
  if (IsClientDedupId(dedup_id)) return std::optional<Original>();
  Result<std::optional<store::DedupValue>> stored = store_->FindDedup(queue_id, dedup_id);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value() || (*stored)->time_ms < horizon) return std::optional<Original>();
  return std::optional<Original>(Original{(*stored)->msg_id, (*stored)->seq, 0});
}

void DedupIndex::Add(QueueId queue_id, std::string_view dedup_id, const Original& original,
                     uint64_t now_ms) {
  std::string key = store::DedupKey(queue_id, dedup_id);
  map_[key] = Record{original, now_ms};
  order_.push_back(Order{std::move(key), original.batch_no, now_ms, IsClientDedupId(dedup_id)});
}

void DedupIndex::Trim(uint64_t now_ms, BatchNo applied_through) {
  uint64_t horizon = now_ms > window_ms_ ? now_ms - window_ms_ : 0;
  while (!order_.empty()) {
    Order& front = order_.front();
    bool past_window = front.time_ms < horizon;
    bool stored = !front.client_id && front.batch_no <= applied_through;
    bool over_bound = front.client_id && order_.size() > max_client_ids_;
    if (!past_window && !stored && !over_bound) break;
    auto it = map_.find(front.key);
    // A later Add of the same key owns the map slot now; leave it.
    if (it != map_.end() && it->second.original.batch_no == front.batch_no &&
        it->second.time_ms == front.time_ms) {
      map_.erase(it);
    }
    order_.pop_front();
  }
}

}  // namespace hermod::core
