// A cluster node's own account of each partition's log (docs/design.md,
// "Replication"): where it ends, under which epochs its offsets were
// written, and, on a follower, the parts shipped by the leader that wait
// above the high watermark before they enter the node's state.
//
// `partition_log` holds, per partition, a state row ('S' · partition ->
// epoch, end offset, unstaged-through offset), a rebuild marker ('R' ·
// partition -> (empty)) while a rebuild runs, its fence ('F' · partition ->
// epoch), and one row per epoch it has
// seen ('E' · partition · epoch -> the first offset of that epoch), which is
// what a new leader answers an EpochEndRequest from (Kafka's KIP-101).
// `staged` holds the staged parts in slices of at most kStagedSliceBytes
// (partition · offset · slice), so that no value is an LMDB overflow value:
// they come and go all the time, as log records do.
//
// The rows change only through node-local log operations (kStage,
// kUnstage, kTruncatePartition, kPartitionEnd) applied by the commit that
// logs them, so they are durable with the batch whose fsync the follower
// acks. Free functions over the caller's transaction: writes on the storage
// thread, reads on any.
#ifndef HERMOD_BROKER_STORE_PARTITION_LOG_H_
#define HERMOD_BROKER_STORE_PARTITION_LOG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hermod/status.h"
#include "keys.h"
#include "kv.h"

namespace hermod::store {

inline constexpr size_t kStagedSliceBytes = 2000;

struct PartitionLogState {
  uint64_t epoch = 0;             // the newest epoch written under
  uint64_t end_offset = 0;        // the last offset held (0: none)
  uint64_t unstaged_through = 0;  // staged parts up to here entered the state
  // (epoch, its first offset), oldest first.
  std::vector<std::pair<uint64_t, uint64_t>> epochs;
  // Emptied for a rebuild that has not ended: the partition's rows here are
  // partial, and only a new rebuild makes them whole.
  bool rebuilding = false;
  // The newest epoch the control plane named for the partition, as far as
  // it was persisted (kFence): older leaders are refused.
  uint64_t fence_epoch = 0;

  // The end offset of `epoch` here: the offset before the next newer
  // epoch's first, or end_offset when there is none (KIP-101).
  uint64_t EndOfEpoch(uint64_t epoch) const;
};

struct StagedPart {
  uint64_t offset = 0;
  uint64_t epoch = 0;
  std::string record;
  std::string commit_record;
};

// Writes (storage thread, the commit applying the operation).
void ApplyStage(KvTxn& txn, PartitionId partition, uint64_t epoch, uint64_t offset,
                std::string_view record, std::string_view commit_record);
void ApplyUnstage(KvTxn& txn, PartitionId partition, uint64_t through);
void ApplyTruncate(KvTxn& txn, PartitionId partition, uint64_t to);
void ApplyPartitionEnd(KvTxn& txn, PartitionId partition, uint64_t epoch, uint64_t end_offset);
// A rebuild (partition_rows.h): the log is emptied and marked rebuilding;
// at its end it holds the snapshot's epochs and ends at its end offset,
// all of it in the state (nothing staged).
void ApplyDropPartitionLog(KvTxn& txn, PartitionId partition);
// Raises the partition's fence (a fence row 'F' · partition -> epoch).
void ApplyFence(KvTxn& txn, PartitionId partition, uint64_t epoch);
void ApplyRebuiltPartitionLog(KvTxn& txn, PartitionId partition, uint64_t epoch,
                              uint64_t end_offset,
                              const std::vector<std::pair<uint64_t, uint64_t>>& epochs);

// Reads. A partition never written reads as an empty state.
Result<PartitionLogState> ReadPartitionLog(KvTxn& txn, PartitionId partition);
// The staged parts of `partition` with offsets in [from, to], in order.
Status ReadStaged(KvTxn& txn, PartitionId partition, uint64_t from, uint64_t to,
                  std::vector<StagedPart>* out);
// Every partition with a state row.
Result<std::vector<PartitionId>> ListPartitionLogs(KvTxn& txn);

}  // namespace hermod::store

#endif  // HERMOD_BROKER_STORE_PARTITION_LOG_H_
