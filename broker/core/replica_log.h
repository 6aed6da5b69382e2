// ReplicaLog: the follower's side of replication in the core (docs/cluster.md).
//
// A leader ships each committed batch's operations of a partition; the
// follower writes them into its own next batch, so one fsync of its own
// covers every partition it follows, and its own apply steps move them into
// its index. The operations say what changed, but not where the follower
// holds it: an entry the leader acked while it was only in the leader's log
// (kAck) may already be in the follower's index, and one the leader acked
// from its index (kIndexAck) may still be only in the follower's log, since
// each node applies its log on its own schedule. Written as they came, the
// first would stay in the follower's index for ever and the second would
// come back when its record is applied. So the follower keeps, for the
// entries of its records not yet applied, where each one is, and writes
// every removal the way its own log needs it: a cancel of the pending
// apply (and a kAck, for its replay after a crash), or a kIndexAck.
//
// Queues of followed partitions have no in-memory state here: the store
// holds them, and before this node leads a partition its log is applied to
// the index (Broker::ApplyAllPending), as at startup. Loop thread only.
#ifndef HERMOD_BROKER_CORE_REPLICA_LOG_H_
#define HERMOD_BROKER_CORE_REPLICA_LOG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string_view>
#include <utility>

#include "hermod/status.h"
#include "keys.h"
#include "log_record.h"
#include "store.h"
#include "unapplied_log.h"

namespace hermod::core {

class ReplicaLog {
 public:
  // `on_op` sees every operation appended (the core keeps what lives only
  // in memory, dedup ids, from it).
  using OnOp = std::function<void(const store::LogOp&)>;
  ReplicaLog(store::Store* store, OnOp on_op) : store_(store), on_op_(std::move(on_op)) {}
  ReplicaLog(const ReplicaLog&) = delete;
  ReplicaLog& operator=(const ReplicaLog&) = delete;

  // Writes one partition's operations of a leader's batch (its two records,
  // store/log_record.h, without partition markers) into `batch`, translating
  // removals as above. `unapplied` is the pipeline's, which learns the
  // cancels. Returns corruption when a record does not read (then `batch`
  // may hold part of it: the caller drops the link and fails the batch's
  // replication, as for a checksum mismatch).
  Status Append(store::PartitionId partition, std::string_view record,
                std::string_view commit_record, store::WriteBatch* batch, UnappliedLog* unapplied);

  // Forgets the entries of records applied through `batch_no`: the index
  // holds them.
  void Trim(BatchNo applied_through);

  // Entries in records not yet applied (for tests and stats).
  size_t pending() const { return pending_.size(); }

 private:
  struct Pending {
    BatchNo batch_no = 0;  // the local batch whose record holds it
    MsgId msg_id = 0;
    uint32_t bytes = 0;
    uint64_t expires_ms = 0;
  };
  using Key = std::pair<QueueId, Seq>;

  // Removes (queue, seq) the way this node's log needs it; `known` has the
  // leader's figures for an entry the leader had indexed (null for kAck).
  Status Remove(store::LogWriter& log, UnappliedLog* unapplied, QueueId queue_id, Seq seq,
                const Pending* known);

  store::Store* store_;
  OnOp on_op_;
  std::map<Key, Pending> pending_;
  std::map<BatchNo, std::vector<Key>> by_batch_;
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_REPLICA_LOG_H_
