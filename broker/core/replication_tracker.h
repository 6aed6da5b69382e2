// ReplicationTracker: a cluster leader's account of what its followers hold
// durable, and of what it may therefore confirm (docs/cluster.md, "The data
// path").
//
// Each batch the leader commits carries operations of some of the
// partitions it leads; each such partition's part gets the next offset of
// that partition's log (offsets count shipped batches, 1 up) when the batch
// goes to storage, written into the batch itself (partition_end), so the
// leader's recorded end is always what it committed; once committed, the
// part goes to the partition's followers, which ack the highest offset they hold
// durable, with the epoch they took it under. A partition's high watermark
// is the highest offset every in-sync follower acked, provided the in-sync
// set (the leader with its in-sync followers) has at least min_insync
// members; a batch is replicated when every partition part it carries is
// under its partition's watermark, and replicated_through() is the newest
// batch up to which all are: Broker::OnReplicated takes it. Batches with
// nothing to ship (or that failed) are replicated as soon as those before
// them are.
//
// Pure bookkeeping: no wire, no clock. The replicator that owns it sends
// what Ship() returns over the peer links and feeds acks back; the control
// plane's map sets each partition's epoch and in-sync set. Loop thread only.
#ifndef HERMOD_BROKER_CORE_REPLICATION_TRACKER_H_
#define HERMOD_BROKER_CORE_REPLICATION_TRACKER_H_

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "hermod/status.h"
#include "keys.h"
#include "log_record.h"
#include "ring.h"
#include "write_batch.h"

namespace hermod::core {

using store::BatchNo;
using store::PartitionId;
using NodeId = std::string;

// One partition's part of a committed batch, for its followers.
struct ShippedPart {
  PartitionId partition = 0;
  uint64_t epoch = 0;
  uint64_t prev_offset = 0;  // the follower's log must end here
  uint64_t offset = 0;       // and ends here after it
  std::string record;        // store/log_record.h, without markers
  std::string commit_record;
  std::vector<NodeId> followers;  // every follower, in sync or catching up
};

class ReplicationTracker {
 public:
  // This node leads `partition` at `epoch`, with these followers (replicas
  // but itself), of which `in_sync` are in the ISR, and needs `min_insync`
  // members in sync (itself included) to confirm. `end_offset`: where its
  // log of the partition ends (0 for a new one). Called again on every map
  // change; a new epoch keeps the offsets. `joining`: followers this leader
  // has asked the control plane to add to the ISR, not yet in the map.
  // Their acks are needed too (Kafka's "maximal ISR", KIP-841): once the
  // change lands the controller may elect one, so it must already hold
  // everything confirmed. They do not count towards `min_insync`, which
  // only the map's ISR meets.
  void Lead(PartitionId partition, uint64_t epoch, std::vector<NodeId> followers,
            std::vector<NodeId> in_sync, uint32_t min_insync, uint64_t end_offset,
            std::vector<NodeId> joining = {});
  // This node no longer leads it: batches waiting on it can never be
  // confirmed by this node; they leave in TakeFailed().
  void StopLeading(PartitionId partition);
  bool leads(PartitionId partition) const { return partitions_.count(partition) > 0; }

  // A batch about to go to storage (Broker::set_submit_listener): numbers
  // its parts of led partitions and writes their ends into it.
  void OnSubmit(store::WriteBatch& batch);
  // A batch storage is done with, in batch order. A committed one's parts
  // numbered at submit are returned, to be shipped. A failed one leaves its
  // partitions' numbering in doubt: they are given up (StopLeading), so its
  // batches fail and the control plane moves them. Corruption when a
  // record does not read.
  Result<std::vector<ShippedPart>> OnBatch(const store::WriteBatch& batch);
  // A follower acks `offset` of `partition` durable under `epoch`. Acks of
  // another epoch, of unknown followers or partitions are ignored (returns
  // false).
  bool OnAck(const NodeId& follower, PartitionId partition, uint64_t epoch, uint64_t offset);

  // The newest batch whose every part is replicated (and all before it).
  BatchNo replicated_through() const { return replicated_through_; }
  uint64_t high_watermark(PartitionId partition) const;
  uint64_t end_offset(PartitionId partition) const;
  // Batches waiting for replication.
  size_t waiting() const { return waiting_.size(); }
  // Batches passed over since the last call because a partition they carry
  // is no longer led here: their replies fail (Broker::FailReplication)
  // before replicated_through() passes them.
  std::vector<BatchNo> TakeFailed() { return std::exchange(failed_, {}); }

 private:
  struct Partition {
    uint64_t epoch = 0;
    std::vector<NodeId> followers;
    std::vector<NodeId> in_sync;
    std::vector<NodeId> joining;  // asked into the ISR, not in the map yet
    uint32_t min_insync = 1;
    uint64_t end_offset = 0;
    uint64_t high_watermark = 0;
    std::unordered_map<NodeId, uint64_t> acked;  // per follower, this epoch
  };
  struct Waiting {
    BatchNo batch_no = 0;
    bool done = false;                                    // storage is done with it
    std::vector<std::pair<PartitionId, uint64_t>> parts;  // partition, offset
  };
  Waiting* FindWaiting(BatchNo batch_no);
  void Recompute(PartitionId partition, Partition& p);
  void Advance();

  std::map<PartitionId, Partition> partitions_;
  Ring<Waiting> waiting_;
  BatchNo replicated_through_ = 0;
  std::vector<BatchNo> failed_;
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_REPLICATION_TRACKER_H_
