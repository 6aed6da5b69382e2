// StorageThread: the one thread that commits. It takes WriteBatches from the
// loop, commits each as one transaction (Store::Commit), and hands them back
// with their status. In sync mode "batch" it also flushes the environment on
// a timer.
//
// The loop keeps at most one batch committing here and fills the next one
// meanwhile; that pipelining is the group commit (docs/design.md).
//
// Two stages in sync mode "always". LMDB flushes twice per default commit:
// the data pages, then the meta page that makes them current. hermod opens
// the environment with MDB_NOMETASYNC, so a commit flushes only its data and
// writes its meta page unflushed; LMDB keeps the store intact, but a power
// loss may undo that last commit. The next flush of the file — the next
// commit's data flush, or a sync the loop asks for when nothing else is
// coming — makes it durable. So each batch is reported twice: kCommitted
// (the loop may submit the next batch) and kDurable (confirms may go out).
// One flush per batch instead of two. In the other modes a batch is
// reported once, kDurable, right after its commit.
//
// Threads: Submit, RequestSync and TakeDone on the loop thread; `notify`
// (given to Start) runs on the storage thread after each report and must
// only wake the loop (Loop::Post). Lock order: mu_ is a leaf; see
// docs/threads.md.
#ifndef HERMOD_BROKER_STORE_STORAGE_THREAD_H_
#define HERMOD_BROKER_STORE_STORAGE_THREAD_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "committer.h"
#include "store.h"
#include "sync_mode.h"
#include "write_batch.h"

namespace hermod::store {

class StorageThread final : public Committer {
 public:
  // sync_interval_ms: how often committed batches are flushed in mode kBatch.
  StorageThread(Store* store, SyncMode sync_mode, uint32_t sync_interval_ms);
  ~StorageThread() override;  // Stop()s
  StorageThread(const StorageThread&) = delete;
  StorageThread& operator=(const StorageThread&) = delete;

  // Whether batches are reported committed before durable (mode "always").
  bool two_stage() const override { return sync_mode_ == SyncMode::kAlways; }

  // After each commit, measure the store's headroom (WriteBatch::headroom),
  // exactly when it is under this many bytes. Before Start().
  void set_headroom_exact_below(uint64_t bytes) { headroom_exact_below_ = bytes; }

  void Start(std::function<void()> notify);
  // Every commit waits this long first (tests only: a batch that is
  // delivered but not yet durable, long enough to kill the broker under
  // it). Before Start().
  void TEST_DelayCommits(uint32_t ms) { test_commit_delay_ms_ = ms; }
  // Queues a batch for commit.
  void Submit(std::unique_ptr<WriteBatch> batch) override;
  // Asks for a flush that makes the last committed batch durable (when no
  // next batch is coming to do it).
  void RequestSync() override;
  // Reports in order: for each batch, kCommitted (two-stage only) before
  // kDurable.
  std::vector<Report> TakeDone() override;
  // Commits everything submitted, flushes, and joins the thread. Idempotent.
  void Stop();

 private:
  void Run();
  // Reports the batch waiting for a flush as durable, with `flushed` (the
  // status of the flush that made it so) if its commit had succeeded.
  void FinishAwaiting(const Status& flushed, std::vector<Report>* out);

  Store* store_;
  SyncMode sync_mode_;
  uint32_t sync_interval_ms_;
  uint64_t headroom_exact_below_ = 0;
  uint32_t test_commit_delay_ms_ = 0;
  std::function<void()> notify_;
  std::thread thread_;
  std::unique_ptr<WriteBatch> awaiting_;  // committed, not flushed; storage thread only

  std::mutex mu_;  // guards the fields below
  std::condition_variable wake_;
  std::deque<std::unique_ptr<WriteBatch>> todo_;
  bool sync_requested_ = false;
  std::vector<Report> done_;
  bool stopping_ = false;
};

}  // namespace hermod::store

#endif  // HERMOD_BROKER_STORE_STORAGE_THREAD_H_
