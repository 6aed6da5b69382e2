#include "pipeline.h"

#include <algorithm>

#include "check.h"
#include "store.h"

namespace hermod::core {

Pipeline::Pipeline(Clock* clock, Scheduler* scheduler, store::Committer* storage,
                   const BrokerConfig& config, OnDone on_done)
    : clock_(clock),
      storage_(storage),
      on_done_(std::move(on_done)),
      max_batch_messages_(config.max_batch_messages),
      max_batch_bytes_(config.max_batch_bytes),
      unapplied_(config.apply) {
  // Records become due for apply as they age, with or without traffic; a
  // quarter of the lag bounds how late an apply starts.
  uint64_t period = std::max<uint64_t>(config.apply.lag_ms / 4, 10);
  apply_timer_ = scheduler->NewTimer([this] { MaybeSubmit(); });
  apply_timer_->Start(period, period);
}

void Pipeline::Start(const store::IdCounters& ids, BatchNo applied_through, uint64_t msg_id_lease) {
  ids_ = ids;
  msg_id_lease_ = msg_id_lease;
  committed_through_ = ids_.next_batch_no - 1;
  unapplied_.set_applied_through(applied_through);
  NewBatch();
}

void Pipeline::Close() { apply_timer_->Close(); }

void Pipeline::NewBatch() {
  // Reuse the last durable batch's buffers (a log record grows to hundreds
  // of KiB under load; growing a fresh one every batch costs page faults).
  if (spare_) {
    batch_ = std::move(spare_);
  } else {
    batch_ = std::make_unique<store::WriteBatch>();
  }
  batch_->batch_no = ids_.next_batch_no++;
  book_ = Book();
  book_.batch_no = batch_->batch_no;
  batch_messages_ = 0;
  batch_bytes_ = 0;
}

void Pipeline::NoteQueue(Queue* q) {
  if (q->MarkTouched(batch_->batch_no)) book_.queues.push_back(q);
}

void Pipeline::NoteLogQueue(Queue* q) {
  NoteQueue(q);
  if (q->MarkLogged(batch_->batch_no)) book_.log_queues.push_back(q);
}

void Pipeline::NoteClient(BatchNo batch_no, ClientId client_id) {
  if (batch_no == book_.batch_no) {
    book_.clients.push_back(client_id);
    return;
  }
  for (size_t i = 0; i < in_flight_books_.size(); ++i) {
    if (in_flight_books_[i].batch_no == batch_no) {
      in_flight_books_[i].clients.push_back(client_id);
      return;
    }
  }
  HERMOD_CHECK(false && "NoteClient for a batch neither filling nor in storage");
}

void Pipeline::MaybeSubmit() {
  if (committing_ || batch_ == nullptr) return;
  uint64_t now = clock_->MonotonicMs();
  if (now < hold_until_ms_) return;
  if (before_submit_) before_submit_();
  // After a failure for room, records are applied one per batch: an apply
  // holds its record twice (log and index) until it commits.
  batch_->apply = unapplied_.TakeDue(now, /*one=*/full_retry_ms_ != 0);
  if (batch_->empty()) return;
  if (on_submit_) on_submit_(*batch_);
  batch_->now_ms = now;
  batch_->ids = ids_;
  if (ids_.next_msg_id + store::Store::kMsgIdLeaseBlock / 2 > msg_id_lease_) {
    msg_id_lease_ = ids_.next_msg_id + store::Store::kMsgIdLeaseBlock;
    batch_->msg_id_lease = msg_id_lease_;
  }
  // A small batch means low load: flush it at once rather than wait for a
  // next batch that is probably not coming (storage_thread.h).
  batch_->flush_now = batch_messages_ < kPipelinedFlushMinMessages;
  book_.messages = batch_messages_;
  in_flight_books_.push_back(std::move(book_));
  committing_ = true;
  storage_->Submit(std::move(batch_));
  NewBatch();
}

void Pipeline::OnStorageWake() {
  for (store::Committer::Report& report : storage_->TakeDone()) {
    if (report.stage == store::Committer::Report::kCommitted) {
      committing_ = false;
      continue;
    }
    std::unique_ptr<store::WriteBatch>& batch = report.batch;
    HERMOD_CHECK(!in_flight_books_.empty() && in_flight_books_.front().batch_no == batch->batch_no);
    Book book = std::move(in_flight_books_.front());
    in_flight_books_.pop_front();
    if (in_flight_books_.empty()) committing_ = false;

    BatchOutcome committed;
    committed.batch_no = batch->batch_no;
    committed.status = batch->status;
    committed.commit_micros = batch->commit_micros;
    committed.headroom = batch->headroom;
    committed.batch = batch.get();
    if (batch->status.ok()) {
      committed_through_ = batch->batch_no;
      full_retry_ms_ = 0;
      // Every record is tracked, even one the store did not keep (only
      // AppliedAtCommit operations: its apply step finds nothing), so that
      // applied_through() stays a plain "every record up to here".
      if (!batch->log.empty()) {
        unapplied_.Track(batch->batch_no, clock_->MonotonicMs(), batch->log.bytes(),
                         std::move(book.log_queues));
      }
      for (const store::ApplyStep& step : batch->apply) {
        std::vector<Queue*> queues = unapplied_.Applied(step.batch_no);
        committed.applied_queues.insert(committed.applied_queues.end(), queues.begin(),
                                        queues.end());
      }
    } else {
      unapplied_.Rewind(batch->apply);
      committed.failed = batch.get();
      committed.failed_log_queues = std::move(book.log_queues);
      if (batch->status.code() == ErrorCode::kStorageFull) {
        full_retry_ms_ = std::clamp(2 * full_retry_ms_, kFullRetryMinMs, kFullRetryMaxMs);
        hold_until_ms_ = clock_->MonotonicMs() + full_retry_ms_;
      }
    }
    committed.queues = std::move(book.queues);
    committed.clients = std::move(book.clients);
    committed.purges = std::move(batch->purged);
    committed.messages = book.messages;
    on_done_(committed);
    if (batch->log.record().capacity() <= kMaxSpareLogBytes) {
      batch->Reset();
      spare_ = std::move(batch);
    }
  }
  // The next batch goes now, and its commit makes the last one durable; with
  // nothing to send, a flush does that.
  MaybeSubmit();
  if (!committing_ && !in_flight_books_.empty()) storage_->RequestSync();
}

}  // namespace hermod::core
