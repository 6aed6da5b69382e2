// UnappliedLog: the loop's account of log records that are committed but not
// yet applied to the index, and the policy that decides when to apply them.
//
// A record is applied once it is older than the apply lag, or sooner when
// the unapplied bytes pass their bound. Entries acked while their record is
// still unapplied are noted here (Cancel) and travel with the apply step, so
// the storage thread never writes them to the index. See docs/design.md
// ("Storage"). Loop thread only.
#ifndef HERMOD_BROKER_CORE_UNAPPLIED_LOG_H_
#define HERMOD_BROKER_CORE_UNAPPLIED_LOG_H_

#include <algorithm>
#include <cstdint>
#include <map>
#include <vector>

#include "queue.h"
#include "ring.h"
#include "write_batch.h"

namespace hermod::core {

struct ApplyPolicy {
  uint64_t lag_ms = 1000;                   // apply records older than this
  uint64_t max_unapplied_bytes = 64 << 20;  // apply sooner past this
  uint64_t max_apply_bytes = 16 << 20;      // per storage transaction
};

class UnappliedLog {
 public:
  explicit UnappliedLog(const ApplyPolicy& policy) : policy_(policy) {}

  // Records a committed log record and the queues it names.
  void Track(BatchNo batch_no, uint64_t committed_ms, uint64_t bytes, std::vector<Queue*> queues);
  // Notes that an entry named by a record whose apply is not yet submitted
  // was removed, so the apply leaves its operations out. The record may not
  // be committed yet (a delivery count written in the batch being filled):
  // the note then waits for Track. REQUIRES: !apply_submitted(batch_no).
  void Cancel(BatchNo batch_no, QueueId queue_id, Seq seq);

  // Whether the apply of that batch's record was handed to storage already
  // (or the batch is older than the log): then its entries are in the index,
  // or will be before any later batch commits.
  bool apply_submitted(BatchNo batch_no) const { return batch_no <= submitted_through_; }
  // The newest batch whose record's apply has committed.
  BatchNo applied_through() const { return applied_through_; }

  // Steps for the records due now, oldest first, up to the policy's bytes
  // per transaction (with `one`, a single record). Marks them submitted.
  std::vector<store::ApplyStep> TakeDue(uint64_t now_ms, bool one = false);
  // Records up to `batch_no` are due at once, whatever their age (a
  // cluster node taking over a partition wants its whole log in the index).
  void ApplyThrough(BatchNo batch_no) { force_through_ = std::max(force_through_, batch_no); }
  // The oldest batch whose record is not applied yet (UINT64_MAX: none).
  BatchNo oldest_unapplied() const { return records_.empty() ? UINT64_MAX : records_[0].batch_no; }
  // Whether any record is waiting (for the apply timer).
  bool has_pending() const { return next_ < records_.size(); }

  // The batch carrying these steps failed: they are due again.
  void Rewind(std::vector<store::ApplyStep>& steps);
  // A failed batch's log operations are retried in batch `to`: so are the
  // cancels noted for its record. REQUIRES: no record of `from` or later.
  void MoveCancels(BatchNo from, BatchNo to);

  // The apply of `batch_no` committed: forgets the record and returns the
  // queues it named.
  std::vector<Queue*> Applied(BatchNo batch_no);

  // At startup: everything up to this batch is already applied.
  void set_applied_through(BatchNo batch_no) { submitted_through_ = applied_through_ = batch_no; }

  uint64_t unapplied_bytes() const { return unapplied_bytes_; }
  size_t records() const { return records_.size(); }

 private:
  struct Record {
    BatchNo batch_no = 0;
    uint64_t committed_ms = 0;
    uint64_t bytes = 0;
    std::vector<std::pair<QueueId, Seq>> canceled;
    std::vector<Queue*> queues;
  };
  Record* Find(BatchNo batch_no);

  // Cancels for records not tracked yet, by batch.
  std::map<BatchNo, std::vector<std::pair<QueueId, Seq>>> early_;
  ApplyPolicy policy_;
  Ring<Record> records_;  // oldest first
  size_t next_ = 0;       // index in records_ of the first not submitted
  BatchNo submitted_through_ = 0;
  BatchNo applied_through_ = 0;
  uint64_t unapplied_bytes_ = 0;  // of records not yet submitted
  BatchNo force_through_ = 0;
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_UNAPPLIED_LOG_H_
