#include "follower_log.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "partition_rows.h"

namespace hermod::core {

Status FollowerLog::Load() {
  Result<std::vector<store::PartitionId>> listed = store_->ListPartitionLogs();
  if (!listed.ok()) return listed.status();
  for (store::PartitionId partition : *listed) {
    if (Status s = Reload(partition); !s.ok()) return s;
  }
  return Status::OK();
}

Status FollowerLog::Reload(store::PartitionId partition) {
  Result<store::PartitionLogState> log = store_->ReadPartitionLog(partition);
  if (!log.ok()) return log.status();
  Partition& p = partitions_[partition];
  p.log = std::move(*log);
  p.fence_epoch = std::max({p.fence_epoch, p.log.epoch, p.log.fence_epoch});
  p.staged.clear();
  std::vector<store::StagedPart> staged;
  if (Status s = store_->ReadStaged(partition, p.log.unstaged_through + 1, UINT64_MAX, &staged);
      !s.ok()) {
    return s;
  }
  for (store::StagedPart& part : staged) p.staged.emplace(part.offset, std::move(part));
  return Status::OK();
}

FollowerLog::Partition& FollowerLog::Get(store::PartitionId partition) {
  return partitions_[partition];
}

const store::PartitionLogState& FollowerLog::state(store::PartitionId partition) {
  return Get(partition).log;
}

void FollowerLog::Fence(store::PartitionId partition, uint64_t epoch, store::WriteBatch* batch) {
  Partition& p = Get(partition);
  if (epoch <= p.fence_epoch) return;
  p.fence_epoch = epoch;
  batch->log.In(store::kNodeLocalPartition).Fence(partition, epoch);
}

Result<ReplicateResult> FollowerLog::Take(const ReplicatePart& part, store::WriteBatch* batch,
                                          ReplicaLog* replica, UnappliedLog* unapplied) {
  Partition& p = Get(part.partition);
  // Fencing: a leader older than one seen here confirms nothing through us.
  if (part.epoch < p.fence_epoch) return ReplicateResult::kStaleEpoch;
  p.fence_epoch = part.epoch;
  if (p.log.rebuilding) return ReplicateResult::kGap;  // only a snapshot fills it
  if (part.offset <= p.log.end_offset && part.epoch == p.log.epoch) {
    return ReplicateResult::kDuplicate;
  }
  if (part.prev_offset != p.log.end_offset || part.offset != part.prev_offset + 1) {
    return ReplicateResult::kGap;
  }
  batch->log.In(store::kNodeLocalPartition)
      .Stage(part.partition, part.epoch, part.offset, part.record, part.commit_record);
  if (part.epoch > p.log.epoch) {
    p.log.epochs.emplace_back(part.epoch, part.offset);
    p.log.epoch = part.epoch;
  }
  p.log.end_offset = part.offset;
  store::StagedPart staged;
  staged.offset = part.offset;
  staged.epoch = part.epoch;
  staged.record.assign(part.record);
  staged.commit_record.assign(part.commit_record);
  p.staged.emplace(part.offset, std::move(staged));
  if (Status s = MoveIntoState(part.partition, p, part.leader_commit, batch, replica, unapplied);
      !s.ok()) {
    return s;
  }
  return ReplicateResult::kStaged;
}

Status FollowerLog::Commit(store::PartitionId partition, uint64_t epoch, uint64_t leader_commit,
                           store::WriteBatch* batch, ReplicaLog* replica, UnappliedLog* unapplied) {
  Partition& p = Get(partition);
  if (epoch < p.fence_epoch) return Status::OK();  // a stale leader's word counts for nothing
  if (p.log.rebuilding) return Status::OK();
  return MoveIntoState(partition, p, leader_commit, batch, replica, unapplied);
}

Status FollowerLog::MoveIntoState(store::PartitionId partition, Partition& p, uint64_t through,
                                  store::WriteBatch* batch, ReplicaLog* replica,
                                  UnappliedLog* unapplied) {
  through = std::min(through, p.log.end_offset);
  if (through <= p.log.unstaged_through) return Status::OK();
  auto it = p.staged.begin();
  while (it != p.staged.end() && it->first <= through) {
    const store::StagedPart& part = it->second;
    if (Status s = replica->Append(partition, part.record, part.commit_record, batch, unapplied);
        !s.ok()) {
      return s;
    }
    it = p.staged.erase(it);
  }
  batch->log.In(store::kNodeLocalPartition).Unstage(partition, through);
  p.log.unstaged_through = through;
  return Status::OK();
}

Status FollowerLog::Truncate(store::PartitionId partition, uint64_t to, store::WriteBatch* batch) {
  Partition& p = Get(partition);
  if (to < p.log.unstaged_through) {
    return Status::InvalidArgument("partition " + std::to_string(partition) + ": truncating to " +
                                   std::to_string(to) + " would take back offsets up to " +
                                   std::to_string(p.log.unstaged_through) +
                                   ", which a high watermark passed");
  }
  if (to >= p.log.end_offset) return Status::OK();
  batch->log.In(store::kNodeLocalPartition).TruncatePartition(partition, to);
  p.staged.erase(p.staged.upper_bound(to), p.staged.end());
  std::erase_if(p.log.epochs, [to](const auto& e) { return e.second > to; });
  p.log.epoch = p.log.epochs.empty() ? 0 : p.log.epochs.back().first;
  p.log.end_offset = to;
  return Status::OK();
}

void FollowerLog::Drop(store::PartitionId partition, store::WriteBatch* batch) {
  Partition& p = Get(partition);
  batch->log.In(store::kNodeLocalPartition).DropPartition(partition);
  const uint64_t fence = p.log.fence_epoch;  // the drop keeps the fence row
  p.log = store::PartitionLogState();
  p.log.rebuilding = true;
  p.log.fence_epoch = fence;
  p.staged.clear();
}

void FollowerLog::Rebuilt(store::PartitionId partition, uint64_t epoch, uint64_t end_offset,
                          const std::vector<std::pair<uint64_t, uint64_t>>& epochs,
                          store::WriteBatch* batch) {
  Partition& p = Get(partition);
  batch->log.In(store::kNodeLocalPartition)
      .RebuiltPartition(partition, epoch, end_offset, store::EncodeEpochs(epochs));
  const uint64_t fence = p.log.fence_epoch;
  p.log = store::PartitionLogState();
  p.log.fence_epoch = fence;
  p.log.epochs = epochs;
  for (const auto& e : epochs) p.log.epoch = std::max(p.log.epoch, e.first);
  p.log.epoch = std::max(p.log.epoch, epoch);
  p.log.end_offset = end_offset;
  p.log.unstaged_through = end_offset;
  p.fence_epoch = std::max(p.fence_epoch, p.log.epoch);
  p.staged.clear();
}

}  // namespace hermod::core
