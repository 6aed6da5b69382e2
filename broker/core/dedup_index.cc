#include "dedup_index.h"

#include <cstring>

#include <charconv>
#include <utility>

#include "keys.h"
#include "names.h"

namespace hermod::core {

std::string DedupIndex::MemoryKey(QueueId target, std::string_view dedup_id) {
  std::string key(reinterpret_cast<const char*>(&target), sizeof(target));
  key.append(dedup_id);
  return key;
}

Status ValidateDedupId(std::string_view id) {
  if (id.empty() || id.size() > 255) {
    return Status::InvalidArgument("dedup id must be 1 to 255 bytes");
  }
  for (unsigned char c : id) {
    if (c < 0x20 || c == 0x7f) {
      return Status::InvalidArgument("dedup id contains a control character");
    }
  }
  if (!IsValidUtf8(id)) return Status::InvalidArgument("dedup id is not valid UTF-8");
  return Status::OK();
}

std::optional<DedupIndex::ClientId> DedupIndex::ParseClientId(std::string_view id) {
  // "~" 16 hex digits "-" decimal, as libhermod makes them.
  if (id.size() < 19 || id[0] != store::kClientDedupPrefix || id[17] != '-') return std::nullopt;
  ClientId parsed;
  auto [hex_end, hex_ec] = std::from_chars(id.data() + 1, id.data() + 17, parsed.client, 16);
  if (hex_ec != std::errc() || hex_end != id.data() + 17) return std::nullopt;
  auto [n_end, n_ec] = std::from_chars(id.data() + 18, id.data() + id.size(), parsed.n);
  if (n_ec != std::errc() || n_end != id.data() + id.size()) return std::nullopt;
  return parsed;
}

DedupIndex::ClientRecord* DedupIndex::FindClientRecord(const ClientId& id) {
  auto it = clients_.find(id.client);
  if (it == clients_.end()) return nullptr;
  Ring<ClientRecord>& ring = it->second;
  // A client's new publishes come with ever larger n: nothing to search.
  if (ring.empty() || id.n > ring.back().n) return nullptr;
  size_t lo = 0, hi = ring.size();
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (ring[mid].n < id.n) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo < ring.size() && ring[lo].n == id.n ? &ring[lo] : nullptr;
}

Result<std::optional<DedupIndex::Original>> DedupIndex::Find(QueueId target,
                                                             std::string_view dedup_id,
                                                             uint64_t now_ms) {
  uint64_t horizon = now_ms > window_ms_ ? now_ms - window_ms_ : 0;
  if (std::optional<ClientId> id = ParseClientId(dedup_id)) {
    const ClientRecord* record = FindClientRecord(*id);
    if (record != nullptr && record->target == target && record->time_ms >= horizon) {
      return std::optional<Original>(record->original);
    }
    return std::optional<Original>();
  }
  auto it = map_.find(MemoryKey(target, dedup_id));
  if (it != map_.end() && it->second.time_ms >= horizon) {
    return std::optional<Original>(it->second.original);
  }
  // Other "~" ids are memory-only too (the store never keeps them).
  if (IsClientDedupId(dedup_id)) return std::optional<Original>();
  Result<std::optional<store::DedupValue>> stored = store_->FindDedup(target, dedup_id);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value() || (*stored)->time_ms < horizon) return std::optional<Original>();
  return std::optional<Original>(Original{(*stored)->msg_id, (*stored)->seq, 0});
}

void DedupIndex::Add(QueueId target, std::string_view dedup_id, const Original& original,
                     uint64_t now_ms) {
  if (std::optional<ClientId> id = ParseClientId(dedup_id)) {
    // A client numbers its publishes in sending order, but a node sees
    // them in that order only per partition: a cluster follower gets one
    // client's publishes of several partitions interleaved. The ring is
    // kept sorted by n, so that a resend is always found: the newest id
    // goes last at once; a late one moves back to its place.
    Ring<ClientRecord>& ring = clients_[id->client];
    const ClientRecord record{id->n, target, original, now_ms};
    if (ring.empty() || ring.back().n < id->n) {
      ring.push_back(record);
    } else if (ClientRecord* same = FindClientRecord(*id)) {
      *same = record;
      return;
    } else {
      ring.push_back(record);
      for (size_t i = ring.size() - 1; i > 0 && ring[i - 1].n > ring[i].n; --i) {
        std::swap(ring[i - 1], ring[i]);
      }
    }
    ++client_records_;
    if (ring.size() > max_per_client_) {
      ring.pop_front();
      --client_records_;
    }
    return;
  }
  std::string key = MemoryKey(target, dedup_id);
  map_[key] = Record{original, now_ms};
  order_.push_back(Order{std::move(key), original.batch_no, now_ms});
}

