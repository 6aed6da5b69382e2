#include "unapplied_log.h"

#include <algorithm>

#include "check.h"

namespace hermod::core {

void UnappliedLog::Track(BatchNo batch_no, uint64_t committed_ms, uint64_t bytes,
                         std::vector<Queue*> queues) {
  HERMOD_CHECK(records_.empty() || records_.back().batch_no < batch_no);
  Record record;
  record.batch_no = batch_no;
  record.committed_ms = committed_ms;
  record.bytes = bytes;
  record.queues = std::move(queues);
  // Take the cancels made before this record committed; drop those of
  // batches that never got a record (or failed).
  while (!early_.empty() && early_.begin()->first <= batch_no) {
    if (early_.begin()->first == batch_no) record.canceled = std::move(early_.begin()->second);
    early_.erase(early_.begin());
  }
  records_.push_back(std::move(record));
  unapplied_bytes_ += bytes;
}

UnappliedLog::Record* UnappliedLog::Find(BatchNo batch_no) {
  // Binary search: records are in batch order but not every batch has one.
  size_t lo = next_, hi = records_.size();
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (records_[mid].batch_no < batch_no) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo < records_.size() && records_[lo].batch_no == batch_no) return &records_[lo];
  return nullptr;
}

void UnappliedLog::Cancel(BatchNo batch_no, QueueId queue_id, Seq seq) {
  HERMOD_CHECK(!apply_submitted(batch_no));
  if (records_.empty() || batch_no > records_.back().batch_no) {
    early_[batch_no].emplace_back(queue_id, seq);
    return;
  }
  // A batch that failed to commit has no record, and nothing to cancel.
  if (Record* record = Find(batch_no)) record->canceled.emplace_back(queue_id, seq);
}

std::vector<store::ApplyStep> UnappliedLog::TakeDue(uint64_t now_ms, bool one) {
  std::vector<store::ApplyStep> steps;
  uint64_t taken = 0;
  while (next_ < records_.size() && taken < policy_.max_apply_bytes && !(one && taken > 0)) {
    Record& record = records_[next_];
    bool old = record.committed_ms + policy_.lag_ms <= now_ms;
    bool pressed = unapplied_bytes_ > policy_.max_unapplied_bytes;
    bool forced = record.batch_no <= force_through_;
    if (!old && !pressed && !forced) break;
    store::ApplyStep step;
    step.batch_no = record.batch_no;
    std::sort(record.canceled.begin(), record.canceled.end());
    step.canceled = std::move(record.canceled);
    steps.push_back(std::move(step));
    taken += record.bytes;
    unapplied_bytes_ -= record.bytes;
    submitted_through_ = record.batch_no;
    ++next_;
  }
  return steps;
}

void UnappliedLog::Rewind(std::vector<store::ApplyStep>& steps) {
  HERMOD_CHECK(next_ >= steps.size());
  next_ -= steps.size();
  for (size_t i = 0; i < steps.size(); ++i) {
    Record& record = records_[next_ + i];
    HERMOD_CHECK(record.batch_no == steps[i].batch_no);
    record.canceled = std::move(steps[i].canceled);
    unapplied_bytes_ += record.bytes;
  }
  submitted_through_ = next_ == 0 ? applied_through_ : records_[next_ - 1].batch_no;
}

void UnappliedLog::MoveCancels(BatchNo from, BatchNo to) {
  HERMOD_CHECK(records_.empty() || records_.back().batch_no < from);
  auto it = early_.find(from);
  if (it == early_.end()) return;
  std::vector<std::pair<QueueId, Seq>>& into = early_[to];
  into.insert(into.end(), it->second.begin(), it->second.end());
  early_.erase(it);
}

std::vector<Queue*> UnappliedLog::Applied(BatchNo batch_no) {
  HERMOD_CHECK(!records_.empty() && records_.front().batch_no == batch_no && next_ > 0);
  std::vector<Queue*> queues = std::move(records_.front().queues);
  records_.pop_front();
  --next_;
  applied_through_ = batch_no;
  return queues;
}

}  // namespace hermod::core
