#include "storage_thread.h"

#include <chrono>

namespace hermod::store {

StorageThread::StorageThread(Store* store, SyncMode sync_mode, uint32_t sync_interval_ms)
    : store_(store), sync_mode_(sync_mode), sync_interval_ms_(sync_interval_ms) {}

StorageThread::~StorageThread() { Stop(); }

void StorageThread::Start(std::function<void()> notify) {
  notify_ = std::move(notify);
  thread_ = std::thread([this] { Run(); });
}

void StorageThread::Submit(std::unique_ptr<WriteBatch> batch) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    todo_.push_back(std::move(batch));
  }
  wake_.notify_one();
}

std::vector<std::unique_ptr<WriteBatch>> StorageThread::TakeDone() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::unique_ptr<WriteBatch>> done;
  done.swap(done_);
  return done;
}

void StorageThread::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void StorageThread::Run() {
  using Clock = std::chrono::steady_clock;
  bool unsynced = false;  // kBatch: commits not flushed yet
  Clock::time_point last_sync = Clock::now();
  for (;;) {
    std::unique_ptr<WriteBatch> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (todo_.empty() && !stopping_) {
        if (unsynced) {
          wake_.wait_until(lock, last_sync + std::chrono::milliseconds(sync_interval_ms_));
        } else {
          wake_.wait(lock);
        }
      }
      if (!todo_.empty()) {
        batch = std::move(todo_.front());
        todo_.pop_front();
      } else if (stopping_) {
        break;
      }
    }
    if (batch) {
      Clock::time_point start = Clock::now();
      batch->status = store_->Commit(*batch);
      batch->commit_micros = static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count());
      unsynced = unsynced || (sync_mode_ == SyncMode::kBatch && batch->status.ok());
      {
        std::lock_guard<std::mutex> lock(mu_);
        done_.push_back(std::move(batch));
      }
      notify_();
    }
    if (unsynced && Clock::now() - last_sync >= std::chrono::milliseconds(sync_interval_ms_)) {
      (void)store_->env()->Sync();  // a failed flush shows up in the next commit
      unsynced = false;
      last_sync = Clock::now();
    }
  }
  if (unsynced) (void)store_->env()->Sync();
}

}  // namespace hermod::store