void DedupIndex::Forget(QueueId target, std::string_view dedup_id, MsgId msg_id) {
  if (std::optional<ClientId> id = ParseClientId(dedup_id)) {
    ClientRecord* record = FindClientRecord(*id);
    if (record != nullptr && record->target == target && record->original.msg_id == msg_id) {
      // The ring keeps the record (and its order); target 0 names no queue
      // or group, so it never matches again.
      record->target = 0;
      return;
    }
  }
  auto it = map_.find(MemoryKey(target, dedup_id));
  if (it != map_.end() && it->second.original.msg_id == msg_id) map_.erase(it);
}

void DedupIndex::Moved(QueueId target, std::string_view dedup_id, MsgId msg_id, BatchNo batch_no,
                       uint64_t now_ms) {
  Original* original = FindOriginal(target, dedup_id, msg_id);
  if (original == nullptr) return;
  original->batch_no = batch_no;
  auto it = map_.find(MemoryKey(target, dedup_id));
  if (it != map_.end()) {
    // Trim finds it by its new batch.
    it->second.time_ms = now_ms;
    order_.push_back(Order{it->first, batch_no, now_ms});
  }
}

DedupIndex::Original* DedupIndex::FindOriginal(QueueId target, std::string_view dedup_id,
                                               MsgId msg_id) {
  if (std::optional<ClientId> id = ParseClientId(dedup_id)) {
    ClientRecord* record = FindClientRecord(*id);
    if (record != nullptr && record->target == target && record->original.msg_id == msg_id) {
      return &record->original;
    }
  }
  auto it = map_.find(MemoryKey(target, dedup_id));
  if (it != map_.end() && it->second.original.msg_id == msg_id) return &it->second.original;
  return nullptr;
}

void DedupIndex::Trim(uint64_t now_ms, BatchNo applied_through) {
  uint64_t horizon = now_ms > window_ms_ ? now_ms - window_ms_ : 0;
  for (auto it = clients_.begin(); it != clients_.end();) {
    Ring<ClientRecord>& ring = it->second;
    while (!ring.empty() && ring.front().time_ms < horizon) {
      ring.pop_front();
      --client_records_;
    }
    it = ring.empty() ? clients_.erase(it) : std::next(it);
  }
  while (!order_.empty()) {
    Order& front = order_.front();
    bool past_window = front.time_ms < horizon;
    // Application ids leave memory once the store has them.
    bool client = IsClientDedupId(std::string_view(front.key).substr(sizeof(QueueId)));
    bool stored = !client && front.batch_no <= applied_through;
    bool over_bound = client && order_.size() > max_per_client_;
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

void DedupIndex::ForgetTargets(const std::unordered_set<QueueId>& targets) {
  if (targets.empty()) return;
  for (auto it = clients_.begin(); it != clients_.end();) {
    Ring<ClientRecord> kept;
    for (size_t i = 0; i < it->second.size(); ++i) {
      if (targets.contains(it->second[i].target)) {
        --client_records_;
      } else {
        kept.push_back(it->second[i]);
      }
    }
    it->second = std::move(kept);
    it = it->second.empty() ? clients_.erase(it) : std::next(it);
  }
  // order_ keeps the keys of erased ids until Trim passes them; it skips a
  // key no longer in the map.
  std::erase_if(map_, [&](const auto& e) {
    QueueId target = 0;
    std::memcpy(&target, e.first.data(), sizeof(target));  // MemoryKey's first bytes
    return targets.contains(target);
  });
}

size_t DedupIndex::size() const { return client_records_ + map_.size(); }

}  // namespace hermod::core
