// Pipeline: the loop's side of group commit.
//
// The loop fills one WriteBatch while the storage thread commits the
// previous one; the moment storage is idle, the filled batch goes (at the end
// of the loop turn, so it holds everything read in that turn). When a batch
// is durable, the pipeline tells its owner which queues and sessions it
// touched, so confirms and deliveries go out; it also tracks the log records
// not yet applied to the index and adds their apply steps to outgoing
// batches (UnappliedLog).
//
// With two-stage durability (StorageThread, sync "always"), a committed
// batch becomes durable with the next flush: the next batch goes as soon as
// the previous one committed, and when there is none, the pipeline asks
// storage for a flush instead.
//
// It reaches storage only through store::Committer and time only through
// Clock and Scheduler, so the unit tests run it inline on the in-memory
// store. Loop thread only (the server posts OnStorageWake() to the loop
// when storage reports).
#ifndef HERMOD_BROKER_CORE_PIPELINE_H_
#define HERMOD_BROKER_CORE_PIPELINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "clock.h"
#include "committer.h"
#include "config.h"
#include "queue.h"
#include "ring.h"
#include "service.h"
#include "unapplied_log.h"
#include "write_batch.h"

namespace hermod::core {

// What the owner learns about one batch once storage is done with it: it
// committed (and is durable), or it failed.
struct BatchOutcome {
  BatchNo batch_no = 0;
  Status status;
  uint64_t commit_micros = 0;
  std::vector<Queue*> queues;             // queues the batch changed
  std::vector<ClientId> clients;          // clients with replies waiting for the batch
  std::vector<Queue*> applied_queues;     // queues named by records it applied
  std::vector<store::PurgeRange> purges;  // with the counts storage removed
  uint64_t messages = 0;                  // publishes it carried
  uint64_t headroom = UINT64_MAX;         // what the store can still take
  // The batch itself, committed or failed (valid during the callback only):
  // a cluster leader ships a committed one's records.
  const store::WriteBatch* batch = nullptr;
  // A failed batch, for the owner to take apart: the batch itself and the
  // queues its log record named. Valid during the callback only.
  store::WriteBatch* failed = nullptr;
  std::vector<Queue*> failed_log_queues;
};

class Pipeline {
 public:
  using OnDone = std::function<void(BatchOutcome&)>;

  Pipeline(Clock* clock, Scheduler* scheduler, store::Committer* storage,
           const BrokerConfig& config, OnDone on_done);
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Takes the recovered id counters and starts the first batch.
  // msg_id_lease: ids below it are leased durably (Recovery::msg_id_lease).
  void Start(const store::IdCounters& ids, BatchNo applied_through, uint64_t msg_id_lease);
  // Stops the apply timer. Batches still in flight complete normally.
  void Close();

  store::WriteBatch& batch() { return *batch_; }
  BatchNo batch_no() const { return batch_->batch_no; }
  store::IdCounters& ids() { return ids_; }
  UnappliedLog& unapplied() { return unapplied_; }
  BatchNo committed_through() const { return committed_through_; }

  // Records that the current batch changes q (and names it in its log
  // record, for NoteLogQueue). Cheap to call repeatedly.
  void NoteQueue(Queue* q);
  void NoteLogQueue(Queue* q);
  // Records that a client waits for batch_no (the batch being filled or
  // one in storage) to be sent replies. The caller calls it once per client
  // and batch.
  void NoteClient(BatchNo batch_no, ClientId client_id);
  // Counts a publish into the batch's fill level.
  void NotePublish(uint64_t bytes) {
    ++batch_messages_;
    batch_bytes_ += bytes;
  }

  // Whether the batch being filled reached its bounds.
  bool full() const {
    return batch_messages_ >= max_batch_messages_ || batch_bytes_ >= max_batch_bytes_;
  }
  // Whether storage is committing a batch now.
  bool storage_busy() const { return committing_; }
  // Nothing filled, nothing committing, nothing waiting to be durable.
  bool idle() const { return !committing_ && in_flight_books_.empty() && batch_->empty(); }

  // Hands the filled batch (plus due apply steps) to storage if it is idle
  // (and not holding off after the store filled up).
  void MaybeSubmit();
  // Runs just before a batch is handed to storage (the owner adds the
  // fan-out chunks that ride in every batch).
  void set_before_submit(std::function<void()> fn) { before_submit_ = std::move(fn); }
  // Runs with every batch about to go to storage, once it is complete (a
  // cluster leader numbers its partition parts into it).
  void set_on_submit(std::function<void(store::WriteBatch&)> fn) { on_submit_ = std::move(fn); }
  // Takes the storage thread's completed batches. Loop thread.
  void OnStorageWake();

 private:
  // Loop-side bookkeeping of one batch, kept until it commits.
  struct Book {
    BatchNo batch_no = 0;
    std::vector<Queue*> queues;
    std::vector<Queue*> log_queues;
    std::vector<ClientId> clients;
    uint64_t messages = 0;
  };
  void NewBatch();

  Clock* clock_;
  store::Committer* storage_;
  OnDone on_done_;
  std::function<void()> before_submit_;
  std::function<void(store::WriteBatch&)> on_submit_;
  uint32_t max_batch_messages_;
  uint64_t max_batch_bytes_;
  UnappliedLog unapplied_;
  std::unique_ptr<Timer> apply_timer_;

  store::IdCounters ids_;
  // Message ids below this are durably leased (store.h); the batch that
  // raises it goes while half the last block is still free.
  uint64_t msg_id_lease_ = 0;
  std::unique_ptr<store::WriteBatch> batch_;
  std::unique_ptr<store::WriteBatch> spare_;  // a durable batch, emptied, for reuse
  static constexpr size_t kMaxSpareLogBytes = 16 << 20;
  // Batches with fewer publishes are flushed on their own; larger ones are
  // made durable by the next batch's flush (two-stage durability).
  static constexpr uint64_t kPipelinedFlushMinMessages = 64;
  Book book_;                   // of batch_
  Ring<Book> in_flight_books_;  // of batches in storage
  uint64_t batch_messages_ = 0;
  uint64_t batch_bytes_ = 0;
  bool committing_ = false;  // a batch is with storage, not committed yet
  // After a batch failed because the store is full, the next one (which
  // retries the failed one's acks) waits, 100 ms doubling to 5 s while
  // failures go on; the apply timer submits it.
  static constexpr uint64_t kFullRetryMinMs = 100;
  static constexpr uint64_t kFullRetryMaxMs = 5000;
  uint64_t full_retry_ms_ = 0;
  uint64_t hold_until_ms_ = 0;
  BatchNo committed_through_ = 0;
};

}  // namespace hermod::core

#endif  // HERMOD_BROKER_CORE_PIPELINE_H_
