// StorageThread: the one thread that commits. It takes WriteBatches from the
// loop, commits each as one transaction (Store::Commit), and hands them back
// with their status. In sync mode "batch" it also flushes the environment on
// a timer.
//
// The loop keeps at most one batch here at a time and fills the next one
// meanwhile; that pipelining is the group commit (docs/design.md).
//
// Threads: Submit and TakeDone on the loop thread; `notify` (given to Start)
// runs on the storage thread after each commit and must only wake the loop
// (Loop::Post). Lock order: mu_ is a leaf; see docs/threads.md.
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

#include "store.h"
#include "sync_mode.h"
#include "write_batch.h"

namespace hermod::store {

class StorageThread {
 public:
  // sync_interval_ms: how often committed batches are flushed in mode kBatch.
  StorageThread(Store* store, SyncMode sync_mode, uint32_t sync_interval_ms);
  ~StorageThread();  // Stop()s
  StorageThread(const StorageThread&) = delete;
  StorageThread& operator=(const StorageThread&) = delete;

  void Start(std::function<void()> notify);
  // Queues a batch for commit.
  void Submit(std::unique_ptr<WriteBatch> batch);
  // Committed (or failed) batches, in submission order.
  std::vector<std::unique_ptr<WriteBatch>> TakeDone();
  // Commits everything submitted, flushes, and joins the thread. Idempotent.
  void Stop();

 private:
  void Run();

  Store* store_;
  SyncMode sync_mode_;
  uint32_t sync_interval_ms_;
  std::function<void()> notify_;
  std::thread thread_;

  std::mutex mu_;  // guards the fields below
  std::condition_variable wake_;
  std::deque<std::unique_ptr<WriteBatch>> todo_;
  std::vector<std::unique_ptr<WriteBatch>> done_;
  bool stopping_ = false;
};

}  // namespace hermod::store

#endif  // HERMOD_BROKER_STORE_STORAGE_THREAD_H_
