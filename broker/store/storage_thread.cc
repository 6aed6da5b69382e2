#include "storage_thread.h"

#include <chrono>
#include <thread>

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

void StorageThread::RequestSync() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    sync_requested_ = true;
  }
  wake_.notify_one();
}

std::vector<StorageThread::Report> StorageThread::TakeDone() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Report> done;
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

void StorageThread::FinishAwaiting(const Status& flushed, std::vector<Report>* out) {
  if (!awaiting_) return;
  if (awaiting_->status.ok() && !flushed.ok()) awaiting_->status = flushed;
  BatchNo batch_no = awaiting_->batch_no;
  out->push_back(Report{Report::kDurable, batch_no, std::move(awaiting_)});
}

void StorageThread::Run() {
  using Clock = std::chrono::steady_clock;
  bool unsynced = false;  // kBatch: commits not flushed yet
  Clock::time_point last_sync = Clock::now();
  for (;;) {
    std::unique_ptr<WriteBatch> batch;
    bool sync = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (todo_.empty() && !sync_requested_ && !stopping_) {
        if (unsynced) {
          wake_.wait_until(lock, last_sync + std::chrono::milliseconds(sync_interval_ms_));
        } else {
          wake_.wait(lock);
        }
      }
      if (!todo_.empty()) {
        batch = std::move(todo_.front());
        todo_.pop_front();
      } else if (sync_requested_) {
        sync_requested_ = false;
        sync = true;
      } else if (stopping_) {
        break;
      }
    }
    std::vector<Report> reports;
    if (batch) {
      if (test_commit_delay_ms_ != 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(test_commit_delay_ms_));
      }
      Clock::time_point start = Clock::now();
      batch->status = store_->Commit(*batch);
      batch->commit_micros = static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count());
      batch->headroom = store_->env()->Headroom(headroom_exact_below_);
      if (two_stage() && batch->status.ok()) {
        // This commit's data flush also flushed the meta page of the batch
        // before it: that one is durable now.
        FinishAwaiting(Status::OK(), &reports);
        reports.push_back(Report{Report::kCommitted, batch->batch_no, nullptr});
        awaiting_ = std::move(batch);
        if (awaiting_->flush_now) FinishAwaiting(store_->env()->Sync(), &reports);
      } else {
        if (awaiting_) FinishAwaiting(store_->env()->Sync(), &reports);
        unsynced = unsynced || (sync_mode_ == SyncMode::kBatch && batch->status.ok());
        BatchNo batch_no = batch->batch_no;
        reports.push_back(Report{Report::kDurable, batch_no, std::move(batch)});
      }
    } else if (sync && awaiting_) {
      FinishAwaiting(store_->env()->Sync(), &reports);
    }
    if (!reports.empty()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (Report& r : reports) done_.push_back(std::move(r));
      }
      notify_();
    }
    if (unsynced && Clock::now() - last_sync >= std::chrono::milliseconds(sync_interval_ms_)) {
      (void)store_->env()->Sync();  // a failed flush shows up in the next commit
      unsynced = false;
      last_sync = Clock::now();
    }
  }
  std::vector<Report> reports;
  if (awaiting_) FinishAwaiting(store_->env()->Sync(), &reports);
  if (unsynced) (void)store_->env()->Sync();
  if (!reports.empty()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (Report& r : reports) done_.push_back(std::move(r));
    }
    notify_();
  }
}

}  // namespace hermod::store
