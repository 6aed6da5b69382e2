#include "replication_tracker.h"

#include <algorithm>

namespace hermod::core {

void ReplicationTracker::Lead(PartitionId partition, uint64_t epoch, std::vector<NodeId> followers,
                              std::vector<NodeId> in_sync, uint32_t min_insync, uint64_t end_offset,
                              std::vector<NodeId> joining) {
  Partition& p = partitions_[partition];
  if (epoch != p.epoch) {
    p.acked.clear();  // acks count for the epoch they were made under
    p.epoch = epoch;
  }
  p.followers = std::move(followers);
  p.in_sync = std::move(in_sync);
  p.joining = std::move(joining);
  p.min_insync = std::max<uint32_t>(min_insync, 1);
  p.end_offset = std::max(p.end_offset, end_offset);
  Recompute(partition, p);
  Advance();
}

void ReplicationTracker::StopLeading(PartitionId partition) {
  partitions_.erase(partition);
  Advance();
}

void ReplicationTracker::OnSubmit(store::WriteBatch& batch) {
  Waiting waiting;
  waiting.batch_no = batch.batch_no;
  // Copied: writing the ends below adds the node-local partition.
  std::vector<PartitionId> touched = batch.log.partitions();
  std::sort(touched.begin(), touched.end());
  for (PartitionId partition : touched) {
    auto it = partitions_.find(partition);
    if (it == partitions_.end()) continue;  // node-local, or a followed partition's
    Partition& p = it->second;
    uint64_t offset = ++p.end_offset;
    batch.log.In(store::kNodeLocalPartition).PartitionEnd(partition, p.epoch, offset);
    waiting.parts.emplace_back(partition, offset);
  }
  waiting_.push_back(std::move(waiting));
}

ReplicationTracker::Waiting* ReplicationTracker::FindWaiting(BatchNo batch_no) {
  for (size_t i = 0; i < waiting_.size(); ++i) {
    if (waiting_[i].batch_no == batch_no) return &waiting_[i];
  }
  return nullptr;
}

Result<std::vector<ShippedPart>> ReplicationTracker::OnBatch(const store::WriteBatch& batch) {
  std::vector<ShippedPart> out;
  Waiting* waiting = FindWaiting(batch.batch_no);
  if (waiting == nullptr) {
    // Never numbered (submitted before this node led anything): nothing
    // of it is shipped, and it waits for nothing.
    Waiting w;
    w.batch_no = batch.batch_no;
    waiting_.push_back(std::move(w));
    waiting = &waiting_[waiting_.size() - 1];
  }
  waiting->done = true;
  if (!batch.status.ok()) {
    for (const auto& [partition, offset] : waiting->parts) StopLeading(partition);
    Advance();
    return out;
  }
  for (const auto& [partition, offset] : waiting->parts) {
    ShippedPart s;
    s.partition = partition;
    s.offset = offset;
    s.prev_offset = offset - 1;
    auto it = partitions_.find(partition);
    if (it != partitions_.end()) {
      s.epoch = it->second.epoch;
      s.followers = it->second.followers;
    }
    out.push_back(std::move(s));
  }
  for (bool commit : {false, true}) {
    const std::string& record = commit ? batch.log.commit_record() : batch.log.record();
    if (record.empty()) continue;
    Result<std::vector<store::PartitionRecord>> split = store::SplitByPartition(record);
    if (!split.ok()) return split.status();
    for (store::PartitionRecord& part : *split) {
      auto it = std::find_if(out.begin(), out.end(),
                             [&](const ShippedPart& s) { return s.partition == part.partition; });
      if (it == out.end()) continue;  // not numbered: node-local, or not led
      (commit ? it->commit_record : it->record) = std::move(part.record);
    }
  }
  for (ShippedPart& s : out) {
    auto it = partitions_.find(s.partition);
    if (it != partitions_.end()) Recompute(s.partition, it->second);
  }
  Advance();
  return out;
}

bool ReplicationTracker::OnAck(const NodeId& follower, PartitionId partition, uint64_t epoch,
                               uint64_t offset) {
  auto it = partitions_.find(partition);
  if (it == partitions_.end()) return false;
  Partition& p = it->second;
  if (epoch != p.epoch) return false;
  if (std::find(p.followers.begin(), p.followers.end(), follower) == p.followers.end()) {
    return false;
  }
  uint64_t& acked = p.acked[follower];
  acked = std::max(acked, std::min(offset, p.end_offset));
  Recompute(partition, p);
  Advance();
  return true;
}

void ReplicationTracker::Recompute(PartitionId, Partition& p) {
  // The leader is in sync with itself; too few in sync: nothing more is
  // replicated until the set grows back.
  if (p.in_sync.size() + 1 < p.min_insync) return;
  uint64_t mark = p.end_offset;
  for (const std::vector<NodeId>* set : {&p.in_sync, &p.joining}) {
    for (const NodeId& follower : *set) {
      auto it = p.acked.find(follower);
      mark = std::min(mark, it == p.acked.end() ? 0 : it->second);
    }
  }
  p.high_watermark = std::max(p.high_watermark, mark);
}

void ReplicationTracker::Advance() {
  while (!waiting_.empty()) {
    const Waiting& w = waiting_.front();
    if (!w.done) return;
    bool lost = false;
    bool done = true;
    for (const auto& [partition, offset] : w.parts) {
      auto it = partitions_.find(partition);
      if (it == partitions_.end()) {
        lost = true;
      } else if (it->second.high_watermark < offset) {
        done = false;
      }
    }
    if (!done && !lost) return;
    if (lost) failed_.push_back(w.batch_no);
    replicated_through_ = w.batch_no;
    waiting_.pop_front();
  }
}

uint64_t ReplicationTracker::high_watermark(PartitionId partition) const {
  auto it = partitions_.find(partition);
  return it == partitions_.end() ? 0 : it->second.high_watermark;
}

uint64_t ReplicationTracker::end_offset(PartitionId partition) const {
  auto it = partitions_.find(partition);
  return it == partitions_.end() ? 0 : it->second.end_offset;
}

}  // namespace hermod::core
