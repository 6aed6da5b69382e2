// WriteBatch: everything one storage transaction does, built by the loop and
// committed by the storage thread.
//
// A batch carries (1) the new log record, whose commit is the durability
// point of the publishes in it, (2) apply steps: older log records to move
// into the index, each with the entries that were acked while they were
// still only in the log (those never touch the index), and (3) acks of
// entries already in the index. See docs/design.md ("Storage").
//
// Ownership moves: the loop fills a batch, hands it to the StorageThread,
// and gets it back when committed. Never shared between threads at once.
#ifndef HERMOD_BROKER_STORE_WRITE_BATCH_H_
#define HERMOD_BROKER_STORE_WRITE_BATCH_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "hermod/status.h"
#include "keys.h"
#include "log_record.h"

namespace hermod::store {

// Id counters, persisted by every commit as their values after the batch.
struct IdCounters {
  BatchNo next_batch_no = 1;
  MsgId next_msg_id = 1;
  QueueId next_queue_id = 1;
  uint64_t next_group_id = 1;
  uint64_t next_job_id = 1;
};

struct ApplyStep {
  BatchNo batch_no = 0;
  // Entries of that record acked before this apply: (queue id, seq), sorted.
  std::vector<std::pair<QueueId, Seq>> canceled;
};

// Removes an entry already in the index: acked, expired, dead-lettered or
// dropped for room.
// Removes the entries of a queue with from <= seq < to from the index
// (purge); `removed` is filled in by the storage thread.
struct PurgeRange {
  QueueId queue_id = 0;
  Seq from = 0;
  Seq to = 0;
  uint64_t removed = 0;
  uint64_t removed_bytes = 0;
};

struct WriteBatch {
  BatchNo batch_no = 0;
  uint64_t now_ms = 0;
  LogWriter log;
  std::vector<ApplyStep> apply;
  IdCounters ids;
  // Message ids below this may be handed out (0: the lease is unchanged);
  // see Store::Recover.
  uint64_t msg_id_lease = 0;
  // Two-stage durability only: flush right after this commit instead of
  // waiting for the next batch's (a small batch at low load: nobody is
  // about to send another, and the round trip would only add latency).
  bool flush_now = false;

  // Set by the storage thread.
  Status status;
  uint64_t commit_micros = 0;
  uint64_t headroom = UINT64_MAX;  // what the store can still take (KvEnv::Headroom)
  std::vector<PurgeRange> purged;  // what each kPurge of the record removed, in order

  // Empties the batch for reuse, keeping its buffers' capacity: a steady
  // stream of batches then allocates nothing.
  void Reset() {
    batch_no = 0;
    now_ms = 0;
    log.Clear();
    apply.clear();
    purged.clear();
    ids = IdCounters();
    msg_id_lease = 0;
    flush_now = false;
    status = Status::OK();
    commit_micros = 0;
    headroom = UINT64_MAX;
  }

  bool empty() const { return log.empty() && apply.empty(); }
};

}  // namespace hermod::store

#endif  // HERMOD_BROKER_STORE_WRITE_BATCH_H_
