// Delivery receipts (docs/semantics.md, "Receipts"). A publish that names
// `receipt_to` carries it in its envelope (x-hermod-receipt-to, written by
// TakePublishExtras). When one of its entries leaves its queue for good
// (acked, expired, dead-lettered, dropped; a purge sends none), the broker
// appends a receipt to that queue in the same storage batch as the
// removal: a payload-less entry whose headers say what happened. So a crash
// keeps both or neither, and a receipt is as durable as any entry.
//
// A group publish with `receipt: all` gets one receipt once every member
// has settled its copy: a tally (store/keys.h ReceiptTally) counts them
// down, written in the batch of each settlement and removed with the last,
// which also carries the receipt.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>

#include "broker.h"
#include "envelope.h"

namespace hermod::core {

namespace {

const char* FailureReason(Removal why) {
  switch (why) {
    case Removal::kExpired:
      return "expired";
    case Removal::kDeadLettered:
      return "dead-lettered";
    case Removal::kDropped:
      return "dropped";
    case Removal::kAcked:
    case Removal::kPurged:
      break;
  }
  return nullptr;
}

}  // namespace

void Broker::SettleReceipt(Queue* q, const Entry& entry, Removal why) {
  store::EnvelopeView envelope;
  if (!entry.msg || !envelope.Parse(entry.msg->envelope()) || envelope.header_count() == 0) return;
  std::string_view to;
  if (!envelope.FindHeader(store::kReceiptToHeader, &to)) return;
  const char* reason = FailureReason(why);
  std::string_view mode;
  if (envelope.FindHeader(store::kReceiptModeHeader, &mode) && mode == "all") {
    return CountTowardTally(entry.msg_id, to, reason);
  }
  const std::string msg_id = std::to_string(entry.msg_id);
  const std::string seq = std::to_string(entry.seq);
  const std::string time = std::to_string(Now());
  Header headers[6] = {
      {"kind", reason == nullptr ? "delivered" : "failed"},
      {"msg-id", msg_id},
      {"queue", q->name()},
      {"seq", seq},
      {"time", time},
  };
  size_t n = 5;
  if (reason != nullptr) headers[n++] = Header{"reason", reason};
  AppendReceipt(to, std::span<const Header>(headers, n));
}

void Broker::StartReceiptTally(const FanoutJob& job, std::string_view receipt_to) {
  store::ReceiptTally tally;
  tally.msg_id = job.msg_id;
  tally.from = job.partition;
  tally.remaining = static_cast<uint32_t>(job.members->size());
  if (tally.remaining == 0) {
    // Nobody to wait for: the receipt goes at once.
    tally.remaining = 1;
    tallies_[job.msg_id] = TallyState{tally, 0};
    return CountTowardTally(job.msg_id, receipt_to, nullptr, /*member=*/false);
  }
  pipeline_.batch().log.In(tally.from).SetReceiptTally(tally);
  tallies_[job.msg_id] = TallyState{tally, pipeline_.batch_no()};
  tally_touches_.emplace_back(pipeline_.batch_no(), job.msg_id);
}

void Broker::CountTowardTally(MsgId msg_id, std::string_view receipt_to, const char* reason,
                              bool member) {
  auto it = tallies_.find(msg_id);
  if (it == tallies_.end()) {
    // Not touched since its last change committed: the store has it.
    Result<std::optional<store::ReceiptTally>> stored = store_->ReadReceiptTally(msg_id);
    if (!stored.ok() || !stored->has_value()) {
      spdlog::warn("message {}: no receipt tally to count in ({})", msg_id,
                   stored.ok() ? "settled already" : stored.status().ToString());
      return;
    }
    it = tallies_.emplace(msg_id, TallyState{**stored, 0}).first;
  }
  store::ReceiptTally& tally = it->second.tally;
  if (tally.remaining == 0) return;
  --tally.remaining;
  if (member) reason == nullptr ? ++tally.delivered : ++tally.failed;
  store::WriteBatch& batch = pipeline_.batch();
  batch.log.In(tally.from).SetReceiptTally(tally);  // remaining 0 removes it
  it->second.last_batch = batch.batch_no;
  tally_touches_.emplace_back(batch.batch_no, msg_id);
  pipeline_.NotePublish(0);
  if (tally.remaining != 0) return;

  const std::string id = std::to_string(msg_id);
  const std::string members = std::to_string(tally.delivered + tally.failed);
  const std::string delivered = std::to_string(tally.delivered);
  const std::string failed = std::to_string(tally.failed);
  const std::string time = std::to_string(Now());
  const Header headers[] = {
      {"kind", tally.failed == 0 ? "delivered" : "failed"},
      {"msg-id", id},
      {"members", members},
      {"delivered", delivered},
      {"failed", failed},
      {"time", time},
  };
  AppendReceipt(receipt_to, headers);
}

void Broker::SettleSkippedMember(const FanoutJob& job, Queue* q) {
  store::EnvelopeView envelope;
  if (!envelope.Parse(job.msg->envelope()) || envelope.header_count() == 0) return;
  std::string_view to;
  if (!envelope.FindHeader(store::kReceiptToHeader, &to)) return;
  std::string_view mode;
  if (envelope.FindHeader(store::kReceiptModeHeader, &mode) && mode == "all") {
    return CountTowardTally(job.msg_id, to, "rejected");
  }
  if (q == nullptr) return;  // the member queue is gone
  const std::string msg_id = std::to_string(job.msg_id);
  const std::string time = std::to_string(Now());
  const Header headers[] = {
      {"kind", "failed"}, {"msg-id", msg_id},     {"queue", q->name()},
      {"time", time},     {"reason", "rejected"},
  };
  AppendReceipt(to, headers);
}

void Broker::AppendReceipt(std::string_view to, std::span<const Header> headers) {
  Result<Queue*> found = queues_.Load(to);
  if (!found.ok()) {
    ++stats_.receipts_dropped;
    spdlog::warn("receipt to {} dropped: {}", to, found.status().ToString());
    return;
  }
  Queue* q = *found;
  store::NewEnvelope receipt;
  receipt.publish_ms = Now();
  receipt.headers = headers;
  size_t bytes = *receipt.Bytes();  // a handful of short headers
  // The receipt queue is an ordinary queue, limits included: a full one
  // drops the receipt rather than refuse the ack that made it.
  if (Status room = MakeRoom(q, bytes); !room.ok()) {
    ++stats_.receipts_dropped;
    spdlog::warn("receipt to {} dropped: {}", to, room.message());
    return;
  }
  AppendEntry(q, receipt, bytes);
  ++stats_.receipts;
  // Delivered at the end of this turn, not here: the caller may be walking
  // a consumer's deliveries of this very queue (an ack of a range).
  if (!q->consumers.empty()) receipt_queues_.push_back(q);
}

void Broker::DispatchReceipts() {
  std::vector<Queue*> queues = std::move(receipt_queues_);
  receipt_queues_.clear();
  std::sort(queues.begin(), queues.end());
  queues.erase(std::unique(queues.begin(), queues.end()), queues.end());
  // Each has an entry in the batch being filled, so none was evicted.
  for (Queue* q : queues) {
    if (!q->deleted) Dispatch(q);
  }
}

void Broker::ForgetCommittedTallies(BatchNo through) {
  while (!tally_touches_.empty() && tally_touches_.front().first <= through) {
    auto it = tallies_.find(tally_touches_.front().second);
    if (it != tallies_.end() && it->second.last_batch <= through) tallies_.erase(it);
    tally_touches_.pop_front();
  }
}

}  // namespace hermod::core
