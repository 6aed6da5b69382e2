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
struct Counters {
  BatchNo next_batch_no = 1;
  MsgId next_msg_id = 1;
  QueueId next_queue_id = 1;
};

struct ApplyStep {
  BatchNo batch_no = 0;
  // Entries of that record acked before this apply: (queue id, seq), sorted.
  std::vector<std::pair<QueueId, Seq>> canceled;
};

// Removes an entry already in the index: acked, expired, dead-lettered or
// dropped for room.
struct IndexAck {
  QueueId queue_id = 0;
  Seq seq = 0;
  MsgId msg_id = 0;
  uint32_t bytes = 0;
  uint64_t expires_ms = 0;  // its expiry row, when it has one
};

struct WriteBatch {
  BatchNo batch_no = 0;
  uint64_t now_ms = 0;
  LogWriter log;
  std::vector<ApplyStep> apply;
  std::vector<IndexAck> acks;
  std::vector<std::string> dedup_deletes;  // dedup records past the window
  Counters counters;

  // Set by the storage thread.
  Status status;
  uint64_t commit_micros = 0;

  bool empty() const {
    return log.empty() && apply.empty() && acks.empty() && dedup_deletes.empty();
  }
};

}  // namespace hermod::store

#endif  // HERMOD_BROKER_STORE_WRITE_BATCH_H_
