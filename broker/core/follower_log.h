// FollowerLog: a cluster follower's logs of the partitions it follows
// (docs/design.md, "Replication"): fencing by epoch, the order check on
// offsets, staging above the leader's high watermark, moving staged parts
// into the node's state once the watermark passes them (through
// ReplicaLog), and truncation after a leader change (KIP-101).
//
// Every change is a node-local operation in the batch being filled
// (store/partition_log.h), so what the follower acks is exactly what its
// commit made durable. Loop thread only; no wire, no clock.
#ifndef HERMOD_BROKER_CORE_FOLLOWER_LOG_H_
#define HERMOD_BROKER_CORE_FOLLOWER_LOG_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hermod/status.h"
#include "keys.h"
#include "partition_log.h"
#include "replica_log.h"
#include "store.h"
#include "unapplied_log.h"
#include "write_batch.h"

namespace hermod::core {

// One shipped part, as a Replicate frame carries it.
struct ReplicatePart {
  store::PartitionId partition = 0;
  uint64_t epoch = 0;
  uint64_t prev_offset = 0;
  uint64_t offset = 0;
  uint64_t leader_commit = 0;  // the leader's high watermark
  std::string_view record;
  std::string_view commit_record;
};

enum class ReplicateResult : uint8_t {
  kStaged,      // in the batch being filled: durable with it
  kDuplicate,   // held already (a resend): nothing written
  kStaleEpoch,  // from a leader older than one this node has seen: refused
  kGap,         // prev_offset is not this node's end: refused
};

class FollowerLog {
 public:
  explicit FollowerLog(store::Store* store) : store_(store) {}
  FollowerLog(const FollowerLog&) = delete;
  FollowerLog& operator=(const FollowerLog&) = delete;

  // Reads every partition log the store holds (at startup).
  Status Load();
  // Reads one partition's log again from the store: after this node led
  // it, once every batch of its leadership has committed (a leader's log
  // is written by its commits, not through here).
  Status Reload(store::PartitionId partition);

  // Takes a part into `batch`; a leader_commit past staged parts moves
  // them into the node's state through `replica` (same batch).
  Result<ReplicateResult> Take(const ReplicatePart& part, store::WriteBatch* batch,
                               ReplicaLog* replica, UnappliedLog* unapplied);
  // The leader's high watermark moved, without a part (a heartbeat).
  Status Commit(store::PartitionId partition, uint64_t epoch, uint64_t leader_commit,
                store::WriteBatch* batch, ReplicaLog* replica, UnappliedLog* unapplied);
  // Cuts the partition's log back to `to` (the new leader's end for the
  // last epoch both share). Staged parts only: what entered the state is
  // under a high watermark, which no leader change takes back.
  Status Truncate(store::PartitionId partition, uint64_t to, store::WriteBatch* batch);

  // A rebuild (docs/design.md, "Replication"): Drop() empties this node's
  // copy of the partition (rows, log, staged parts) in `batch` and marks it
  // rebuilding, which refuses every part until Rebuilt() sets the log to
  // the leader's snapshot: its epochs and end offset, all in the state.
  void Drop(store::PartitionId partition, store::WriteBatch* batch);
  void Rebuilt(store::PartitionId partition, uint64_t epoch, uint64_t end_offset,
               const std::vector<std::pair<uint64_t, uint64_t>>& epochs, store::WriteBatch* batch);

  // The control plane says `epoch` leads the partition now: older leaders
  // are refused from here on, and after a restart once `batch` committed.
  void Fence(store::PartitionId partition, uint64_t epoch, store::WriteBatch* batch);

  // The partition's log here: epoch, end offset, epochs (empty for one
  // never followed or led).
  const store::PartitionLogState& state(store::PartitionId partition);

 private:
  struct Partition {
    store::PartitionLogState log;
    // The newest epoch seen, which truncation never lowers: parts of older
    // leaders are refused. Durable through the parts staged under it and
    // the fence rows (kFence) the map's epochs are written as.
    uint64_t fence_epoch = 0;
    std::map<uint64_t, store::StagedPart> staged;  // by offset; all of them, once loaded
  };
  Partition& Get(store::PartitionId partition);
  Status MoveIntoState(store::PartitionId partition, Partition& p, uint64_t through,
                       store::WriteBatch* batch, ReplicaLog* replica, UnappliedLog* unapplied);

  store::Store* store_;
  std::map<store::PartitionId, Partition> partitions_;
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_FOLLOWER_LOG_H_
